"""Instagram publisher: prepared JPEG on public storage → container → status FINISHED → media_publish.

Instagram fetches the image itself ("we cURL media … hosted on a publicly accessible server",
developers.facebook.com/documentation/instagram-platform/content-publishing). It takes JPEG only, under 8 MB,
4:5 to 1.91:1, at most 1440 px wide; wlb pads a photo into that ratio, never crops the photographer's work.
Instagram has no idempotency key, so the container id is saved on the publication row before media_publish; a
rerun asks that container's status_code (PUBLISHED: it went out) and looks for the original's link in our own
recent captions before publishing again. content_publishing_limit is read before each post.
"""

from __future__ import annotations

import io
import math
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from PIL import Image, ImageOps

from core.errors import ConfigError, NotCreated, PlatformError
from core.http import Http
from core.images import decode, open_image
from core.public_media import PublicStorage, storage_for
from core.settings import ChannelSettings, Settings
from platforms.instagram import InstagramAPI, api_for
from publisher.base import PublishRequest, Published
from publisher.credit import Limits
from publisher.unpublish import ByHand

MAX_IMAGE_BYTES = 8_000_000  # "under 8 MB"; Instagram's error says 8 MiB, this stays below both
MAX_WIDTH = 1440
TALLEST, WIDEST = 4 / 5, 1.91  # width / height
PAD = (255, 255, 255)
JPEG_QUALITIES = (90, 85, 80, 75, 70, 60)
CAPTION_MAX = 2200
MAX_HASHTAGS = 30  # per caption
_HASHTAG = re.compile(r"(?<![\w#&])#\w+")
MAX_ITEMS = 10  # a carousel holds 2 to 10
CONTAINER = "container:"  # how a saved container id reads on the publication row
PROFILE = "https://www.instagram.com/"
CLOCK_SLACK = timedelta(minutes=10)  # our post dated this much before the plan is still ours (clocks differ)


def _within(width: int, height: int) -> tuple[int, int]:
    """The canvas size that holds width x height inside Instagram's ratios, adding only padding."""
    if width / height < TALLEST:
        return math.ceil(height * TALLEST), height
    if width / height > WIDEST:
        return width, math.ceil(width / WIDEST)
    return width, height


def fit_for_instagram(data: bytes) -> bytes:
    """A JPEG Instagram accepts: upright, no metadata, padded into 4:5…1.91:1, at most 1440 px wide, under 8 MB."""
    with open_image(data) as opened:  # the one way wlb decodes: accepted formats only
        decode(opened)
        img = ImageOps.exif_transpose(opened)
        if img.mode in ("RGBA", "LA", "P", "PA"):
            rgba = img.convert("RGBA")
            img = Image.new("RGB", rgba.size, PAD)
            img.paste(rgba, mask=rgba.getchannel("A"))
        img = img.convert("RGB")
    width, height = _within(*img.size)
    if (width, height) != img.size:
        canvas = Image.new("RGB", (width, height), PAD)
        canvas.paste(img, ((width - img.width) // 2, (height - img.height) // 2))
        img = canvas
    if img.width > MAX_WIDTH:
        height = round(img.height * MAX_WIDTH / img.width)
        # Rounding must not push the ratio back outside the limits the padding just met.
        height = min(max(height, math.ceil(MAX_WIDTH / WIDEST)), math.floor(MAX_WIDTH / TALLEST))
        img = img.resize((MAX_WIDTH, height), Image.Resampling.LANCZOS)
    for quality in JPEG_QUALITIES:
        out = io.BytesIO()
        img.save(out, "JPEG", quality=quality, optimize=True)  # no exif= given: nothing of the original's kept
        if out.tell() < MAX_IMAGE_BYTES:
            return out.getvalue()
    raise NotCreated(f"the photo stays over {MAX_IMAGE_BYTES:,} bytes as a JPEG even at quality {JPEG_QUALITIES[-1]}")


class InstagramPublisher:
    """Reposts to our own Instagram professional account."""

    network = "instagram"

    def __init__(self, api: InstagramAPI, storage: PublicStorage, *, sleep: Callable[[float], None] = time.sleep,
                 poll_every: float = 3.0, max_polls: int = 40):
        self.api = api
        self.storage = storage
        self.sleep = sleep
        self.poll_every = poll_every
        self.max_polls = max_polls

    def limits(self) -> Limits:
        # Instagram counts a caption's characters as written: links are not shortened, nor clickable.
        # fit_for_instagram brings each photo to Instagram's pixel size.
        return Limits(max_chars=CAPTION_MAX, max_media=MAX_ITEMS, length=len, max_image_bytes=MAX_IMAGE_BYTES)

    def publish(self, request: PublishRequest) -> Published:
        saved = _container(request.saved)
        if saved:
            status = self.api.container_status(saved)
            if status == "PUBLISHED":
                return self._published_by(saved, request)
            if status in ("FINISHED", "IN_PROGRESS"):
                return self._finish(saved, request)  # made before a crash: publish that one, not a new one
        if request.sensitive:
            # The Graph API has no content warning to set: the photo would show to everyone unhidden.
            raise NotCreated("marked sensitive, and an Instagram post cannot hide a photo behind a content warning; "
                             "approve it for other channels only (wlb approve ID --to CHANNEL)")
        self._check_quota()
        if not request.images:
            raise NotCreated("Instagram posts need a photo; this item has none left")
        names = [f"{request.idempotency_key}-{n}.jpg" for n in range(1, len(request.images[:MAX_ITEMS]) + 1)]
        urls = [self.storage.put(name, fit_for_instagram(image.data), "image/jpeg")
                for name, image in zip(names, request.images, strict=False)]
        if len(urls) == 1:
            alt = request.images[0].alt.strip()
            container = self.api.create_container(image_url=urls[0], caption=within_hashtag_limit(request.text),
                                                  **({"alt_text": alt[:1000]} if alt else {}))
        else:
            children = [self.api.create_container(image_url=url, is_carousel_item="true") for url in urls]
            for child in children:
                self._wait(child)
            container = self.api.create_container(media_type="CAROUSEL", children=",".join(children),
                                                  caption=within_hashtag_limit(request.text))
        if request.save:
            request.save(CONTAINER + container)  # committed before media_publish: a rerun never makes a second one
        return self._finish(container, request, names)

    def _finish(self, container: str, request: PublishRequest, names: list[str] | None = None) -> Published:
        self._wait(container)
        self._check_quota()
        media_id = self.api.publish_container(container)
        self._remove_copies(request, names)
        try:
            url = self.api.permalink(media_id) or PROFILE
        except PlatformError:
            url = PROFILE
        return Published(remote_id=media_id, url=url)

    def _remove_copies(self, request: PublishRequest, names: list[str] | None = None) -> None:
        """Published: the public copies go (all positions, when this run did not put them itself)."""
        for name in names or [f"{request.idempotency_key}-{n}.jpg" for n in range(1, MAX_ITEMS + 1)]:
            try:
                self.storage.remove(name)
            except PlatformError:
                pass  # the post is out; a copy left behind is harmless and its name is unguessable

    def _wait(self, container: str) -> None:
        """Poll status_code until FINISHED; ERROR or EXPIRED is one line, still processing is tried next run."""
        for poll in range(self.max_polls):
            status = self.api.container_status(container)
            if status in ("FINISHED", "PUBLISHED"):
                return
            if status in ("ERROR", "EXPIRED"):
                why = "could not process the photo" if status == "ERROR" else "let it expire (24 h unpublished)"
                raise NotCreated(f"Instagram {why} (container {container}, status {status}); it is made anew "
                                 f"next run")
            if poll + 1 < self.max_polls:
                self.sleep(self.poll_every)
        raise PlatformError(f"Instagram is still processing container {container} after "
                            f"{self.max_polls * self.poll_every:.0f} s; the next run publishes it")

    def _check_quota(self) -> None:
        usage, total = self.api.publishing_limit()
        if total is not None and usage >= total:
            raise NotCreated(f"Instagram's publishing limit is used up ({usage} of {total} posts in the last 24 h); "
                             f"the rest waits for a later run")

    def find_existing(self, request: PublishRequest) -> Published | None:
        """After a crash: our saved container, if Instagram published it, else our recent post linking the original."""
        saved = _container(request.saved)
        if saved and self.api.container_status(saved) == "PUBLISHED":
            return self._published_by(saved, request)
        found = self._in_our_media(request)
        if found:
            self._remove_copies(request)
        return found

    def _published_by(self, container: str, request: PublishRequest) -> Published:
        """The container went out: our post is the one whose caption links the original (or we say where to look)."""
        self._remove_copies(request)
        found = self._in_our_media(request)
        return found or Published(remote_id=CONTAINER + container, url=PROFILE)

    def _in_our_media(self, request: PublishRequest) -> Published | None:
        """Our post linking the original exactly (not a longer URL it starts), made since this attempt was planned
        (not an earlier repost of the same original, republish_months)."""
        if not request.original_url:
            return None
        links = re.compile(re.escape(request.original_url) + r"(?![\w/?#&=%~+-])")
        planned = request.planned_at
        since = (planned if planned.tzinfo else planned.replace(tzinfo=UTC)) - CLOCK_SLACK if planned else None
        for media in self.api.own_media(limit=50):
            caption = media.get("caption") if isinstance(media.get("caption"), str) else ""
            made = _time(media.get("timestamp"))
            if since and made and made < since:
                continue
            if links.search(caption) and str(media.get("id") or "").isdigit():
                link = media.get("permalink")
                return Published(remote_id=str(media["id"]), url=link if isinstance(link, str) else PROFILE)
        return None

    def unpublish(self, remote_id: str) -> bool:
        """The Instagram Graph API has no delete for published media (ig-media reference: GET and POST only; only
        comments can be deleted): say so, with where to do it, and never pretend it is gone."""
        raise ByHand("the Instagram API cannot delete a published post: delete it by hand in the Instagram app")


def within_hashtag_limit(text: str) -> str:
    """Instagram refuses a caption with more than 30 hashtags: the first ones beyond that become plain words,
    so the template's own tags at the end, and the credit, stay."""
    tags = list(_HASHTAG.finditer(text))
    for match in reversed(tags[:max(0, len(tags) - MAX_HASHTAGS)]):
        text = text[:match.start()] + text[match.start() + 1:]
    return text


def _time(value: object) -> datetime | None:
    """Graph timestamps read "2026-04-06T17:50:09+0000"."""
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def _container(saved: str | None) -> str | None:
    if saved and saved.startswith(CONTAINER) and saved[len(CONTAINER):].isdigit():
        return saved[len(CONTAINER):]
    return None


def build(channel: ChannelSettings, settings: Settings, http: Http) -> InstagramPublisher:
    """The publisher for a `kind = "instagram"` channel with publish = true and its public storage."""
    storage = storage_for(channel, settings.root)
    if storage is None:
        raise ConfigError("an instagram channel that publishes needs public storage: public_media_dir + "
                          "public_media_base_url, or s3_bucket")
    return InstagramPublisher(api_for(channel, http), storage)

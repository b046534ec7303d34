"""Facebook Page publisher: one photo with POST /{page-id}/photos, several as unpublished photos on one feed post.

Never twice without an idempotency key: the publication row is committed before the call (publisher/run.py),
the posting call is never resent by the HTTP layer, and after a crash or a lost answer find_existing looks
for our post among the Page's own posts (its text holds the link to the original) before anything is retried.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from core.errors import NotCreated, PlatformError
from core.http import Http
from core.settings import ChannelSettings, Settings
from platforms.facebook import DuplicatePost, FacebookAPI, api_for, post_url
from publisher.base import PublishRequest, Published
from publisher.credit import Limits

# Post text: 63,206 characters, the long-standing limit quoted by every third-party counter (Meta documents
# none). Counted in UTF-16 units, never fewer than characters, so a text we accept is not cut.
MAX_CHARS = 63_206
# Ten photos per post: the most attached_media entries reported working (and letmepost's documented maximum).
MAX_MEDIA = 10
# The Photo reference allows under 10 MB; letmepost reports 4 MB per image, and Facebook resizes photos to at
# most 2,048 px on the long side anyway (Facebook Help Center), so a few megapixels lose nothing.
MAX_IMAGE_BYTES = 4_000_000
MAX_IMAGE_PIXELS = 2048 * 2048
# A post dated this much before the publication row was written is not ours (clocks differ a little).
CLOCK_SLACK = timedelta(minutes=10)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class FacebookPublisher:
    """Reposts to the community's Facebook Page."""

    network = "facebook"

    def __init__(self, api: FacebookAPI):
        self.api = api

    def limits(self) -> Limits:
        """Facebook's fixed limits: it publishes none to ask."""
        return Limits(max_chars=MAX_CHARS, max_media=MAX_MEDIA, length=utf16_length, max_image_bytes=MAX_IMAGE_BYTES,
                      max_image_pixels=MAX_IMAGE_PIXELS)

    def publish(self, request: PublishRequest) -> Published:
        if request.sensitive:
            # A Page post has no content warning: the photo would show to everyone unhidden.
            raise NotCreated("marked sensitive, and a Facebook Page post cannot hide a photo behind a content "
                             "warning; approve it for other channels only (wlb approve ID --to CHANNEL)")
        try:
            if len(request.images) == 1:
                (image,) = request.images
                post_id = self.api.post_photo(image.data, image.mime, image.alt, request.text)
            else:
                photos = [self.api.upload_unpublished(i.data, i.mime, i.alt) for i in request.images]
                post_id = self.api.post_feed(request.text, photos)
        except DuplicatePost as refused:
            # The same text as the Page's last post: most likely ours, made by an attempt whose answer was lost.
            found = self.find_existing(request)
            if found is None:
                raise PlatformError(f"{refused}, but no post of ours links {request.original_url}; check the Page "
                                    f"by hand") from None
            return found
        return Published(remote_id=post_id, url=post_url(post_id))

    def find_existing(self, request: PublishRequest) -> Published | None:
        """Our post for this request among the Page's recent posts: it links the original and is not older than the plan."""
        if not request.original_url:  # erased by `wlb forget`: an empty link matches every message
            return None
        planned = request.planned_at
        since = (planned if planned.tzinfo else planned.replace(tzinfo=UTC)) - CLOCK_SLACK if planned else None
        links = re.compile(re.escape(request.original_url) + r"(?![\w/?#&=%~+-])")  # not a longer URL it starts
        for post in self.api.own_posts(since=since):
            created = _time(post.get("created_time"))
            if since and created and created < since:
                continue  # an earlier repost of the same original (republish_months), not this attempt's;
                # Graph applies `since` itself, this holds if a server does not
            message = post.get("message") if isinstance(post.get("message"), str) else ""
            post_id = str(post.get("id") or "")
            if post_id and links.search(message):
                return Published(remote_id=post_id, url=_permalink(post.get("permalink_url")) or post_url(post_id))
        return None

    def unpublish(self, remote_id: str) -> bool:
        """Delete our Page post; False if it was already gone."""
        return self.api.delete_post(remote_id)


def _time(value: object) -> datetime | None:
    """Graph datetimes read "2026-04-06T17:50:09+0000"."""
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def _permalink(value: object) -> str | None:
    return value if isinstance(value, str) and value.startswith("https://www.facebook.com/") and len(value) < 500 else None


def build(channel: ChannelSettings, settings: Settings, http: Http) -> FacebookPublisher:
    """The publisher for a `kind = "facebook"` channel: the Page access token in token_env."""
    return FacebookPublisher(api_for(channel, http))

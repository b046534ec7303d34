"""Instagram: media photo-tagging our account (credited) and a hashtag's recent media (credit from a reviewer).

`/{hashtag-id}/recent_media` returns only media "published within 24 hours of query execution", "not always in
chronological order", and never the `username` (developers.facebook.com/documentation/instagram-platform/
instagram-graph-api/reference/ig-hashtag/recent-media). So every run reads the whole window, keeps what it has
not seen (by media id: an old one says nothing about the next), and queues each as "needs credit": a reviewer
opens the permalink and approves with --credit. `/{ig-user-id}/tags` (media where our account is photo-tagged)
carries `username`; those are read first, so a photo found both ways is stored with its author.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

from core import watermark

from core.errors import ConfigError, PlatformError
from core.http import Http
from core.posts import (AuthorData, MediaData, OriginCheck, OriginClaim, Page, PostData, normalize_tag, page_of,
                        parse_each)
from core.settings import ChannelSettings, Settings
from platforms.instagram import GraphError, HashtagLedger, InstagramAPI, api_for, ledger_for

_DIGEST = 6  # characters of a media id's digest: the seen set only saves work, the database knows every key
MAX_SEEN = 500  # a day of #welovebrussels is a few dozen; 500 digests stay well inside core.bounds.WATERMARK_MAX
MAX_TAGGED_SEEN = 100
MAX_CURSOR = 512  # a longer `after` cursor is not kept: the next run reads the window from its start
VERIFY_PAGES = 2  # pages of our tags edge searched for a tagged photo before reposting it
UNCREDITED = "uncredited:instagram"  # uid of the placeholder author of hashtag results
_USERNAME = re.compile(r"[A-Za-z0-9._]{1,30}")  # Instagram usernames: letters, digits, periods, underscores
_PERMALINK = re.compile(r"https://(www\.)?instagram\.com/[A-Za-z0-9_./-]{1,200}")


def digest(media_id: str) -> str:
    return base64.b32encode(hashlib.sha256(media_id.encode()).digest()).decode()[:_DIGEST].lower()


class Mark(NamedTuple):
    """The stored watermark: digests of media recently seen (hashtag and tagged), and where an unfinished read resumes."""

    seen: tuple[str, ...] = ()
    after: str | None = None
    tagged: tuple[str, ...] = ()

    def encode(self) -> str | None:
        after = self.after if self.after and len(self.after) <= MAX_CURSOR else None
        return watermark.encode(Mark(self.seen[-MAX_SEEN:], after, self.tagged[-MAX_TAGGED_SEEN:]))

    @classmethod
    def decode(cls, value: str | None) -> Mark:
        return watermark.decode(cls, value)

    def add(self, field: str, ids: list[str]) -> Mark:
        old = getattr(self, field)
        new = tuple(d for d in dict.fromkeys(digest(i) for i in ids) if d not in old)
        return self._replace(**{field: old + new})


def _media_id(record: dict) -> str:
    value = str(record.get("id") or "")
    if not value.isdigit() or len(value) > 32:
        raise ValueError("no media id")
    return value


def _image(url: Any) -> MediaData | None:
    ok = isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) <= 2048
    return MediaData(url=url) if ok else None


def _images(record: dict) -> tuple[list[MediaData], int]:
    """The photos of a media object (a carousel's image children), and how many videos were left out."""
    kind = str(record.get("media_type") or "").upper()
    if kind == "CAROUSEL_ALBUM":
        children = record.get("children")
        children = children.get("data") if isinstance(children, dict) else None
        items = [c for c in children if isinstance(c, dict)] if isinstance(children, list) else []
        images = [m for c in items if str(c.get("media_type") or "").upper() == "IMAGE"
                  and (m := _image(c.get("media_url")))]
        return images, sum(str(c.get("media_type") or "").upper() == "VIDEO" for c in items)
    if kind == "IMAGE":
        image = _image(record.get("media_url"))
        return ([image] if image else []), 0
    return [], int(kind in ("VIDEO", "REELS"))


def uncredited() -> AuthorData:
    """Who a hashtag result is by, as far as wlb can tell: nobody yet (a reviewer supplies the credit)."""
    return AuthorData(handle="", name="", profile_url="https://www.instagram.com/", network="instagram",
                      uid=UNCREDITED, authoritative=False)


def author_of(username: Any) -> AuthorData:
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise ValueError("no valid username")
    return AuthorData(handle=username, name=username, profile_url=f"https://www.instagram.com/{username}/",
                      network="instagram")


def parse_media(record: dict, *, tagged: bool = False) -> tuple[PostData | None, str | None]:
    """A media object → (post, None) or (None, why skipped); tagged media carry their author's username."""
    media_id = _media_id(record)
    permalink = record.get("permalink")
    if not isinstance(permalink, str) or not _PERMALINK.fullmatch(permalink):
        return None, "malformed (no permalink)"
    try:
        created = datetime.fromisoformat(str(record.get("timestamp")))
    except ValueError:
        return None, "malformed (no timestamp)"
    created = created if created.tzinfo else created.replace(tzinfo=UTC)
    images, videos = _images(record)
    if not images:
        return None, "video (wlb reposts photos)" if videos else "no image (Instagram sent no media_url)"
    caption = record.get("caption") if isinstance(record.get("caption"), str) else ""
    author = author_of(record.get("username")) if tagged else uncredited()
    post = PostData(key=f"instagram:{media_id}", remote_id=media_id, url=permalink, author=author, created_at=created,
                    text=caption, media=tuple(images), needs_credit=not tagged,
                    flags=(f"{videos} video(s) of this carousel left out",) if videos else ())
    return post, None


class InstagramCollector:
    """Our tagged media (with the first hashtag), then each hashtag's last 24 hours."""

    def __init__(self, api: InstagramAPI, ledger: HashtagLedger, *, first_tag: str, backfill_pages: int = 5):
        self.api = api
        self.ledger = ledger
        self.first_tag = first_tag
        self.backfill_pages = backfill_pages

    def pages(self, hashtag: str, stored: str | None) -> Iterator[Page]:
        mark = Mark.decode(stored)
        if hashtag == self.first_tag:  # the tags edge is one per account: read it once a run
            mark = yield from self._tagged(mark, first=stored is None)
        yield from self._hashtag(hashtag, mark)

    def _tagged(self, mark: Mark, *, first: bool) -> Iterator[Page]:
        """Newest-first pages of /tags until one holds nothing new (a first run: up to backfill_pages)."""
        after, count = None, 0
        while True:
            media, after = self.api.tagged_media(after)
            count += 1
            fresh = [m for m in media if digest(str(m.get("id"))) not in mark.tagged]
            mark = mark.add("tagged", [str(m.get("id")) for m in media])
            yield page_of(parse_each(fresh, lambda r: parse_media(r, tagged=True)), watermark=mark.encode(),
                          fetched=len(media))
            if after is None or not fresh or (not first and len(fresh) < len(media)) or count >= self.backfill_pages:
                return mark

    def _hashtag(self, tag: str, mark: Mark) -> Iterator[Page]:
        """Every page of the 24-hour window: resume an unfinished read, then start from the top once more."""
        hashtag_id = self.ledger.use(tag, self.api.hashtag_id)
        after, resumed = mark.after, mark.after is not None
        while True:
            try:
                media, after = self.api.recent_media(hashtag_id, after)
            except GraphError:
                if not resumed:
                    raise
                after, resumed = None, False  # a stale cursor: read the window from its start
                continue
            fresh = [m for m in media if digest(str(m.get("id"))) not in mark.seen]
            mark = mark.add("seen", [str(m.get("id")) for m in media])._replace(after=after)
            yield page_of(parse_each(fresh, parse_media), watermark=mark.encode(), fetched=len(media))
            if after is None:
                if not resumed:
                    return
                resumed = False  # the resumed read is done; what arrived meanwhile is at the top

    def verify(self, claim: OriginClaim) -> OriginCheck:
        """Instagram lets no one read another account's media by id: see the docstring of `_check_tagged`."""
        if claim.key != f"instagram:{claim.remote_id}" or not claim.remote_id.isdigit():
            return OriginCheck(problem="the stored key is not an Instagram media id")
        if claim.author_uid == UNCREDITED:
            # Nobody but the reviewer, who opened the permalink, can name the photographer: their credit vouches.
            return OriginCheck(verified=bool(claim.reviewer_credit))
        return self._check_tagged(claim)

    def _check_tagged(self, claim: OriginClaim) -> OriginCheck:
        """A tagged photo's credit came from Instagram's own answer. GET /{media-id} works only for our own media,
        and the permalink is a login-walled web page, so the one place to ask again is our tags edge: found
        there, its username must match and its image is compared; not found (untagged, deleted, or older than
        a few pages), the credit stands as Instagram gave it, which is what a community manager expects."""
        after = None
        for _ in range(VERIFY_PAGES):
            try:
                media, after = self.api.tagged_media(after)
            except PlatformError:
                return OriginCheck(verified=False)  # unavailable, rate-limited: ask again next run
            for record in media:
                if str(record.get("id")) != claim.remote_id:
                    continue
                username = record.get("username")
                if isinstance(username, str) and username.lower() != claim.author_handle.lower().lstrip("@"):
                    return OriginCheck(problem=f"Instagram now says media {claim.remote_id} is by @{username}, "
                                               f"not @{claim.author_handle}")
                images, _ = _images(record)
                return OriginCheck(verified=True, image_urls=tuple(m.url for m in images))
            if after is None:
                break
        return OriginCheck(verified=True)


def build(channel: ChannelSettings, settings: Settings, http: Http) -> InstagramCollector:
    """The collector for a `kind = "instagram"` channel: the account's token in the variable token_env names."""
    if not channel.token():
        raise ConfigError(f"an instagram channel needs a long-lived token: set token_env and export "
                          f"${channel.token_env or 'WLB_INSTAGRAM_TOKEN'} (README: Instagram)")
    tags = channel.hashtags or settings.hashtags
    return InstagramCollector(api_for(channel, http), ledger_for(channel, settings),
                              first_tag=normalize_tag(tags[0]), backfill_pages=settings.collect.backfill_pages)

"""Mastodon hashtag collector: tag timeline pages (followed by their Link headers) → normalized posts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import NamedTuple, TypeVar
from urllib.parse import urlsplit

from core import watermark
from core.posts import OriginCheck, OriginClaim
from platforms.mastodon import MastodonAPI, api_for, link_cursor
from collector.mastodon_status import netloc, parse_status
from core.errors import NotFound, PlatformError
from core.http import Http
from core.settings import ChannelSettings, Settings
from core.posts import Page, page_of, parse_each

# Where a status's ActivityPub uri says it lives, and the id its home instance's API knows it by:
# Mastodon ActivityPub::TagManager#uri_for: https://WEB_DOMAIN/users/NAME/statuses/ID;
# Pixelfed Status::url()/permalink(): https://APP_URL/p/USERNAME/ID (app/Status.php).
_ORIGIN_SHAPES = (re.compile(r"/users/[^/]+/statuses/(\d{1,32})"), re.compile(r"/p/[^/]+/(\d{1,32})"))


def _id_key(status_id: str) -> tuple[int, int | str]:
    """Order ids numerically when they are numbers (Mastodon snowflakes), else as text (sortable flake ids)."""
    return (0, int(status_id)) if status_id.isdigit() else (1, status_id)


def newest_id(ids: list[str]) -> str:
    return max(ids, key=_id_key)


def oldest_id(ids: list[str]) -> str:
    return min(ids, key=_id_key)


def _sid(status: object) -> str | None:
    """A record's id if it has a usable one, whatever else is wrong with it (a bad record still moves the cursor)."""
    if isinstance(status, dict) and type(status.get("id")) in (str, int) and 0 < len(str(status["id"])) <= 64:
        return str(status["id"])
    return None


def status_ids(statuses: list) -> list[str]:
    """The ids a page carries."""
    return [i for i in map(_sid, statuses) if i is not None]


def keep(statuses: list, ids: list[str]) -> list:
    """The records with these ids, and those without a usable id (to be counted as malformed, not lost unseen)."""
    wanted = set(ids)
    return [s for s in statuses if _sid(s) is None or _sid(s) in wanted]


M = TypeVar("M", bound=tuple)  # Mastodon's Mark or Pixelfed's Walk


class Mark(NamedTuple):
    """The stored watermark: the newest id committed, and where an unfinished backfill continues."""

    newest: str | None = None
    older_than: str | None = None
    pages_left: int = 0

    def encode(self) -> str | None:
        return watermark.encode(self)

    @classmethod
    def decode(cls, value: str | None) -> Mark:
        return watermark.decode(cls, value, legacy=lambda old: unversioned(cls, old))


def unversioned(cls: type[M], value: str) -> M:
    """A mark stored before the versioned encoding: the same fields as JSON, or (older still) the bare newest id."""
    try:
        data = json.loads(value)
    except ValueError:
        return cls(value)
    return watermark.from_fields(cls, data) if isinstance(data, dict) else cls(value)


class MastodonCollector:
    """Pages GET /api/v1/timelines/tag/:tag: forward with min_id to the watermark, backward with max_id on a first run.

    A short page is not the end: instances cap `limit` (some at 20) and drop rows after taking it. The Link
    header says whether there is more (mastodon/documentation content/en/api/guidelines.md, "Paginating with the
    Link header"; app/controllers/api/v1/timelines/tag_controller.rb sends none once the page is empty).
    """

    def __init__(self, api: MastodonAPI, *, page_size: int = 40, backfill_pages: int = 5):
        self.api = api
        self.page_size = page_size
        self.backfill_pages = backfill_pages
        self._domain: str | None = None

    @property
    def domain(self) -> str:
        """The serving instance's own domain, asked once per collector."""
        if self._domain is None:
            self._domain = self.api.domain()
        return self._domain

    def _page(self, statuses: list, watermark: str | None, fetched: int | None = None) -> Page:
        domain, web = self.domain, self.api.netloc
        parsed = parse_each(statuses, lambda s: parse_status(s, domain, web))
        return page_of(parsed, watermark=watermark, fetched=len(statuses) if fetched is None else fetched)

    def pages(self, hashtag: str, watermark: str | None) -> Iterator[Page]:
        mark = Mark.decode(watermark)
        if mark.newest is None:
            yield from self._first(hashtag)
            return
        mark = yield from self._forward(hashtag, mark)
        yield from self._backfill(hashtag, mark)

    def _first(self, hashtag: str) -> Iterator[Page]:
        """First run: the newest page, then (resumably) older pages up to backfill_pages."""
        statuses, links = self.api.tag_timeline(hashtag, limit=self.page_size)
        ids = status_ids(statuses)
        if not ids:
            return
        older = self._next(links, ids, None) if self.backfill_pages > 1 else None
        mark = Mark(newest_id(ids), older, self.backfill_pages - 1)
        yield self._page(statuses, mark.encode())
        yield from self._backfill(hashtag, mark)

    def _next(self, links: dict[str, str], ids: list[str], before: str | None) -> str | None:
        """Where backfill continues: the rel="next" link's max_id, never past the page's own oldest id (no gap)."""
        cursor = link_cursor(links, "next", "max_id")
        if cursor is None or not ids:
            return None
        oldest = oldest_id(ids)
        cursor = cursor if _id_key(cursor) >= _id_key(oldest) else oldest
        return cursor if before is None or _id_key(cursor) < _id_key(before) else None

    def _forward(self, hashtag: str, mark: Mark) -> Iterator[Page]:
        """min_id paging: each page is the statuses immediately newer than the last, so progress is saved per page."""
        while True:
            statuses, links = self.api.tag_timeline(hashtag, limit=self.page_size, min_id=mark.newest)
            newer = [i for i in status_ids(statuses) if _id_key(i) > _id_key(mark.newest)]
            if not newer:
                if statuses:  # a server that ignores min_id answers the newest page again: nothing is new
                    yield self._page([], None, len(statuses))
                return mark
            mark = mark._replace(newest=newest_id(newer))
            yield self._page(keep(statuses, newer), mark.encode(), len(statuses))
            # rel="prev" says there may be newer ones; the next request starts from what was saved, so an
            # interrupted run resumes exactly there.
            if link_cursor(links, "prev", "min_id") is None:
                return mark

    def _backfill(self, hashtag: str, mark: Mark) -> Iterator[Page]:
        """max_id paging into the past; the mark remembers where to continue if the run is interrupted."""
        while mark.older_than and mark.pages_left > 0:
            statuses, links = self.api.tag_timeline(hashtag, limit=self.page_size, max_id=mark.older_than)
            ids = [i for i in status_ids(statuses) if _id_key(i) < _id_key(mark.older_than)]
            older = self._next(links, ids, mark.older_than) if mark.pages_left > 1 else None
            mark = mark._replace(older_than=older, pages_left=mark.pages_left - 1)
            yield self._page(keep(statuses, ids), mark.encode(), len(statuses))

    def verify(self, claim: OriginClaim) -> OriginCheck:
        """Ask the post's origin (the uri's host: the author's home instance) for the canonical status."""
        origin = _origin(claim.key)
        if origin is None:  # a uri shape we do not know: the origin cannot be asked
            return self._channel_copy(claim)
        base, status_id = origin
        try:
            here = netloc(base) in (self.api.netloc, self.domain)
        except PlatformError:  # the channel cannot say its domain right now: only its API host is surely it
            here = netloc(base) == self.api.netloc
        # Another instance gets no token of ours: it is asked anonymously, through the same guarded client.
        api = self.api if here else MastodonAPI(self.api.http, base, None)
        try:
            status = api.status(status_id)
        except NotFound:
            return OriginCheck(deleted=True)
        except PlatformError:  # unreachable, refused (Pixelfed wants a token), blocked by the SSRF guard
            return OriginCheck() if here else self._channel_copy(claim)
        return compare(claim, status, netloc(base))

    def _channel_copy(self, claim: OriginClaim) -> OriginCheck:
        """Not verified; but if even the channel that served it has lost it, it is gone."""
        try:
            return OriginCheck(deleted=not self.exists(claim.remote_id))
        except PlatformError:
            return OriginCheck()

    def exists(self, remote_id: str) -> bool:
        try:
            self.api.status(remote_id)
        except NotFound:
            return False
        return True


def _origin(uri: str) -> tuple[str, str] | None:
    """(the uri's scheme://host[:port], the status id there), for the uri shapes Mastodon and Pixelfed mint."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    for shape in _ORIGIN_SHAPES:
        found = shape.fullmatch(parts.path)
        if found:
            return f"{parts.scheme}://{parts.netloc}", found.group(1)
    return None


def compare(claim: OriginClaim, status: object, origin: str) -> OriginCheck:
    """What the origin says against what we stored: same post, same author, still public; its images."""
    if not isinstance(status, dict):
        return OriginCheck()
    account = status.get("account") if isinstance(status.get("account"), dict) else {}
    acct = account.get("acct") if isinstance(account.get("acct"), str) else ""
    user, _, home = acct.lstrip("@").lower().partition("@")
    claimed_user = claim.author_handle.lower().lstrip("@").partition("@")[0]
    if status.get("uri") != claim.key:
        return OriginCheck(problem=f"{origin} serves this id as another post ({str(status.get('uri'))[:200]})")
    if user != claimed_user or (home and not claim.author_handle.lower().endswith("@" + home)):
        return OriginCheck(problem=f"{origin} says the author is {acct[:100]!r}, not {claim.author_handle!r}")
    if status.get("visibility") != "public":
        return OriginCheck(problem=f"{origin} says the post is not public")
    url = status.get("url")
    if claim.url not in (claim.key, url):
        return OriginCheck(problem=f"{origin} links the post elsewhere than we stored")
    images = []
    for media in status.get("media_attachments") if isinstance(status.get("media_attachments"), list) else []:
        if isinstance(media, dict) and media.get("type") in ("image", "unknown"):
            found = media.get("url") or media.get("remote_url")
            if isinstance(found, str):
                images.append(found)
    if not images:  # a forger can attach its own photo to the uri of someone's text-only post
        return OriginCheck(problem=f"{origin} says the post has no image")
    return OriginCheck(verified=True, image_urls=tuple(images))


def build(channel: ChannelSettings, settings: Settings, http: Http) -> MastodonCollector:
    """The collector for a `kind = "mastodon"` channel (the token in token_env, if any, is sent)."""
    return MastodonCollector(api_for(channel, http), page_size=settings.collect.page_size,
                 backfill_pages=settings.collect.backfill_pages)

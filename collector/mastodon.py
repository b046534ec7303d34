"""Mastodon and Pixelfed hashtag collectors: tag timeline pages → normalized posts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import NamedTuple
from urllib.parse import urlsplit

from collector.html import html_to_text
from collector.mastodon_api import MastodonAPI
from collector.base import OriginCheck, OriginClaim
from core.errors import NotFound, PlatformError
from core.posts import AuthorData, MediaData, Page, PostData, page_of


def _id_key(status_id: str) -> tuple[int, int | str]:
    """Order ids numerically when they are numbers (Mastodon snowflakes), else as text."""
    return (0, int(status_id)) if status_id.isdigit() else (1, status_id)


def newest_id(ids: list[str]) -> str:
    return max(ids, key=_id_key)


def parse_status(status: dict, host: str) -> tuple[PostData | None, str | None]:
    """A Status → (post, None), or (None, why it was skipped). Strict on identity, lenient on decoration."""
    original = status.get("reblog") or status
    try:
        account = original["account"]
        acct = account["acct"]
        # A local account's acct has no domain: take the one its profile lives on (what people see).
        home = urlsplit(account.get("url") or "").hostname or host
        handle = acct if "@" in acct.lstrip("@") else f"{acct}@{home}"
        author = AuthorData(handle=handle.lower().lstrip("@"), name=account.get("display_name") or account.get("username") or acct,
                            profile_url=account["url"])
        created = datetime.fromisoformat(original["created_at"].replace("Z", "+00:00"))
        post_id, url, uri = str(original["id"]), original.get("url") or original["uri"], original["uri"]
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise PlatformError(f"{host} sent a status without {exc}; the instance may not be Mastodon-compatible") from None
    media = []
    for attachment in original.get("media_attachments") or []:
        if not isinstance(attachment, dict) or not attachment.get("url"):
            continue
        size = ((attachment.get("meta") or {}).get("original")) or {}
        media.append(MediaData(url=attachment["url"], kind=attachment.get("type") or "unknown",
                               remote_url=attachment.get("remote_url"), alt_text=attachment.get("description"),
                               width=size.get("width"), height=size.get("height")))
    if not media:
        return None, "no media"
    if not any(m.kind == "image" for m in media):
        return None, "video only" if any(m.kind in ("video", "gifv") for m in media) else "no image"
    post = PostData(
        key=uri, remote_id=post_id, url=url, author=author, created_at=created,
        text=html_to_text(original.get("content") or ""),
        language=original.get("language"), sensitive=bool(original.get("sensitive")),
        spoiler_text=original.get("spoiler_text") or "",
        tags=tuple((t.get("name") or "").lower() for t in original.get("tags") or [] if isinstance(t, dict)),
        media=tuple(m for m in media if m.kind == "image"),
    )
    return post, None


def _page(statuses: list[dict], host: str, watermark: str | None) -> Page:
    return page_of((parse_status(s, host) for s in statuses), watermark=watermark, fetched=len(statuses))


class Mark(NamedTuple):
    """The stored watermark: the newest id committed, and where an unfinished backfill continues."""

    newest: str | None
    older_than: str | None = None
    pages_left: int = 0

    def encode(self) -> str:
        return json.dumps(self._asdict(), separators=(",", ":"))

    @classmethod
    def decode(cls, value: str | None) -> Mark:
        if not value:
            return cls(None)
        try:
            data = json.loads(value)
            return cls(str(data["newest"]), data.get("older_than"), int(data.get("pages_left") or 0))
        except (ValueError, KeyError, TypeError):
            return cls(value)  # a bare id, as older versions stored


class MastodonCollector:
    """Pages GET /api/v1/timelines/tag/:tag, newest first, stopping at the stored watermark."""

    def __init__(self, api: MastodonAPI, *, page_size: int = 40, backfill_pages: int = 5,
                 watermark_ttl: timedelta | None = None):
        self.api = api
        self.page_size = page_size
        self.backfill_pages = backfill_pages
        self.watermark_ttl = watermark_ttl

    def pages(self, hashtag: str, watermark: str | None) -> Iterator[Page]:
        mark = Mark.decode(watermark)
        if mark.newest is None:
            yield from self._first(hashtag)
            return
        mark = yield from self._forward(hashtag, mark)
        yield from self._backfill(hashtag, mark)

    def _ids(self, statuses: list[dict]) -> list[str]:
        return [str(s.get("id")) for s in statuses if isinstance(s, dict) and s.get("id") is not None]

    def _first(self, hashtag: str) -> Iterator[Page]:
        """First run: the newest page, then (resumably) older pages up to backfill_pages."""
        statuses, _ = self.api.tag_timeline(hashtag, limit=self.page_size)
        ids = self._ids(statuses)
        if not ids:
            return
        more = len(statuses) >= self.page_size and self.backfill_pages > 1
        mark = Mark(newest_id(ids), min(ids, key=_id_key) if more else None, self.backfill_pages - 1)
        yield _page(statuses, self.api.host, mark.encode())
        yield from self._backfill(hashtag, mark)

    def _forward(self, hashtag: str, mark: Mark) -> Iterator[Page]:
        """min_id paging: each page is the statuses immediately newer than the last, so progress is saved per page."""
        while True:
            statuses, _ = self.api.tag_timeline(hashtag, limit=self.page_size, min_id=mark.newest)
            newer = [i for i in self._ids(statuses) if _id_key(i) > _id_key(mark.newest)]
            if not newer:
                if statuses:  # a server that ignores min_id answers the newest page again: nothing is new
                    yield _page([], self.api.host, None)
                return mark
            mark = mark._replace(newest=newest_id(newer))
            yield _page([s for s in statuses if str(s.get("id")) in set(newer)], self.api.host, mark.encode())
            if len(statuses) < self.page_size:
                return mark

    def _backfill(self, hashtag: str, mark: Mark) -> Iterator[Page]:
        """max_id paging into the past; the mark remembers where to continue if the run is interrupted."""
        while mark.older_than and mark.pages_left > 0:
            statuses, _ = self.api.tag_timeline(hashtag, limit=self.page_size, max_id=mark.older_than)
            ids = [i for i in self._ids(statuses) if _id_key(i) < _id_key(mark.older_than)]
            done = len(statuses) < self.page_size or not ids or mark.pages_left <= 1
            mark = mark._replace(older_than=None if done else min(ids, key=_id_key), pages_left=mark.pages_left - 1)
            yield _page([s for s in statuses if str(s.get("id")) in set(ids)], self.api.host, mark.encode())

    def verify(self, claim: OriginClaim) -> OriginCheck:
        """Until the origin is asked directly: deleted or not, as the channel that served it says."""
        return OriginCheck(deleted=not self.exists(claim.remote_id))

    def exists(self, remote_id: str) -> bool:
        try:
            self.api.status(remote_id)
        except NotFound:
            return False
        return True


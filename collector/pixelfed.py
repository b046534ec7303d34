"""Pixelfed hashtag collector: the newest page, then back with max_id down to the watermark.

Pixelfed's tag timeline is not Mastodon's (pixelfed/pixelfed app/Http/Controllers/Api/ApiV1Controller.php,
timelineHashtag, read at 8aae92d7): `min_id` selects `status_id > min_id` NEWEST first, takes 100 rows, filters
them (only_media, visibility, blocks), then takes `limit`. So `min_id` answers the newest page above the id, not
the page just above it, and pages are short after filtering. It sends no Link header, and answers [] to a
min_id/max_id snowflake older than six months.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from collector.mastodon import MastodonCollector, _id_key, keep, newest_id, oldest_id, status_ids, unversioned
from platforms.pixelfed import MastodonAPI, api_for, pixelfed_id_time
from core import watermark
from core.http import Http
from core.settings import ChannelSettings, Settings
from core.posts import Page

# Sent so that text-only rows are not filtered out server-side: 100 filtered rows in a row give [] and would end
# the walk early. We skip posts without images ourselves.
_PARAMS = {"only_media": "false"}


def months_before(moment: datetime, months: int) -> datetime:
    """The same day `months` calendar months earlier, clamped to the month's end (Carbon's subMonths)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    month += 1
    days = (datetime(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, days))


class Walk(NamedTuple):
    """Pixelfed's watermark: all down to `newest` is collected; a walk down from `top` goes on at `older_than`."""

    newest: str | None = None  # the floor: the walk ends on reaching it
    top: str | None = None  # the newest id of the walk in progress: it becomes `newest` once the walk ends
    older_than: str | None = None
    pages_left: int = 0  # first run only (no floor): how far back to go

    def encode(self) -> str | None:
        return watermark.encode(self)

    @classmethod
    def decode(cls, value: str | None) -> Walk:
        # Before the versioned encoding: Walk's fields (or Mastodon's Mark's) as JSON, or the bare newest id.
        walk = watermark.decode(cls, value, legacy=lambda old: unversioned(cls, old))
        if walk.older_than and not walk.top:  # an older version's first-run backfill: finish it as a walk
            return cls(None, walk.newest, walk.older_than, walk.pages_left)
        return walk


class PixelfedCollector(MastodonCollector):
    """Walks from the newest post back to the watermark, saving where it is after every page."""

    def __init__(self, api: MastodonAPI, *, page_size: int = 40, backfill_pages: int = 5,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)):
        super().__init__(api, page_size=page_size, backfill_pages=backfill_pages)
        self.now = now

    def pages(self, hashtag: str, watermark: str | None) -> Iterator[Page]:
        walk = Walk.decode(watermark)
        if walk.older_than:  # an interrupted walk: finish it first, so nothing between it and the floor is lost
            walk = yield from self._walk(hashtag, walk)
        start = Walk(walk.newest, pages_left=self.backfill_pages if walk.newest is None else 0)
        yield from self._walk(hashtag, start)

    def _too_old(self, status_id: str) -> bool:
        """Whether Pixelfed would answer [] to this max_id: minted more than six months ago, by its own timestamp."""
        minted = pixelfed_id_time(status_id)
        return minted is not None and minted < months_before(self.now(), 6)

    def _walk(self, hashtag: str, walk: Walk) -> Iterator[Page]:
        """Pages from walk.older_than (or the newest) back to the floor; returns the finished watermark."""
        while True:
            cursor = walk.older_than
            if cursor and self._too_old(cursor):  # everything Pixelfed can still page through has been seen
                done = walk._replace(newest=walk.top or walk.newest, top=None, older_than=None, pages_left=0)
                yield Page(posts=[], watermark=done.encode(), requests=0)
                return done
            statuses, _ = self.api.tag_timeline(hashtag, limit=self.page_size, max_id=cursor, extra=_PARAMS)
            ids = [i for i in status_ids(statuses) if cursor is None or _id_key(i) < _id_key(cursor)]
            floor = walk.newest
            new = [i for i in ids if floor is None or _id_key(i) > _id_key(floor)]
            top = walk.top or (newest_id(new) if new else None)
            left = max(walk.pages_left - 1, 0) if floor is None else 0
            # The end: an empty page, the floor reached, or (first run) the backfill budget spent.
            ended = not new or len(new) < len(ids) or (floor is None and left <= 0)
            walk = Walk(top or floor) if ended else Walk(floor, top, oldest_id(new), left)
            if not new and walk.newest == floor and cursor is None:
                if statuses:
                    yield self._page([], None, len(statuses))  # nothing new since the last run
                return walk
            yield self._page(keep(statuses, new), walk.encode(), len(statuses))
            if ended:
                return walk


def build(channel: ChannelSettings, settings: Settings, http: Http) -> PixelfedCollector:
    """The collector for a `kind = "pixelfed"` channel (the token in token_env, if any, is sent)."""
    return PixelfedCollector(api_for(channel, http), page_size=settings.collect.page_size,
                 backfill_pages=settings.collect.backfill_pages)

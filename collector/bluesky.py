"""Bluesky hashtag collector: app.bsky.feed.searchPosts pages → normalized posts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from atproto import models
from atproto_client.models.utils import get_or_create
from atproto_core.exceptions import AtProtocolError

from platforms.bluesky import POST_URI, BadRequest, BlueskyAPI, api_for, permalink, split_uri
from platforms.bluesky_identity import PLC_DIRECTORY, verify_post
from collector.signals import post_tags
from core import watermark
from core.posts import OriginCheck, OriginClaim
from core.errors import NotFound
from core.http import Http
from core.posts import AuthorData, MediaData, Page, PostData, page_of, parse_each
from core.settings import ChannelSettings, Settings

PAGE_SIZE = 100  # the lexicon's maximum
# Label values that mean "content warning" (com/atproto/label/defs.json), and those that mean the
# post must not be shown to the public at all: the author's "!no-unauthenticated" asks exactly that.
SENSITIVE = {"porn", "sexual", "nudity", "graphic-media", "!warn"}
WITHHELD = {"!hide", "!takedown", "!no-unauthenticated"}
# searchPosts filters and sorts on sortAt = min(createdAt, indexedAt): a post indexed a little late
# still sorts at its createdAt, behind a watermark already stored. Asking again for the last hour
# catches those; posts already stored are recognised by their uri.
OVERLAP = timedelta(hours=1)


def sort_at(raw: object) -> datetime | None:
    """When the AppView sorts a raw postView: its createdAt, unless that claims a time after it was indexed."""
    if not isinstance(raw, dict):
        return None
    indexed = _time(raw.get("indexedAt"))
    record = raw.get("record")
    created = _time(record.get("createdAt")) if isinstance(record, dict) else None
    if indexed is None:
        return created
    return min(created, indexed) if created else indexed


def _time(value: object) -> datetime | None:
    """An ISO 8601 datetime (a time without a zone is read as UTC); None if it is not one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=moment.tzinfo or UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _labels(view: models.AppBskyFeedDefs.PostView) -> tuple[set[str], bool]:
    """The post's label values (moderation labels and self-labels, minus negated ones), and whether
    the record's self-labels were of a type we do not know.

    The record's `labels` is an open union (lexicons/app/bsky/feed/post.json): the SDK hands a
    member of an unknown $type over as a DotDict, whose `.values` is dict.values, not label values.
    """
    labels = view.labels or []
    own = view.record.labels
    known = isinstance(own, models.ComAtprotoLabelDefs.SelfLabels)
    self_labels = own.values if known else []
    found = {label.val for label in labels if not label.neg} | {value.val for value in self_labels}
    return found - {label.val for label in labels if label.neg}, own is not None and not known


def _author_signals(author: models.AppBskyActorDefs.ProfileViewBasic) -> tuple[tuple[str, str], ...]:
    """The account's own "!no-unauthenticated": a self-label of their profile record, which the AppView lists
    among the author's labels with src = their DID (packages/bsky/src/views/index.ts profileBasic/selfLabels at
    d6296a1c; it is what hides their posts from logged-out viewers, noUnauthenticatedPost). A labeler's label of
    that value is not the person's wish."""
    own = [label for label in author.labels or [] if label.src == author.did]
    values = {label.val for label in own if not label.neg} - {label.val for label in own if label.neg}
    if "!no-unauthenticated" in values:
        return (("no_unauthenticated", "!no-unauthenticated on their Bluesky profile"),)
    return ()


def _media(embed: object) -> tuple[list[MediaData], str | None]:
    """The post's own images (not a quoted post's), or why there are none."""
    if isinstance(embed, models.AppBskyEmbedRecordWithMedia.View):
        embed = embed.media
    if isinstance(embed, models.AppBskyEmbedImages.View):
        items = embed.images
    elif isinstance(embed, models.AppBskyEmbedGallery.View):
        items = [i for i in embed.items if isinstance(i, models.AppBskyEmbedGallery.ViewImage)]
    elif isinstance(embed, models.AppBskyEmbedVideo.View):
        return [], "video only"
    else:
        return [], "no media"
    media = [MediaData(url=i.fullsize, alt_text=i.alt or None, width=getattr(i.aspect_ratio, "width", None),
                       height=getattr(i.aspect_ratio, "height", None)) for i in items if i.fullsize]
    return media, None if media else "no media"


def _tags(record: models.AppBskyFeedPost.Record) -> set[str]:
    tags = {t.lower() for t in record.tags or []}
    for facet in record.facets or []:
        tags |= {f.tag.lower() for f in facet.features if isinstance(f, models.AppBskyRichtextFacet.Tag)}
    return tags


def parse_post(raw: object, hashtag: str) -> tuple[PostData | None, str | None]:
    """A raw postView → (post, None), or (None, why it was skipped)."""
    try:
        # Union members of a $type this SDK version does not know come back as DotDicts (embeds,
        # labels, facets, the record itself); anything else that does not fit the lexicon raises.
        view = get_or_create(raw, models.AppBskyFeedDefs.PostView)
    except (AtProtocolError, ValueError, TypeError):
        return None, "malformed (not a postView)"
    record = view.record
    if not isinstance(record, models.AppBskyFeedPost.Record):
        return None, "not a post record"
    found = POST_URI.fullmatch(view.uri)
    if not found:
        return None, "malformed (not the at:// uri of a post)"
    if found.group(1) != view.author.did:  # only the DID's own repository holds its posts
        return None, "identity mismatch (uri and author differ)"
    labels, unknown_labels = _labels(view)
    if labels & WITHHELD:
        return None, "withheld by a label"
    tags = _tags(record)
    if hashtag not in tags and not re.search(rf"#{re.escape(hashtag)}(?!\w)", record.text, re.IGNORECASE):
        return None, "hashtag not in the post"  # search matched it some other way (a link card, a longer tag)
    media, why = _media(view.embed)
    if not media:
        return None, why
    created = _time(record.created_at) or sort_at(raw)
    if created is None:
        return None, "malformed (no readable date)"
    rkey = found.group(3)
    # The AppView's profileViewBasic: it indexes the DID's own signed repository and checks the handle
    # both ways, answering "handle.invalid" when the handle does not point back at the DID. We trust it
    # for the author (keyed by DID) only when the handle was verified.
    verified = view.author.handle != "handle.invalid"
    handle = (view.author.handle if verified else view.author.did).lower()
    author = AuthorData(handle=handle, name=view.author.display_name or handle, network="bluesky",
                        profile_url=f"https://bsky.app/profile/{handle}", uid=view.author.did,
                        authoritative=verified, signals=_author_signals(view.author))
    post = PostData(key=view.uri, remote_id=view.uri, url=permalink(handle, rkey), author=author,
                    created_at=created, text=record.text, language=(record.langs or [None])[0],
                    sensitive=bool(labels & SENSITIVE), media=tuple(media),
                    flags=("self-labels of a type wlb does not know: check for content warnings",)
                    if unknown_labels else (), tags=post_tags(sorted(tags)))
    return post, None


class Mark(NamedTuple):
    """The stored watermark: the newest sortAt committed, and where an unfinished sweep continues."""

    since: str | None = None
    top: str | None = None  # the newest sortAt the unfinished sweep has seen
    cursor: str | None = None
    left: int | None = None  # pages the first run may still fetch

    def encode(self) -> str | None:
        """None for a cursor too long to store: an interrupted sweep then starts again from the newest."""
        return watermark.encode(self)

    @classmethod
    def decode(cls, value: str | None) -> Mark:
        # Before the versioned encoding: the same fields as JSON, None ones left out.
        return watermark.decode(cls, value, legacy=lambda old: watermark.from_fields(cls, json.loads(old)))


class BlueskyCollector:
    """Pages searchPosts newest first, down to the stored watermark (or backfill_pages on a first run)."""

    def __init__(self, api: BlueskyAPI, *, backfill_pages: int = 5, page_size: int = PAGE_SIZE,
                 plc_url: str = PLC_DIRECTORY):
        self.api = api
        self.plc_url = plc_url
        self.backfill_pages = backfill_pages
        self.page_size = page_size

    def pages(self, hashtag: str, watermark: str | None) -> Iterator[Page]:
        mark = Mark.decode(watermark)
        since, top, cursor = _time(mark.since), _time(mark.top), mark.cursor
        floor = since - OVERLAP if since else None
        left = mark.left if cursor else (None if since else self.backfill_pages)
        resumed = bool(cursor)  # the stored cursor may be stale: the server may have forgotten it
        while True:
            try:
                answer = self.api.search_posts(f"#{hashtag}", tag=hashtag, since=floor and _iso(floor),
                                               cursor=cursor, limit=self.page_size)
            except BadRequest:
                if not resumed:
                    raise
                cursor, resumed = None, False  # sweep again from the newest
                continue
            resumed = False
            # A record without a readable date is kept for its parser to judge; it cannot move the watermark.
            kept = [(raw, t) for raw, t in ((raw, sort_at(raw)) for raw in answer.posts)
                    if floor is None or t is None or t >= floor]
            views = [raw for raw, _ in kept]
            reached = len(views) < len(answer.posts)  # the server ignored `since`: we are past the watermark
            top = max([t for t in (top, *(t for _, t in kept)) if t], default=None)
            left = None if left is None else left - 1
            more = answer.cursor and answer.cursor != cursor and views and not reached and left != 0
            cursor = answer.cursor if more else None
            if cursor is None:
                newest = max([t for t in (since, top) if t], default=None)
                yield self._page(views, hashtag, Mark(since=newest and _iso(newest)).encode(), len(answer.posts))
                return
            pending = Mark(mark.since, top and _iso(top), cursor, left)
            yield self._page(views, hashtag, pending.encode(), len(answer.posts))

    def _page(self, views: list, hashtag: str, watermark: str | None, fetched: int) -> Page:
        return page_of(parse_each(views, lambda raw: parse_post(raw, hashtag)), watermark=watermark, fetched=fetched)

    def verify(self, claim: OriginClaim) -> OriginCheck:
        """Ask the PDS that the post's DID document names (not the AppView that served it)."""
        return verify_post(self.api.http, claim, plc_url=self.plc_url)

    def exists(self, remote_id: str) -> bool:
        """Whether the post is still there: com.atproto.repo.getRecord answers RecordNotFound once it is deleted."""
        try:
            self.api.get_record(*split_uri(remote_id))
        except NotFound:
            return False
        return True


def build(channel: ChannelSettings, settings: Settings, http: Http) -> BlueskyCollector:
    return BlueskyCollector(api_for(channel, settings, http), backfill_pages=settings.collect.backfill_pages,
                            plc_url=channel.plc_url)

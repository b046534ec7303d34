"""RSS and Atom feeds (blogs, Pixelfed profile feeds, news sites): entries with images → posts.

A feed is the configured unit, already chosen for its subject (a blog's tag feed, a photographer's
Pixelfed feed), so every entry with an image is taken. Only when the channel lists `hashtags`
itself must an entry carry one of them (#tag in its title or text, or as a category); then each
hashtag has its own watermark, as on other platforms. Without channel hashtags the feed is read
once per run, under the first global hashtag's watermark.

The watermark keeps the feed's ETag / Last-Modified for a conditional GET (304: one cheap
request) and short digests of the entries already read: identity, not date, says what is new, so
a backdated entry is still collected and an entry dated 2204 freezes nothing. The digests only
save work: an entry forgotten is parsed again and recognised by its key in the database.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from core import watermark
from core.posts import OriginCheck, OriginClaim
from collector.feed_media import RawItem, align, entry_media, html_of, read_items, web_url as _web_url
from collector.html import html_to_text
from core.errors import PlatformError
from core.http import Http
from core.posts import AuthorData, Page, PostData, normalize_tag, page_of, parse_each
from core.redact import shown_url
from core.settings import ChannelSettings, Settings
from platforms.rss import fetch, is_mastodon

log = logging.getLogger(__name__)

_PLACEHOLDER_TITLES = {"no caption"}  # Pixelfed titles caption-less posts "No caption"
# Mastodon's item link is ActivityPub::TagManager#url_for(status): https://host/@username/ID for its own
# statuses (app/views/tags/show.rss.ruby, app/lib/rss/item.rb); usernames as in Account::USERNAME_RE.
_MASTODON_LINK = re.compile(r"^https?://(?P<netloc>[^/@?#\s]+)/@(?P<user>[a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)"
                            r"/(?P<id>\d{1,30})/?$", re.IGNORECASE)
UNCREDITED = "uncredited:"  # uid prefix of a feed's placeholder author: nobody is credited until a reviewer is


class FeedMark(NamedTuple):
    """The stored watermark: validators for a conditional GET and digests of entries already read."""

    etag: str | None = None
    modified: str | None = None
    seen: tuple[str, ...] = ()  # 8-character digests of entry identities, most worth remembering first

    def encode(self) -> str | None:
        """The validators (an odd, long one is not kept: the feed is then fetched whole) and the first digests."""
        etag, modified = (v if v is None or len(json.dumps(v)) <= VALIDATOR_MAX else None
                          for v in (self.etag, self.modified))
        return watermark.encode(FeedMark(etag, modified, self.seen[:MAX_DIGESTS]))

    @classmethod
    def decode(cls, value: str | None) -> FeedMark:
        return watermark.decode(cls, value, legacy=_legacy)


def _legacy(value: str) -> FeedMark:
    """Before the versioned encoding: {"e": etag, "m": modified, "s": digests run together}; keeps what it can."""
    data = json.loads(value)
    etag, modified, seen = data.get("e"), data.get("m"), data.get("s")
    seen = seen if isinstance(seen, str) else ""
    return FeedMark(etag if isinstance(etag, str) else None, modified if isinstance(modified, str) else None,
                    tuple(seen[i:i + _DIGEST] for i in range(0, len(seen) - _DIGEST + 1, _DIGEST)))


_DIGEST = 8
# Entries remembered per feed: more than a feed usually carries. Past it, entries that became posts are forgotten
# first; they are parsed again and recognised by their key in the database.
MAX_DIGESTS = 500
VALIDATOR_MAX = 512  # an ETag or Last-Modified longer than this (as JSON) is not kept


def digest(key: str) -> str:
    """48 bits of the entry's identity: a new entry mistaken for a seen one is a 1 in 10^13 event."""
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()[:6]).decode()


def _when(entry: Any) -> int | None:
    """Published (else updated) time as unix seconds; feedparser gives UTC struct_time."""
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    try:
        return calendar.timegm(parsed) if parsed else None
    except (TypeError, ValueError, OverflowError):
        return None


def identity(entry: Any, feed_url: str) -> str | None:
    """The entry's global key: its guid/id, else its link; a bare guid is qualified with the feed URL."""
    ident = str(entry.get("id") or "").strip() or _web_url(entry.get("link")) or ""
    if not ident:
        return None
    # An RSS guid may be a bare number, unique only within its feed: qualify it with the feed URL.
    return ident if re.match(r"[a-z][a-z0-9+.-]*:", ident, re.IGNORECASE) else f"{feed_url}#{ident}"


def mentions(entry: Any, tag: str, raw: RawItem | None) -> bool:
    """Whether the entry carries #tag in its title or text, or tag as a category."""
    terms = {normalize_tag(str(t.get("term") or "")) for t in entry.get("tags") or []}
    text = f"{entry.get('title') or ''}\n{html_to_text(html_of(entry, raw))}"
    return tag in terms or re.search(rf"(?<![\w#])#{re.escape(tag)}(?!\w)", text, re.IGNORECASE) is not None


class Feed(NamedTuple):
    """What every entry of one fetched feed is read against."""

    meta: Any  # feedparser's feed-level dict
    url: str  # the feed URL as configured
    base: str  # where relative URLs resolve (the response's URL)
    mastodon: bool  # generated by Mastodon: authors are named by item links


def _author(entry: Any, feed: Feed, url: str) -> AuthorData | None:
    """The photographer the feed names: the entry's or feed's author element, or a Mastodon item link's account."""
    if feed.mastodon and (found := _MASTODON_LINK.match(url)):
        user, host = found["user"].lower(), (urlsplit(url).hostname or "").lower()
        # The feed gives no display name: not authoritative, so a name the API gave is kept.
        return AuthorData(handle=f"{user}@{host}", name=found["user"], authoritative=False,
                          profile_url=f"{url.split('/@')[0]}/@{found['user']}")
    who = (entry.get("author_detail") or {}).get("name") or entry.get("author") or \
        (feed.meta.get("author_detail") or {}).get("name") or feed.meta.get("author")
    who = " ".join(str(who).split())[:200] if who else None
    if not who:
        return None
    host = urlsplit(feed.url).hostname or ""
    profile = (entry.get("author_detail") or {}).get("href") or (feed.meta.get("author_detail") or {}).get("href")
    return AuthorData(handle=f"{who.lower()}@{host}", name=who, network="web",
                      profile_url=_web_url(profile) or _web_url(feed.meta.get("link")) or feed.url)


def uncredited(feed_url: str) -> AuthorData:
    """The placeholder author of a feed's entries that name nobody: no name, no handle, one per feed."""
    return AuthorData(handle="", name="", profile_url=feed_url, network="web", authoritative=False,
                      uid=f"{UNCREDITED}{hashlib.sha256(feed_url.encode()).hexdigest()[:32]}")


def parse_entry(entry: Any, feed: Feed, created: datetime,
                raw: RawItem | None = None) -> tuple[PostData | None, str | None]:
    """A feedparser entry → (post, None), or (None, why it was skipped)."""
    key, link = identity(entry, feed.url), _web_url(entry.get("link"))
    url = link or _web_url(str(entry.get("id") or "").strip())
    if not url or not key:
        return None, "no link"
    if len(key) > 2048 or len(url) > 2048:
        return None, "id or link too long"
    media, sensitive = entry_media(entry, raw, raw.base if raw else feed.base)
    if not any(m.kind == "image" for m in media):
        return None, "no image"
    author = _author(entry, feed, url)
    html = html_of(entry, raw)
    text = html_to_text(html)
    title = " ".join(html_to_text(entry.get("title") or "").split())
    if title.lower() in _PLACEHOLDER_TITLES or " ".join(text.split()).startswith(title) or \
            (raw and title in raw.media_texts):
        title = ""  # a title that only repeats the caption (Pixelfed, microblogs) or a media:title is no title
    language = (entry.get("title_detail") or {}).get("language") or feed.meta.get("language")
    ident = str(entry.get("id") or "").strip() or url
    post = PostData(
        key=key, remote_id=ident if len(ident) <= 256 else digest(ident), url=url,
        author=author or uncredited(feed.url), needs_credit=author is None,
        created_at=created, text=text, language=str(language)[:16] if language else None, sensitive=sensitive,
        media=tuple(media), title=title or None,
    )
    return post, None


class FeedCollector:
    """One feed, fetched with a conditional GET through the shared Http client."""

    def __init__(self, http: Http, feed_url: str, *, hashtags: list[str] | None, unit_tag: str, max_bytes: int,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.http = http
        self.feed_url = feed_url
        self.hashtags = hashtags
        self.unit_tag = unit_tag
        self.max_bytes = max_bytes
        self.now = now

    def pages(self, hashtag: str, watermark: str | None) -> Iterator[Page]:
        if not self.hashtags and hashtag != self.unit_tag:
            return  # the feed is the unit: read once per run, not once per global hashtag
        mark = FeedMark.decode(watermark)
        answer = fetch(self.http, self.feed_url, etag=mark.etag, modified=mark.modified, max_bytes=self.max_bytes)
        if answer is None:  # 304 Not Modified
            yield Page(posts=[], watermark=None)
            return
        feed = Feed(answer.parsed.feed, self.feed_url, answer.url, is_mastodon(answer.parsed.feed))
        raw = align(read_items(answer.content, answer.url), answer.parsed.entries)
        mark = mark._replace(etag=answer.etag, modified=answer.modified)
        yield self._page(feed, list(zip(answer.parsed.entries, raw, strict=True)), mark, hashtag)

    def _page(self, feed: Feed, entries: list[tuple[Any, RawItem | None]], mark: FeedMark, hashtag: str) -> Page:
        """Entries not seen before → posts. Identity, not date, says what is new: a backdated entry still counts."""
        known = set(mark.seen)
        keyed = [(entry, raw, digest(key) if (key := identity(entry, feed.url)) else None) for entry, raw in entries]
        fresh = [(entry, raw) for entry, raw, d in keyed if d is None or d not in known]
        undated = sum(1 for entry, _ in fresh if _when(entry) is None)

        def parse(record: tuple[Any, RawItem | None]) -> tuple[PostData | None, str | None]:
            entry, raw = record
            if self.hashtags and not mentions(entry, hashtag, raw):
                return None, f"no #{hashtag}"
            when = _when(entry)
            # Dates are as the feed wrote them (another stage clamps absurd ones); they never move the watermark.
            created = datetime.fromtimestamp(when, UTC) if when is not None else self.now()
            return parse_entry(entry, feed, created, raw)

        page = page_of(parse_each(fresh, parse), watermark=None, fetched=len(fresh))
        if undated:
            log.warning("feed at %s: %d entries have no date; they are dated with the time they were collected",
                        shown_url(self.feed_url), undated)
        # Remember first what nothing else remembers: entries that were skipped. Those that became posts are
        # known by their key in the database, so forgetting them costs a re-parse, never a duplicate.
        posted = {digest(p.key) for p in page.posts}
        present = [d for _, _, d in keyed if d is not None]
        order = [d for d in present if d not in posted] + [d for d in present if d in posted]
        page.watermark = mark._replace(seen=tuple(dict.fromkeys(order))).encode()
        return page

    def verify(self, claim: OriginClaim) -> OriginCheck:
        """A feed cannot be asked about one entry; a Mastodon author read from the link is checked on that instance."""
        found = _MASTODON_LINK.match(claim.url)
        if claim.author_uid and claim.author_uid.startswith(UNCREDITED):
            # Nobody but the reviewer can name the photographer: their recorded credit is what vouches for it.
            return OriginCheck(verified=bool(claim.reviewer_credit))
        if not found or claim.author_handle.lower().lstrip("@") != \
                f"{found['user']}@{urlsplit(claim.url).hostname}".lower():
            return OriginCheck(verified=True)  # the credit is what the feed itself says
        return self._ask_mastodon(claim.url, found)

    def _ask_mastodon(self, url: str, found: re.Match) -> OriginCheck:
        """GET /api/v1/statuses/:id on the instance the link names (public statuses need no token)."""
        api = f"{urlsplit(url).scheme}://{found['netloc']}/api/v1/statuses/{found['id']}"
        try:
            # A body cut short is retried by Http like a 5xx (issue 7); one nested too deep is an HttpError.
            response, status = self.http.request_json("GET", api, headers={"Accept": "application/json"},
                                                      max_bytes=1_000_000)
        except PlatformError:
            return OriginCheck()
        if response.status_code in (404, 410):
            return OriginCheck(deleted=True)
        status = status if response.is_success else None
        account = status.get("account") if isinstance(status, dict) else None
        if not isinstance(account, dict):
            return OriginCheck()
        username = str(account.get("username") or "")
        if username.lower() != found["user"].lower():
            return OriginCheck(problem=f"{shown_url(url)} is by @{username[:64]} on its instance, not @{found['user']}")
        images = tuple(str(m.get("url")) for m in status.get("media_attachments") or []
                       if isinstance(m, dict) and m.get("type") == "image" and m.get("url"))
        if not images:  # the feed's image is not the author's: their post has none
            return OriginCheck(problem=f"{shown_url(url)} has no image on its instance")
        return OriginCheck(verified=True, image_urls=images)


def build(channel: ChannelSettings, settings: Settings, http: Http) -> FeedCollector:
    """The collector for a `kind = "rss"` channel."""
    tags = [normalize_tag(t) for t in channel.hashtags] if channel.hashtags else None
    return FeedCollector(http, channel.feed_url or "", hashtags=tags, unit_tag=settings.hashtags[0],
                         max_bytes=settings.network.max_media_bytes)

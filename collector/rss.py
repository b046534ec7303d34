"""RSS and Atom feeds (blogs, Pixelfed profile feeds, news sites): entries with images → posts.

A feed is the configured unit, already chosen for its subject (a blog's tag feed, a photographer's
Pixelfed feed), so every entry with an image is taken. Only when the channel lists `hashtags`
itself must an entry carry one of them (#tag in its title or text, or as a category); then each
hashtag has its own watermark, as on other platforms. Without channel hashtags the feed is read
once per run, under the first global hashtag's watermark.

The watermark keeps the feed's ETag / Last-Modified for a conditional GET (304: one cheap
request) and the newest entry date committed; entries dated at or before it were seen already.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, NamedTuple
from urllib.parse import urljoin, urlsplit

import feedparser

from collector.html import html_to_text
from collector.base import OriginCheck, OriginClaim
from core.errors import PlatformError
from core.http import Http
from core.posts import AuthorData, MediaData, Page, PostData
from core.settings import ChannelSettings, Settings

log = logging.getLogger(__name__)

MAX_IMAGES = 4  # what a repost can carry; a gallery post is not worth fifty downloads
MAX_WATERMARK = 256
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".avif", ".heic")
_PLACEHOLDER_TITLES = {"no caption"}  # Pixelfed titles caption-less posts "No caption"


class FeedMark(NamedTuple):
    """The stored watermark: validators for a conditional GET and the newest entry date committed."""

    etag: str | None = None
    modified: str | None = None
    newest: int | None = None  # unix seconds
    seen: tuple[str, ...] = ()  # digests of the entries dated exactly `newest`

    def encode(self) -> str:
        """Compact JSON of at most 256 characters: a long ETag goes first, then seen digests, then validators."""
        etag = self.etag if self.etag and len(self.etag) <= 128 else None
        data: dict[str, Any] = {"e": etag, "m": self.modified, "t": self.newest, "s": list(self.seen[-8:])}
        while len(text := json.dumps(data, separators=(",", ":"))) > MAX_WATERMARK:
            if data["s"]:
                data["s"] = data["s"][1:]
            elif data["e"]:
                data["e"] = None
            else:
                data["m"] = None
        return text

    @classmethod
    def decode(cls, value: str | None) -> FeedMark:
        try:
            data = json.loads(value or "")
            return cls(data.get("e"), data.get("m"), data.get("t"), tuple(data.get("s") or ()))
        except (ValueError, TypeError, AttributeError):
            return cls()


class _Images(HTMLParser):
    """Every <img> with an http(s) src, as (src, alt, declared width, declared height)."""

    def __init__(self, base: str):
        super().__init__(convert_charrefs=True)
        self.base = base
        self.found: list[tuple[str, str | None, int | None, int | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img" and values.get("src"):
            src = _web_url(urljoin(self.base, values["src"].strip()))
            if src:
                self.found.append((src, values.get("alt"), _int(values.get("width")), _int(values.get("height"))))


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip().removesuffix("px"))
    except (TypeError, ValueError):
        return None


def _web_url(value: Any) -> str | None:
    return value if isinstance(value, str) and urlsplit(value).scheme in ("http", "https") else None


def _shown(url: str) -> str:
    """The URL without its query, which may carry a private feed's token."""
    return url.split("?", 1)[0].split("#", 1)[0]


def _looks_like_image(mime: str | None, url: str) -> bool:
    if mime:
        return mime.lower().startswith("image/")
    return urlsplit(url).path.lower().endswith(_IMAGE_SUFFIXES)


def _html(entry: Any) -> str:
    content = entry.get("content") or []
    return (content[0].get("value") if content else None) or entry.get("summary") or ""


def entry_images(entry: Any, base: str) -> list[MediaData]:
    """Enclosures and media:content first, then the content's <img>s, then media:thumbnail (Blogger's are 72 px)."""
    imgs = _Images(base)
    imgs.feed(_html(entry))
    alts = {src: alt for src, alt, _, _ in imgs.found if alt}
    found: list[MediaData] = []
    for enclosure in entry.get("enclosures") or []:
        url = _web_url(enclosure.get("href"))
        if url and _looks_like_image(enclosure.get("type"), url):
            found.append(MediaData(url=url, alt_text=alts.get(url)))
    for media in entry.get("media_content") or []:
        url, medium = _web_url(media.get("url")), (media.get("medium") or "").lower()
        if url and (medium == "image" or (not medium and _looks_like_image(media.get("type"), url))):
            found.append(MediaData(url=url, alt_text=alts.get(url), width=_int(media.get("width")),
                                   height=_int(media.get("height"))))
    if not found:  # tracking pixels and icons declare their tiny size; leave those out
        found = [MediaData(url=src, alt_text=alt or None, width=w, height=h) for src, alt, w, h in imgs.found
                 if not ((w and w < 100) or (h and h < 100))][:1]
    if not found:
        found = [MediaData(url=url, width=_int(t.get("width")), height=_int(t.get("height")))
                 for t in entry.get("media_thumbnail") or [] if (url := _web_url(t.get("url")))][:1]
    unique = {m.url: m for m in reversed(found)}
    return [m for m in found if unique[m.url] is m][:MAX_IMAGES]


def _when(entry: Any) -> int | None:
    """Published (else updated) time as unix seconds; feedparser gives UTC struct_time."""
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return calendar.timegm(parsed) if parsed else None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def mentions(entry: Any, tag: str) -> bool:
    """Whether the entry carries #tag in its title or text, or tag as a category."""
    terms = {str(t.get("term") or "").lstrip("#").lower() for t in entry.get("tags") or []}
    text = f"{entry.get('title') or ''}\n{html_to_text(_html(entry))}"
    return tag in terms or re.search(rf"(?<![\w#])#{re.escape(tag)}(?!\w)", text, re.IGNORECASE) is not None


def parse_entry(entry: Any, feed: Any, feed_url: str, created: datetime) -> tuple[PostData | None, str | None]:
    """A feedparser entry → (post, None), or (None, why it was skipped)."""
    link, ident = _web_url(entry.get("link")), (entry.get("id") or "").strip()
    ident = ident or link or ""
    url = link or _web_url(ident)
    if not url:
        return None, "no link"
    # An RSS guid may be a bare number, unique only within its feed: qualify it with the feed URL.
    key = ident if re.match(r"[a-z][a-z0-9+.-]*:", ident, re.IGNORECASE) else f"{feed_url}#{ident}"
    if len(key) > 2048 or len(url) > 2048:
        return None, "id or link too long"
    media = entry_images(entry, url)
    if not media:
        return None, "no image"
    host = urlsplit(feed_url).hostname or ""
    who = (entry.get("author_detail") or {}).get("name") or entry.get("author") or \
        (feed.get("author_detail") or {}).get("name") or feed.get("author")
    who = " ".join(str(who).split()) if who else None
    profile = (entry.get("author_detail") or {}).get("href") or (feed.get("author_detail") or {}).get("href")
    author = AuthorData(handle=f"{who.lower()}@{host}" if who else host, name=who or feed.get("title") or host,
                        profile_url=_web_url(profile) or _web_url(feed.get("link")) or feed_url, network="web")
    text = html_to_text(_html(entry))
    title = " ".join(html_to_text(entry.get("title") or "").split())
    if title.lower() in _PLACEHOLDER_TITLES or " ".join(text.split()).startswith(title):
        title = ""  # a title that only repeats the caption (Pixelfed, microblogs) is no title
    language = (entry.get("title_detail") or {}).get("language") or feed.get("language")
    post = PostData(
        key=key, remote_id=ident if len(ident) <= 256 else _digest(ident), url=url, author=author,
        created_at=created, text=text, language=str(language)[:16] if language else None,
        tags=tuple(t for t in (str(c.get("term") or "").lstrip("#").lower() for c in entry.get("tags") or []) if t),
        media=tuple(media), title=title or None,
    )
    return post, None


def parse_feed(data: bytes, url: str, content_type: str | None) -> Any:
    """feedparser's reading of the bytes; PlatformError if they hold no feed."""
    # A stream, never the bytes: feedparser.parse opens a str or bytes argument as a file path or URL.
    parsed = feedparser.parse(io.BytesIO(data), response_headers={"content-location": url,
                                                                  "content-type": content_type or "application/xml"})
    if not parsed.entries and (parsed.get("bozo") or not parsed.get("version")):
        reason = parsed.get("bozo_exception") or "no RSS or Atom elements"
        reason = " ".join(str(reason).split())[:150]
        raise PlatformError(f"feed at {_shown(url)} is not valid RSS/Atom ({reason}); check feed_url")
    return parsed


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
        headers = {"Accept": "application/atom+xml, application/rss+xml, application/xml;q=0.9, */*;q=0.5"}
        headers |= {"If-None-Match": mark.etag} if mark.etag else {}
        headers |= {"If-Modified-Since": mark.modified} if mark.modified else {}
        response = self.http.request("GET", self.feed_url, headers=headers, max_bytes=self.max_bytes)
        if response.status_code == 304:
            yield Page(posts=[], watermark=None)
            return
        if not response.is_success:
            raise PlatformError(f"feed at {_shown(self.feed_url)} answered {response.status_code} {response.reason_phrase}; "
                                f"check feed_url")
        feed = parse_feed(response.content, str(response.url), response.headers.get("content-type"))
        yield self._page(feed, mark._replace(etag=response.headers.get("etag"),
                                             modified=response.headers.get("last-modified")), hashtag)

    def _page(self, feed: Any, mark: FeedMark, hashtag: str) -> Page:
        posts, skipped, undated = [], Counter(), 0
        newest, seen = mark.newest, list(mark.seen)
        fresh = [(e, _when(e)) for e in feed.entries]
        fresh = [(e, t) for e, t in fresh if newest is None or t is None or t > newest
                 or (t == newest and _digest(e.get("id") or e.get("link") or "") not in mark.seen)]
        for entry, when in fresh:
            if when is not None and (newest is None or when >= newest):
                seen = seen if when == newest else []
                newest = when
                seen.append(_digest(entry.get("id") or entry.get("link") or ""))
            if self.hashtags and not mentions(entry, hashtag):
                skipped[f"no #{hashtag}"] += 1
                continue
            undated += when is None
            created = datetime.fromtimestamp(when, UTC) if when is not None else self.now()
            post, why = parse_entry(entry, feed.feed, self.feed_url, created)
            if post:
                posts.append(post)
            else:
                skipped[why] += 1
        if undated:
            log.warning("feed at %s: %d entries have no date; they are dated with the time they were collected",
                        _shown(self.feed_url), undated)
        mark = mark._replace(newest=newest, seen=tuple(seen))
        return Page(posts=posts, watermark=mark.encode(), fetched=len(fresh), skipped=dict(skipped))

    def verify(self, claim: OriginClaim) -> OriginCheck:
        """Until the origin is asked directly: deleted or not, as the channel that served it says."""
        return OriginCheck(deleted=not self.exists(claim.remote_id))

    def exists(self, remote_id: str) -> bool:
        return True  # a feed cannot be asked about one entry; an entry gone from it may just be old


def build(channel: ChannelSettings, settings: Settings, http: Http) -> FeedCollector:
    """The collector for a `kind = "rss"` channel."""
    tags = [t.lstrip("#").lower() for t in channel.hashtags] if channel.hashtags else None
    return FeedCollector(http, channel.feed_url or "", hashtags=tags, unit_tag=settings.hashtags[0],
                         max_bytes=settings.network.max_media_bytes)

"""RSS and Atom feeds: one conditional GET through the shared Http client, read by feedparser.

A feed has no API beyond HTTP caching: the ETag / Last-Modified of the last answer make the next
request a cheap 304 when nothing changed (https://www.rfc-editor.org/rfc/rfc9110#section-13.1).
"""

from __future__ import annotations

import io
from typing import Any, NamedTuple

import feedparser

from core.errors import PlatformError
from core.http import Http
from core.redact import shown_url
from core.settings import ChannelSettings, Settings

ACCEPT = "application/atom+xml, application/rss+xml, application/xml;q=0.9, */*;q=0.5"


class FeedAnswer(NamedTuple):
    """A feed as fetched: feedparser's reading, the raw bytes, the URL it came from and its cache validators."""

    parsed: Any
    content: bytes
    url: str
    etag: str | None
    modified: str | None


def fetch(http: Http, url: str, *, etag: str | None, modified: str | None, max_bytes: int) -> FeedAnswer | None:
    """The feed, or None when it has not changed since the answer that gave `etag` / `modified` (304)."""
    headers = {"Accept": ACCEPT}
    headers |= {"If-None-Match": etag} if etag else {}
    headers |= {"If-Modified-Since": modified} if modified else {}
    response = http.request("GET", url, headers=headers, max_bytes=max_bytes)
    if response.status_code == 304:
        return None
    if not response.is_success:
        raise PlatformError(f"feed at {shown_url(url)} answered {response.status_code} {response.reason_phrase}; "
                            f"check feed_url")
    base = str(response.url)
    parsed = parse_feed(response.content, base, response.headers.get("content-type"))
    return FeedAnswer(parsed, response.content, base, response.headers.get("etag"), response.headers.get("last-modified"))


def parse_feed(data: bytes, url: str, content_type: str | None) -> Any:
    """feedparser's reading of the bytes; PlatformError if they hold no feed."""
    # A stream, never the bytes: feedparser.parse opens a str or bytes argument as a file path or URL.
    parsed = feedparser.parse(io.BytesIO(data), response_headers={"content-location": url,
                                                                  "content-type": content_type or "application/xml"})
    if not parsed.entries and (parsed.get("bozo") or not parsed.get("version")):
        reason = parsed.get("bozo_exception") or "no RSS or Atom elements"
        reason = " ".join(str(reason).split())[:150]
        raise PlatformError(f"feed at {shown_url(url)} is not valid RSS/Atom ({reason}); check feed_url")
    return parsed


def is_mastodon(meta: Any) -> bool:
    """Mastodon writes <generator>Mastodon vX.Y.Z</generator> (app/views/tags/show.rss.ruby, accounts/show.rss.ruby)."""
    return str(meta.get("generator") or "").strip().lower().startswith("mastodon")


def probe(token: str | None, channel: ChannelSettings, settings: Settings, http: Http) -> str:
    """`wlb doctor`: the feed answers and parses."""
    answer = fetch(http, channel.feed_url or "", etag=None, modified=None, max_bytes=settings.network.max_media_bytes)
    entries = len(answer.parsed.entries) if answer else 0
    return f"reachable ({len(answer.content) if answer else 0:,} bytes, {entries} entries)"

"""Media in a feed entry as the feed wrote it: Media RSS groups, ratings and alt text, enclosures, <img srcset>.

feedparser flattens Media RSS (every media:content of an item in one list, media:group forgotten, a
media:description filed under entry.content) and its sanitizer drops `srcset`; so each item is also
read from the raw XML, and feedparser's view is only the fallback when the raw XML cannot be parsed.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from core.bounds import as_int
from core.posts import MediaData

MAX_IMAGES = 4  # what a repost can carry; a gallery post is not worth fifty downloads
MIN_SIDE = 200  # a declared width or height below this is a tracking pixel, an icon or a button
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".avif", ".heic")
# Types that say nothing about the bytes: such an enclosure is judged by its bytes when downloaded.
_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/binary"}
# FeedBurner's "email this" / "share" buttons and its 1x1 pixel (feeds.feedburner.com/~ff/…, /~r/…).
_FEEDBURNER = re.compile(r"/~(?:ff|r)/")
MEDIA = "{http://search.yahoo.com/mrss/}"
ATOM = "{http://www.w3.org/2005/Atom}"
_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_HTML_FIELDS = ("{http://purl.org/rss/1.0/modules/content/}encoded", f"{ATOM}content", "description", f"{ATOM}summary")


@dataclass
class Rendition:
    """One media:content or enclosure: a file and what the feed says about it."""

    url: str
    type: str = ""
    medium: str = ""
    width: int | None = None
    height: int | None = None
    size: int | None = None
    alt: str | None = None

    @property
    def kind(self) -> str:
        """image, video or other; a video/* type wins over `medium` (Mastodon writes gifv as medium="image")."""
        mime = self.type.lower().split(";")[0].strip()
        if mime.startswith("video/") or self.medium == "video":
            return "video"
        if mime.startswith("image/"):
            return "image"
        if mime in _GENERIC_TYPES and (self.medium == "image" or mime != ""
                                       or urlsplit(self.url).path.lower().endswith(_IMAGE_SUFFIXES)):
            return "image"
        return "other"


@dataclass
class RawItem:
    """An item/entry read from the raw XML: its identities, media groups, rating, media texts and HTML."""

    ids: set[str] = field(default_factory=set)
    base: str = ""  # where the item's relative URLs resolve (xml:base in scope, else the feed's URL)
    groups: list[list[Rendition]] = field(default_factory=list)  # each group is one photo in several sizes
    adult: bool = False
    media_texts: set[str] = field(default_factory=set)  # media:description/title: alt text, not the post's text
    html: str = ""


def _measure(value: Any) -> int | None:
    """A width, height or byte size as a feed writes it ("640", "640px"): positive and under a million, else None."""
    number = as_int(value)
    return number if number is not None and 0 < number < 1_000_000 else None


def _tiny(width: int | None, height: int | None) -> bool:
    return bool((width and width < MIN_SIDE) or (height and height < MIN_SIDE))


def web_url(value: Any) -> str | None:
    """The value if it is an http(s) URL; None for anything else, including a URL urllib cannot split."""
    try:
        return value if isinstance(value, str) and urlsplit(value).scheme in ("http", "https") else None
    except ValueError:  # "http://[oops/": an unclosed IPv6 bracket
        return None


def _text(element: ET.Element | None) -> str | None:
    value = " ".join((element.text or "").split()) if element is not None else ""
    return value or None


def _adult(element: ET.Element) -> bool:
    """<media:rating>adult</media:rating> (scheme urn:simple, the default scheme) anywhere in the element."""
    return any((r.text or "").strip().lower() == "adult" and r.get("scheme", "urn:simple") == "urn:simple"
               for r in element.iter(f"{MEDIA}rating"))


def _alt(*elements: ET.Element) -> str | None:
    for element in elements:
        for tag in ("description", "title"):
            if found := _text(element.find(f"{MEDIA}{tag}")):
                return found
    return None


def _rendition(node: ET.Element, base: str, *context: ET.Element) -> Rendition | None:
    url = web_url(urljoin(base, (node.get("url") or node.get("href") or "").strip()))
    if not url:
        return None
    return Rendition(url=url, type=(node.get("type") or "").strip(), medium=(node.get("medium") or "").strip().lower(),
                     width=_measure(node.get("width")), height=_measure(node.get("height")),
                     size=_measure(node.get("fileSize") or node.get("length")), alt=_alt(node, *context))


def _item(node: ET.Element, base: str, channel_adult: bool) -> RawItem:
    base = urljoin(base, node.get(_BASE) or "")
    raw = RawItem(base=base, adult=channel_adult or _adult(node))
    for tag in ("guid", f"{ATOM}id", "link"):
        raw.ids.update(t for e in node.findall(tag) if (t := _text(e)))
    raw.ids.update(link.get("href") for link in node.findall(f"{ATOM}link")
                   if link.get("href") and link.get("rel", "alternate") == "alternate")
    for child in node:
        if child.tag == f"{MEDIA}group":
            group = [r for c in child.findall(f"{MEDIA}content") if (r := _rendition(c, base, child, node))]
        elif child.tag == f"{MEDIA}content":
            group = [r] if (r := _rendition(child, base, node)) else []
        elif child.tag == "enclosure" or (child.tag == f"{ATOM}link" and child.get("rel") == "enclosure"):
            group = [r] if (r := _rendition(child, base)) else []
        else:
            continue
        raw.groups += [group] if group else []
    raw.media_texts = {t for e in node.iter() if e.tag in (f"{MEDIA}description", f"{MEDIA}title") if (t := _text(e))}
    for tag in _HTML_FIELDS:
        element = node.find(tag)
        if element is not None and len(element):
            break  # Atom type="xhtml": elements, not text; feedparser's serialization of it is used instead
        if element is not None and (element.text or "").strip():
            raw.html = element.text
            break
    return raw


def read_items(data: bytes, base: str) -> list[RawItem]:
    """Every item/entry of the raw feed; [] when the XML is not well-formed or declares entities."""
    if b"<!ENTITY" in data:  # no entity expansion from a hostile feed; feedparser's view is enough
        return []
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return []
    base = urljoin(base, root.get(_BASE) or "")
    channel = root.find("channel")
    adult = channel is not None and any((r.text or "").strip().lower() == "adult" and
                                        r.get("scheme", "urn:simple") == "urn:simple"
                                        for r in channel.findall(f"{MEDIA}rating"))
    nodes = root.iter("item") if root.tag != f"{ATOM}feed" else root.iter(f"{ATOM}entry")
    items = []
    for node in nodes:
        try:
            items.append(_item(node, base, adult))
        except ValueError:  # a URL urllib cannot resolve: that entry falls back to feedparser's view
            continue
    return items


def align(items: list[RawItem], entries: list[Any]) -> list[RawItem | None]:
    """The raw item of each feedparser entry: by position when both saw the same items, else by guid/id or link."""
    if len(items) == len(entries):
        return list(items)  # both in document order
    found: list[RawItem | None] = []
    for entry in entries:
        keys = {str(v).strip() for v in (entry.get("id"), entry.get("link")) if v}
        found.append(next((item for item in items if item.ids & keys), None))
    return found


def _largest(group: list[Rendition]) -> Rendition | None:
    """media:group holds renditions of one photo (rssboard.org/media-rss): the largest image among them."""
    images = [r for r in group if r.kind == "image"]
    if not images:
        return group[0] if group else None
    return max(images, key=lambda r: ((r.width or 0) * (r.height or 0), r.size or 0))


class Images(HTMLParser):
    """Every <img> with an http(s) src: (url, alt, width, height), the largest `srcset` candidate preferred."""

    def __init__(self, base: str):
        super().__init__(convert_charrefs=True)
        self.base = base
        self.found: list[tuple[str, str | None, int | None, int | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag != "img" or not (values.get("src") or values.get("srcset")):
            return
        width, height = _measure(values.get("width")), _measure(values.get("height"))
        if _tiny(width, height):
            return
        src, best = values.get("src") or "", _best_candidate(values.get("srcset") or "")
        if best:
            src, width, height = best[0], best[1] or width, None if best[1] else height
        url = web_url(urljoin(self.base, src.strip()))
        if url and not _FEEDBURNER.search(urlsplit(url).path):
            self.found.append((url, values.get("alt"), width, height))


def _best_candidate(srcset: str) -> tuple[str, int | None] | None:
    """The largest candidate of an HTML srcset ("a.jpg 480w, b.jpg 1080w" or "a.jpg 1x, b.jpg 2x")."""
    best, score = None, -1.0
    for candidate in srcset.split(","):
        parts = candidate.split()
        if not parts:
            continue
        descriptor = parts[1] if len(parts) > 1 else "1x"
        try:
            value = float(descriptor[:-1])
        except ValueError:
            continue
        weight = value if descriptor.endswith("w") else value * 1000 if descriptor.endswith("x") else -1
        if weight > score:
            best, score = (parts[0], int(value) if descriptor.endswith("w") else None), weight
    return best


def html_of(entry: Any, raw: RawItem | None) -> str:
    """The entry's own HTML: feedparser's content, minus the media:description it also files there."""
    texts = raw.media_texts if raw else set()
    for content in entry.get("content") or []:
        value = content.get("value") or ""
        if value and " ".join(value.split()) not in texts:
            return value
    summary = entry.get("summary") or ""
    return "" if " ".join(summary.split()) in texts else summary


def entry_media(entry: Any, raw: RawItem | None, base: str) -> tuple[list[MediaData], bool]:
    """(media, sensitive): media groups and enclosures first, then the content's <img>s, then media:thumbnail."""
    html = raw.html if raw and raw.html else html_of(entry, raw)
    imgs = Images(base)
    imgs.feed(html)
    alts = {src: alt for src, alt, _, _ in imgs.found if alt}
    if raw is not None:
        groups = raw.groups
        sensitive = raw.adult
    else:  # feedparser's flattened view: every media:content on its own
        groups = [[Rendition(url=u, type=e.get("type") or "")] for e in entry.get("enclosures") or []
                  if (u := web_url(e.get("href")))]
        groups += [[Rendition(url=u, type=m.get("type") or "", medium=(m.get("medium") or "").lower(),
                              width=_measure(m.get("width")), height=_measure(m.get("height")))]
                   for m in entry.get("media_content") or [] if (u := web_url(m.get("url")))]
        rating = entry.get("media_rating") or {}
        sensitive = str(rating.get("content") or "").strip().lower() == "adult"
    found: list[MediaData] = []
    for group in groups:
        # A declared side under MIN_SIDE is a thumbnail (The Guardian sends each photo at 140 and 460 px).
        best = _largest([r for r in group if not _tiny(r.width, r.height)])
        if best and best.kind in ("image", "video"):
            found.append(MediaData(url=best.url, kind=best.kind, alt_text=best.alt or alts.get(best.url),
                                   width=best.width, height=best.height))
    if not any(m.kind == "image" for m in found):
        found += [MediaData(url=src, alt_text=alt or None, width=w, height=h) for src, alt, w, h in imgs.found][:1]
    if not any(m.kind == "image" for m in found):
        found += [MediaData(url=url, width=_measure(t.get("width")), height=_measure(t.get("height")))
                  for t in entry.get("media_thumbnail") or [] if (url := web_url(t.get("url")))][:1]
    unique = {m.url: m for m in reversed(found)}
    images = [m for m in found if unique[m.url] is m and m.kind == "image"][:MAX_IMAGES]
    videos = [m for m in found if unique[m.url] is m and m.kind == "video"][:MAX_IMAGES]
    return images + videos, sensitive

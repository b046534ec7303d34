"""The site's feeds: RSS 2.0 with Media RSS (feedgen) and JSON Feed 1.1 (https://jsonfeed.org/version/1.1)."""

from __future__ import annotations

import json
from collections.abc import Callable

from feedgen.feed import FeedGenerator

from app.site.content import Entry

JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
FEED_ITEMS = 50  # the newest reposts; the wall has them all
TITLE_CHARS = 80


def title(entry: Entry) -> str:
    """The text's first line, shortened, or the credit when there is no text."""
    line = next((line.strip() for line in entry.text.splitlines() if line.strip()), "")
    if not line:
        return entry.credit
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def rss(site: dict, entries: list[Entry], url: Callable[[str], str], html: Callable[[Entry], str]) -> bytes:
    """feed.xml: one <item> per repost with its large image as media:content; `url` makes a site path a link."""
    fg = FeedGenerator()
    fg.load_extension("media", atom=False, rss=True)
    fg.title(site["title"])
    fg.description(site["description"])
    fg.link(href=url("feed.xml"), rel="self")
    fg.link(href=url(""), rel="alternate")  # feedgen makes the last link the channel's <link>
    fg.language("en")
    fg.generator("wlb export-site")
    for entry in entries[:FEED_ITEMS]:
        page = url(f"items/{entry.id}.html")
        fe = fg.add_entry(order="append")
        fe.guid(page, permalink=True)
        fe.link(href=page)
        fe.title(title(entry))
        fe.description(html(entry))
        fe.published(entry.published_at)
        for image in [] if entry.sensitive else entry.images:  # a reader would show it without the warning
            large = image["large"]
            fe.media.content({"url": url(f"img/{large.name}"), "type": "image/jpeg", "medium": "image",
                              "width": str(large.width), "height": str(large.height)}, group=None)
    return fg.rss_str(pretty=True)


def json_feed(site: dict, entries: list[Entry], url: Callable[[str], str], html: Callable[[Entry], str]) -> str:
    """feed.json: the spec's top-level and item fields, the optional ones only where there is a value."""
    items = []
    for entry in entries[:FEED_ITEMS]:
        page = url(f"items/{entry.id}.html")
        item = {"id": page, "url": page, "external_url": entry.original_url, "title": title(entry),
                "content_html": html(entry), "content_text": "\n\n".join(filter(None, [entry.text, entry.credit])),
                "image": url(f"img/{entry.images[0]['large'].name}") if entry.images and not entry.sensitive else None,
                "date_published": entry.published_at.isoformat(), "authors": [{"name": entry.who}],
                "language": entry.language}
        items.append({key: value for key, value in item.items() if value})
    feed = {"version": JSON_FEED_VERSION, "title": site["title"], "home_page_url": url(""),
            "feed_url": url("feed.json"), "description": site["description"], "language": "en", "items": items}
    feed = {key: value for key, value in feed.items() if value or key == "items"}
    return json.dumps(feed, ensure_ascii=False, indent=2) + "\n"

"""Flickr tag search: flickr.photos.search pages → normalized posts carrying their licence.

Paging uses upload dates as cursors rather than page numbers: Flickr returns at most 4,000
results per query, and page numbers shift while people upload (../shared/platforms.md §6).
A first run walks newest-first (date-posted-desc, then max_upload_date) for backfill_pages;
later runs walk forward (date-posted-asc from min_upload_date), so each page's watermark only
ever moves forward and an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import NamedTuple

from collector.flickr_api import FlickrAPI
from collector.html import html_to_text
from collector.base import OriginCheck, OriginClaim
from core.errors import ConfigError, NotFound, PlatformError
from core.http import Http
from core.posts import AuthorData, MediaData, Page, PostData, page_of
from core.settings import ChannelSettings, Settings

# flickr.photos.licenses.getInfo, as recorded 2025-06-19 (Flickr-Foundation/flickr-photos-api cassette).
LICENSES: dict[str, tuple[str, str]] = {
    "0": ("All Rights Reserved",
          "https://www.flickrhelp.com/hc/en-us/articles/10710266545556-Using-Flickr-images-shared-by-other-members"),
    "1": ("CC BY-NC-SA 2.0", "https://creativecommons.org/licenses/by-nc-sa/2.0/"),
    "2": ("CC BY-NC 2.0", "https://creativecommons.org/licenses/by-nc/2.0/"),
    "3": ("CC BY-NC-ND 2.0", "https://creativecommons.org/licenses/by-nc-nd/2.0/"),
    "4": ("CC BY 2.0", "https://creativecommons.org/licenses/by/2.0/"),
    "5": ("CC BY-SA 2.0", "https://creativecommons.org/licenses/by-sa/2.0/"),
    "6": ("CC BY-ND 2.0", "https://creativecommons.org/licenses/by-nd/2.0/"),
    "7": ("No known copyright restrictions", "https://www.flickr.com/commons/usage/"),
    "8": ("United States Government Work", "https://www.usa.gov/government-copyright"),
    "9": ("Public Domain Dedication (CC0)", "https://creativecommons.org/publicdomain/zero/1.0/"),
    "10": ("Public Domain Mark", "https://creativecommons.org/publicdomain/mark/1.0/"),
    "11": ("CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/"),
    "12": ("CC BY-SA 4.0", "https://creativecommons.org/licenses/by-sa/4.0/"),
    "13": ("CC BY-ND 4.0", "https://creativecommons.org/licenses/by-nd/4.0/"),
    "14": ("CC BY-NC 4.0", "https://creativecommons.org/licenses/by-nc/4.0/"),
    "15": ("CC BY-NC-SA 4.0", "https://creativecommons.org/licenses/by-nc-sa/4.0/"),
    "16": ("CC BY-NC-ND 4.0", "https://creativecommons.org/licenses/by-nc-nd/4.0/"),
}
# Largest first; url_o exists only when the owner allows original downloads.
SIZES = ("o", "l", "c", "z")
EXTRAS = ",".join(["license", "owner_name", "path_alias", *(f"url_{s}" for s in SIZES), "date_upload",
                   "date_taken", "description", "safety_level", "tags", "media"])
RESTRICTED = 2  # safety_level: 0 safe, 1 moderate, 2 restricted
MAX_SEEN = 8  # ids remembered for the newest upload second; more would overflow the 256-char watermark
_NSID = re.compile(r"\d+@N\d+")
_ALIAS = re.compile(r"[\w-]+")


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def uploaded(photo: dict) -> int:
    """The photo's upload time (unix seconds); a photo without one cannot be paged past."""
    value = _int(photo.get("dateupload"))
    if value is None:
        raise PlatformError(f"Flickr sent photo {photo.get('id')!r} without dateupload; the date_upload extra "
                            f"was not honoured")
    return value


def _image(photo: dict, max_pixels: int) -> MediaData | None:
    """The largest size we may download (originals past max_pixels are left out), the next one as fallback."""
    found = []
    for size in SIZES:
        url, width, height = photo.get(f"url_{size}"), _int(photo.get(f"width_{size}")), _int(photo.get(f"height_{size}"))
        if isinstance(url, str) and url.startswith(("https://", "http://")) and not (width and height and width * height > max_pixels):
            found.append(MediaData(url=url, width=width, height=height))
    if not found:
        return None
    return found[0] if len(found) == 1 else MediaData(url=found[0].url, remote_url=found[1].url,
                                                      width=found[0].width, height=found[0].height)


def parse_photo(photo: dict, *, max_pixels: int = 60_000_000) -> tuple[PostData | None, str | None]:
    """A search result → (post, None), or (None, why it was skipped). Strict on identity, lenient on decoration."""
    photo_id, owner = str(photo.get("id") or ""), str(photo.get("owner") or "")
    if not photo_id.isdigit() or not _NSID.fullmatch(owner):
        raise PlatformError(f"Flickr sent a photo without a valid id and owner (id {photo_id!r}, owner {owner!r})")
    created = datetime.fromtimestamp(uploaded(photo), UTC)
    if photo.get("media", "photo") != "photo":
        return None, "video only"
    image = _image(photo, max_pixels)
    if image is None:
        return None, "no image"
    alias = photo.get("pathalias") if isinstance(photo.get("pathalias"), str) else ""
    handle = alias if _ALIAS.fullmatch(alias or "") else owner
    profile = f"https://www.flickr.com/photos/{handle}/"
    author = AuthorData(handle=handle, name=str(photo.get("ownername") or handle), profile_url=profile,
                        network="flickr", uid=owner)
    description = photo.get("description")
    description = description.get("_content") if isinstance(description, dict) else description
    # A missing or unknown licence id must never read as "no licence" (free to repost): name it.
    license_id = str(photo.get("license", ""))
    name, url = LICENSES.get(license_id, (f"unknown Flickr licence {license_id or '(none sent)'}", None))
    tags = photo.get("tags") if isinstance(photo.get("tags"), str) else ""
    post = PostData(
        key=f"flickr:{photo_id}", remote_id=photo_id, url=f"{profile}{photo_id}/", author=author, created_at=created,
        text=html_to_text(description if isinstance(description, str) else ""),
        sensitive=_int(photo.get("safety_level")) == RESTRICTED, tags=tuple(tags.lower().split()),
        media=(image,), license=name, license_url=url, title=str(photo.get("title") or "").strip() or None,
    )
    return post, None


class Mark(NamedTuple):
    """The stored watermark: the newest upload second committed (and its ids), and where a backfill continues."""

    newest: int | None
    seen: tuple[str, ...] = ()
    older_than: int | None = None
    pages_left: int = 0

    def encode(self) -> str:
        data = {"t": self.newest, "ids": list(self.seen[-MAX_SEEN:]), "b": self.older_than, "n": self.pages_left}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, value: str | None) -> Mark:
        try:
            data = json.loads(value or "")
            return cls(int(data["t"]), tuple(str(i) for i in data.get("ids") or ()), _int(data.get("b")),
                       int(data.get("n") or 0))
        except (ValueError, KeyError, TypeError):
            return cls(None)  # nothing stored yet (or unreadable): start like a first run


def _ids_at(photos: list[dict], second: int) -> tuple[str, ...]:
    return tuple(str(p.get("id")) for p in photos if uploaded(p) == second)


class FlickrCollector:
    """Pages flickr.photos.search for one tag, stopping at the stored watermark."""

    def __init__(self, api: FlickrAPI, *, per_page: int = 40, backfill_pages: int = 5, max_pixels: int = 60_000_000):
        self.api = api
        self.per_page = per_page
        self.backfill_pages = backfill_pages
        self.max_pixels = max_pixels

    def pages(self, hashtag: str, watermark: str | None) -> Iterator[Page]:
        mark = Mark.decode(watermark)
        if mark.newest is None:
            yield from self._first(hashtag)
            return
        mark = yield from self._forward(hashtag, mark)
        yield from self._backfill(hashtag, mark)

    def _search(self, tag: str, sort: str, **kwargs: int | None) -> tuple[list[dict], int]:
        return self.api.search(tag, sort=sort, per_page=self.per_page, extras=EXTRAS, **kwargs)

    def _last(self, photos: list[dict], page: int, pages: int) -> bool:
        return len(photos) < self.per_page or 0 < pages <= page

    def _page(self, photos: list[dict], mark: Mark | None) -> Page:
        return page_of((parse_photo(p, max_pixels=self.max_pixels) for p in photos),
                       watermark=mark.encode() if mark else None, fetched=len(photos))

    def _first(self, tag: str) -> Iterator[Page]:
        """First run: the newest page, then (resumably) older pages up to backfill_pages."""
        photos, pages = self._search(tag, "date-posted-desc")
        if not photos:
            yield self._page([], None)
            return
        times = [uploaded(p) for p in photos]
        more = len(photos) >= self.per_page and pages != 1 and self.backfill_pages > 1
        mark = Mark(max(times), _ids_at(photos, max(times)), min(times) if more else None, self.backfill_pages - 1)
        yield self._page(photos, mark)
        yield from self._backfill(tag, mark, _ids_at(photos, min(times)))

    def _forward(self, tag: str, mark: Mark) -> Iterator[Page]:
        """Oldest-first from the watermark's second; min_upload_date is inclusive, so seen ids are dropped."""
        page = 1
        while True:
            photos, pages = self._search(tag, "date-posted-asc", min_upload_date=mark.newest, page=page)
            fresh = [p for p in photos if uploaded(p) > mark.newest
                     or (uploaded(p) == mark.newest and str(p.get("id")) not in mark.seen)]
            if not fresh:
                yield self._page([], None)
                # Only a full page of photos from the watermark's own second is worth the next page.
                if self._last(photos, page, pages) or any(uploaded(p) != mark.newest for p in photos):
                    return mark
                page += 1
                continue
            newest = max(uploaded(p) for p in fresh)
            same_second = newest == mark.newest
            mark = mark._replace(newest=newest, seen=(mark.seen if same_second else ()) + _ids_at(fresh, newest))
            yield self._page(fresh, mark)
            if self._last(photos, page, pages):
                return mark
            page = page + 1 if same_second else 1

    def _backfill(self, tag: str, mark: Mark, boundary: tuple[str, ...] = ()) -> Iterator[Page]:
        """Newest-first from older_than (inclusive: `boundary` holds the ids of that second already yielded)."""
        page = 1
        while mark.older_than is not None and mark.pages_left > 0:
            photos, pages = self._search(tag, "date-posted-desc", max_upload_date=mark.older_than, page=page)
            oldest = min((uploaded(p) for p in photos), default=None)
            stuck = oldest is not None and oldest >= mark.older_than  # a whole page from the cursor's own second
            done = self._last(photos, page, pages) or mark.pages_left <= 1 or oldest is None
            newest_too = tuple(i for i in _ids_at(photos, mark.newest) if i not in mark.seen)
            mark = mark._replace(older_than=None if done else oldest, pages_left=mark.pages_left - 1,
                                 seen=mark.seen + newest_too)
            yield self._page([p for p in photos if str(p.get("id")) not in boundary], mark)
            boundary = (boundary if stuck else ()) + _ids_at(photos, oldest) if oldest is not None else ()
            page = page + 1 if stuck else 1

    def verify(self, claim: OriginClaim) -> OriginCheck:
        """Until the origin is asked directly: deleted or not, as the channel that served it says."""
        return OriginCheck(deleted=not self.exists(claim.remote_id))

    def exists(self, remote_id: str) -> bool:
        try:
            self.api.photo_info(remote_id)
        except NotFound:
            return False
        return True


def build(channel: ChannelSettings, settings: Settings, http: Http) -> FlickrCollector:
    """The collector for a `kind = "flickr"` channel: API key from the variable token_env names."""
    key = channel.token()
    if not key:
        raise ConfigError(f"a flickr channel needs an API key: set token_env and export "
                          f"${channel.token_env or 'WLB_FLICKR_KEY'} (https://www.flickr.com/services/apps/create/)")
    api = FlickrAPI(http, channel.base_url or "https://api.flickr.com/services/rest", key, key_env=channel.token_env)
    return FlickrCollector(api, per_page=settings.collect.page_size, backfill_pages=settings.collect.backfill_pages,
                           max_pixels=settings.network.max_pixels)

"""Flickr tag search: flickr.photos.search pages → normalized posts carrying their licence.

Paging uses upload dates as cursors rather than page numbers: Flickr returns at most 4,000
results per query ("at most the first 4,000 results for any given search query",
https://www.flickr.com/services/api/flickr.photos.search.html), and page numbers shift while people upload.
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

from platforms.flickr import FlickrAPI
from collector.html import html_to_text
from core import watermark
from core.bounds import as_int
from core.posts import OriginCheck, OriginClaim
from core.errors import ConfigError, NotFound, PlatformError
from core.http import Http
from core.posts import AuthorData, MediaData, Page, PostData, page_of, parse_each
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
# Sizes we ask for and their nominal longest side (flickr.com/services/api/misc.urls.html). Owners can
# restrict originals: in real search results url_o is mostly absent while url_k (2048 px) is there.
# url_o's size is the upload's own, known only from width_o/height_o.
SIZES = {"o": None, "k": 2048, "h": 1600, "l": 1024}  # on a tie, the first: the original's own bytes
EXTRAS = ",".join(["license", "owner_name", "path_alias", *(f"url_{s}" for s in SIZES), "date_upload",
                   "date_taken", "description", "safety_level", "media"])
_LATEST = 253402300799  # 9999-12-31T23:59:59Z: past it a unix time is not a date datetime can hold
RESTRICTED = 2  # safety_level: 0 safe, 1 moderate, 2 restricted
# Ids remembered for the newest upload second, so the next run's inclusive min_upload_date does not count them as
# new. Photos past it are fetched again and recognised by their key: a burst upload costs a request, no duplicate.
MAX_SEEN = 200
_NSID = re.compile(r"\d+@N\d+")
_ALIAS = re.compile(r"[\w-]+")


def uploaded(photo: dict) -> int | None:
    """The photo's upload time (unix seconds), or None if it sent none we can read: that photo is skipped."""
    value = as_int(photo.get("dateupload"))
    return value if value is not None and 0 < value <= _LATEST else None


def _image(photo: dict, max_pixels: int) -> MediaData | None:
    """The largest size within max_pixels, the next largest as fallback (a download refused as too big tries it)."""
    found = []
    for size, nominal in SIZES.items():
        url, width, height = photo.get(f"url_{size}"), as_int(photo.get(f"width_{size}")), as_int(photo.get(f"height_{size}"))
        if not (isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) <= 2048):
            continue
        pixels = width * height if width and height and width > 0 and height > 0 else None
        if pixels is not None and pixels > max_pixels:
            continue
        # Without dimensions: an original ranks first (never smaller than the sizes made from it), others by name.
        rank = pixels if pixels is not None else (float("inf") if nominal is None else nominal * nominal * 3 // 4)
        found.append((rank, MediaData(url=url, width=width if pixels else None, height=height if pixels else None)))
    found.sort(key=lambda f: f[0], reverse=True)
    if not found:
        return None
    best = found[0][1]
    return best if len(found) == 1 else MediaData(url=best.url, remote_url=found[1][1].url, width=best.width,
                                                  height=best.height)


def parse_photo(photo: dict, *, max_pixels: int = 60_000_000) -> tuple[PostData | None, str | None]:
    """A search result → (post, None), or (None, why it was skipped). Strict on identity, lenient on decoration."""
    photo_id, owner = str(photo.get("id") or ""), str(photo.get("owner") or "")
    if not photo_id.isdigit() or len(photo_id) > 32 or not _NSID.fullmatch(owner):
        return None, "malformed (no valid id and owner)"
    when = uploaded(photo)
    if when is None:
        return None, "malformed (no upload date)"
    created = datetime.fromtimestamp(when, UTC)
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
    post = PostData(
        key=f"flickr:{photo_id}", remote_id=photo_id, url=f"{profile}{photo_id}/", author=author, created_at=created,
        text=html_to_text(description if isinstance(description, str) else ""),
        sensitive=as_int(photo.get("safety_level")) == RESTRICTED,
        media=(image,), license=name, license_url=url, title=str(photo.get("title") or "").strip() or None,
    )
    return post, None


class Mark(NamedTuple):
    """The stored watermark: the newest upload second committed (and its ids), and where a backfill continues."""

    newest: int | None = None
    seen: tuple[str, ...] = ()
    older_than: int | None = None
    pages_left: int = 0

    def encode(self) -> str | None:
        return watermark.encode(self._replace(seen=self.seen[-MAX_SEEN:]))

    @classmethod
    def decode(cls, value: str | None) -> Mark:
        return watermark.decode(cls, value, legacy=_legacy)


def _legacy(value: str) -> Mark:
    """Before the versioned encoding: {"t": newest, "ids": seen (at most 8), "b": older_than, "n": pages_left}."""
    data = json.loads(value)
    return Mark(int(data["t"]), tuple(str(i) for i in data.get("ids") or ()), as_int(data.get("b")),
                int(data.get("n") or 0))


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

    def _page(self, photos: list[dict], mark: Mark | None, fetched: int | None = None) -> Page:
        return page_of(parse_each(photos, lambda p: parse_photo(p, max_pixels=self.max_pixels)),
                       watermark=mark.encode() if mark else None,
                       fetched=len(photos) if fetched is None else fetched)

    def _first(self, tag: str) -> Iterator[Page]:
        """First run: the newest page, then (resumably) older pages up to backfill_pages."""
        photos, pages = self._search(tag, "date-posted-desc")
        times = [t for t in map(uploaded, photos) if t is not None]
        if not times:  # nothing, or nothing with a date: skipped with their reason, no watermark to store
            yield self._page(photos, None)
            return
        more = len(photos) >= self.per_page and pages != 1 and self.backfill_pages > 1
        mark = Mark(max(times), _ids_at(photos, max(times)), min(times) if more else None, self.backfill_pages - 1)
        yield self._page(photos, mark)
        yield from self._backfill(tag, mark, _ids_at(photos, min(times)))

    def _forward(self, tag: str, mark: Mark) -> Iterator[Page]:
        """Oldest-first from the watermark's second; min_upload_date is inclusive, so seen ids are dropped."""
        page, counted = 1, set()
        while True:
            photos, pages = self._search(tag, "date-posted-asc", min_upload_date=mark.newest, page=page)
            times = [(p, uploaded(p)) for p in photos]
            # A photo without a date cannot be placed: it is skipped with its reason (once per run, though
            # a restarted page may show it again), and paging goes by the others.
            undated = [p for p, t in times if t is None and str(p.get("id")) not in counted]
            counted |= {str(p.get("id")) for p in undated}
            fresh = [p for p, t in times if t is not None and (t > mark.newest or (t == mark.newest and str(
                p.get("id")) not in mark.seen))]
            if not fresh:
                yield self._page(undated, None, len(photos))
                # Only a full page of photos from the watermark's own second is worth the next page.
                if self._last(photos, page, pages) or any(t not in (None, mark.newest) for _, t in times):
                    return mark
                page += 1
                continue
            newest = max(uploaded(p) for p in fresh)
            same_second = newest == mark.newest
            mark = mark._replace(newest=newest, seen=(mark.seen if same_second else ()) + _ids_at(fresh, newest))
            yield self._page(fresh + undated, mark, len(photos))
            if self._last(photos, page, pages):
                return mark
            page = page + 1 if same_second else 1

    def _backfill(self, tag: str, mark: Mark, boundary: tuple[str, ...] = ()) -> Iterator[Page]:
        """Newest-first from older_than (inclusive: `boundary` holds the ids of that second already yielded)."""
        page = 1
        while mark.older_than is not None and mark.pages_left > 0:
            photos, pages = self._search(tag, "date-posted-desc", max_upload_date=mark.older_than, page=page)
            oldest = min((t for t in map(uploaded, photos) if t is not None), default=None)
            # A whole page from the cursor's own second (or with no date to move it by): the next page number.
            stuck = oldest is None or oldest >= mark.older_than
            done = self._last(photos, page, pages) or mark.pages_left <= 1
            newest_too = tuple(i for i in _ids_at(photos, mark.newest) if i not in mark.seen)
            cursor = mark.older_than if oldest is None else min(oldest, mark.older_than)
            mark = mark._replace(older_than=None if done else cursor, pages_left=mark.pages_left - 1,
                                 seen=mark.seen + newest_too)
            yield self._page([p for p in photos if str(p.get("id")) not in boundary], mark, len(photos))
            if oldest is not None:
                boundary = (boundary if stuck else ()) + _ids_at(photos, oldest)
            page = page + 1 if stuck else 1

    def verify(self, claim: OriginClaim) -> OriginCheck:
        """Ask flickr.photos.getInfo: gone (code 1), someone else's photo, or confirmed with its image URL."""
        if not claim.remote_id.isdigit() or claim.key != f"flickr:{claim.remote_id}":
            return OriginCheck(problem="the stored key is not a Flickr photo id")
        try:
            body = self.api.photo_info(claim.remote_id)
        except NotFound:
            return OriginCheck(deleted=True)
        except PlatformError:
            return OriginCheck(verified=False)  # unavailable, over budget: nothing known
        return check_info(body, claim)

    def exists(self, remote_id: str) -> bool:
        try:
            self.api.photo_info(remote_id)
        except NotFound:
            return False
        return True


def check_info(body: dict, claim: OriginClaim) -> OriginCheck:
    """Compare flickr.photos.getInfo's answer with what we stored about the photo."""
    photo = body.get("photo") if isinstance(body.get("photo"), dict) else {}
    owner = photo.get("owner") if isinstance(photo.get("owner"), dict) else {}
    nsid = owner.get("nsid")
    if str(photo.get("id")) != claim.remote_id or not isinstance(nsid, str) or not _NSID.fullmatch(nsid):
        return OriginCheck(verified=False)  # an answer about nothing we asked: cannot tell
    if claim.author_uid and nsid != claim.author_uid:
        return OriginCheck(problem=f"Flickr says photo {claim.remote_id} is by {nsid}, not by {claim.author_uid}")
    # Every size of a photo is a file named <id>_<secret>_<size>.jpg (flickr.com/services/api/misc.urls.html).
    if any(not url.split("?")[0].rsplit("/", 1)[-1].startswith(f"{claim.remote_id}_") for url in claim.media_urls):
        return OriginCheck(problem=f"an image we stored is not a file of Flickr photo {claim.remote_id}")
    # Flickr is one origin, not a federation: the images we stored came from its own API answer, so there is
    # no second copy to compare (and getInfo names no size we could download through a configured base_url).
    return OriginCheck(verified=True)


def build(channel: ChannelSettings, settings: Settings, http: Http) -> FlickrCollector:
    """The collector for a `kind = "flickr"` channel: API key from the variable token_env names."""
    key = channel.token()
    if not key:
        raise ConfigError(f"a flickr channel needs an API key: set token_env and export "
                          f"${channel.token_env or 'WLB_FLICKR_KEY'} (https://www.flickr.com/services/apps/create/)")
    api = FlickrAPI(http, channel.base_url or "https://api.flickr.com/services/rest", key, key_env=channel.token_env)
    return FlickrCollector(api, per_page=settings.collect.page_size, backfill_pages=settings.collect.backfill_pages,
                           max_pixels=settings.network.max_pixels)

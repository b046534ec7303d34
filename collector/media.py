"""Download images with bounded concurrency into the media store, refusing bad ones."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from core.decode_budget import DecodeBudget, budget_for
from core.errors import PlatformError
from core.fingerprints import ImageHashes, hash_image
from core.http import BlockedAddress, Http, TooLarge
from core.images import ImageInfo, RefusedImage, inspect_image
from core.media import MediaStore


@dataclass(frozen=True)
class Fetched:
    """The outcome for one media row: stored (sha256/path/info), refused (permanent) or failed (retry later)."""

    media_id: int
    sha256: str | None = None
    path: str | None = None
    info: ImageInfo | None = None
    size: int = 0
    hashes: ImageHashes | None = None
    refused: str | None = None
    failed: str | None = None


def fetch_one(http: Http, store: MediaStore, media_id: int, urls: list[str], *, max_bytes: int, max_pixels: int,
              budget: DecodeBudget | None = None) -> Fetched:
    """Download the first URL that answers, check it really is a sane image, and store it."""
    error = "no URL"
    for url in urls:
        try:
            data = http.download(url, max_bytes=max_bytes)
        except BlockedAddress as exc:
            return Fetched(media_id, refused=str(exc))
        except TooLarge as exc:  # the next URL may be a smaller size of the same photo (Flickr's url_l)
            if url == urls[-1]:
                return Fetched(media_id, refused=str(exc))
            continue
        except PlatformError as exc:
            error = str(exc)
            continue
        try:
            info = inspect_image(data, max_pixels=max_pixels, max_bytes=max_bytes, budget=budget)
        except RefusedImage as exc:
            return Fetched(media_id, refused=exc.reason)
        try:
            # Hashed here, while the bytes are in memory and on the download threads, instead of
            # decoding the file a second time on the curate stage's single thread.
            hashes = hash_image(data, budget=budget)
        except RefusedImage as exc:
            return Fetched(media_id, refused=exc.reason)
        sha, rel = store.put(data, info.format)
        return Fetched(media_id, sha256=sha, path=rel, info=info, size=len(data), hashes=hashes)
    return Fetched(media_id, failed=error)


def fetch_all(http: Http, store: MediaStore, jobs: Iterable[tuple[int, list[str]]], *, concurrency: int,
              max_bytes: int, max_pixels: int, on_done: Callable[[Fetched], None] | None = None,
              budget: DecodeBudget | None = None) -> Iterator[Fetched]:
    """Run downloads on a bounded thread pool; yield results as they complete, in submission order.

    Decodes share one pixel budget: eight threads each decoding a 60-megapixel PNG took 2.2 GB together.
    """
    budget = budget or DecodeBudget(budget_for(max_pixels))
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="wlb-media") as pool:
        futures = [pool.submit(fetch_one, http, store, media_id, urls, max_bytes=max_bytes, max_pixels=max_pixels,
                               budget=budget) for media_id, urls in jobs]
        try:
            for future in futures:
                result = future.result()
                if on_done:
                    on_done(result)
                yield result
        except BaseException:  # a full disk fails every download alike: do not start the others
            for future in futures:
                future.cancel()
            raise

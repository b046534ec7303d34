"""In-memory index of image hashes for near-duplicate lookup, vectorized with numpy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from curation.hashing import ImageHashes, to_signed, to_unsigned

_INITIAL_CAPACITY = 1024
_NO_SHA = b""


@dataclass(frozen=True)
class Match:
    """A stored image close to the query; `exact` means the very same bytes."""

    post_id: int
    media_id: int
    phash_distance: int
    dhash_distance: int
    exact: bool


class HashIndex:
    """Parallel growable arrays (one row per stored image) scanned with XOR + popcount."""

    def __init__(self) -> None:
        self._size = 0
        self._post = np.empty(0, dtype=np.int64)
        self._media = np.empty(0, dtype=np.int64)
        self._phash = np.empty(0, dtype=np.uint64)
        self._dhash = np.empty(0, dtype=np.uint64)
        self._sha = np.empty(0, dtype="S32")
        self._reserve(_INITIAL_CAPACITY)

    def add(self, post_id: int, media_id: int, hashes: ImageHashes) -> None:
        """Store one image's hashes."""
        self.add_many([(post_id, media_id, hashes.sha256, hashes.phash, hashes.dhash)])

    def add_many(self, rows: Iterable[tuple[int, int, str | None, int, int]]) -> None:
        """Store (post_id, media_id, sha256, phash, dhash) rows, e.g. straight from a database query."""
        rows = list(rows)
        if not rows:
            return
        posts, medias, shas, phashes, dhashes = zip(*rows, strict=True)
        start, end = self._size, self._size + len(rows)
        self._reserve(end)
        self._post[start:end] = posts
        self._media[start:end] = medias
        self._sha[start:end] = [_digest(sha) for sha in shas]
        # Signed int64 (as the database stores them) reinterpreted as the same 64 bits unsigned.
        self._phash[start:end] = np.array([to_signed(h) for h in phashes], dtype=np.int64).view(np.uint64)
        self._dhash[start:end] = np.array([to_signed(h) for h in dhashes], dtype=np.int64).view(np.uint64)
        self._size = end

    def remove_post(self, post_id: int) -> None:
        """Forget every image of one post."""
        keep = self._post[: self._size] != post_id
        kept = int(keep.sum())
        if kept == self._size:
            return
        for array in (self._post, self._media, self._phash, self._dhash, self._sha):
            array[:kept] = array[: self._size][keep]
        self._size = kept

    def __len__(self) -> int:
        return self._size

    def matches(self, hashes: ImageHashes, *, phash_distance: int, dhash_distance: int) -> list[Match]:
        """Stored images with the same bytes, or within both distances; closest first."""
        n = self._size
        dist_p = np.bitwise_count(self._phash[:n] ^ np.uint64(to_unsigned(hashes.phash)))
        dist_d = np.bitwise_count(self._dhash[:n] ^ np.uint64(to_unsigned(hashes.dhash)))
        # Both signals must agree: one random 64-bit hash lands within 10 bits of another too often.
        near = (dist_p <= phash_distance) & (dist_d <= dhash_distance)
        digest = _digest(hashes.sha256)
        exact = self._sha[:n] == digest if digest != _NO_SHA else np.zeros(n, dtype=bool)
        found = [
            Match(int(self._post[i]), int(self._media[i]), int(dist_p[i]), int(dist_d[i]), bool(exact[i]))
            for i in np.flatnonzero(near | exact)
        ]
        found.sort(key=lambda m: (not m.exact, m.phash_distance + m.dhash_distance, m.post_id))
        return found

    def _reserve(self, needed: int) -> None:
        """Grow every array to hold `needed` rows, doubling so appends stay amortized O(1)."""
        capacity = len(self._post)
        if needed <= capacity:
            return
        capacity = max(needed, capacity * 2, _INITIAL_CAPACITY)
        for name in ("_post", "_media", "_phash", "_dhash", "_sha"):
            old = getattr(self, name)
            new = np.zeros(capacity, dtype=old.dtype)
            new[: self._size] = old[: self._size]
            setattr(self, name, new)


def _digest(sha256: str | None) -> bytes:
    """32 raw bytes from a hex sha256; empty when unknown, which never equals a real digest."""
    return bytes.fromhex(sha256) if sha256 else _NO_SHA

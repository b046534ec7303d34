"""In-memory index of every stored kind of hash, scanned with vectorized XOR + popcount, and the match rules."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from core.fingerprints import RECORD, ImageHashes
from core.hashbits import to_unsigned
from core.models import AUTO, POSSIBLE
from core.signals import (BOTTOM, C85, C90, CORNERS, FULL, KINDS, LEFT, MIRROR, RIGHT, ROT90, ROT270, TOP, WHOLE)

STRAIGHT, TURNED = "straight", "turned"
# (query kind, stored kind) → rule. Symmetric on purpose: whichever copy arrives first, the pair is compared.
PAIRS: dict[tuple[int, int], str] = {
    (FULL, FULL): "same photo",
    (WHOLE, FULL): "framed", (FULL, WHOLE): "framed",
    (C90, C90): "edges edited",  # a watermark or sticker near an edge: compare the centres
    **{pair: "cropped" for sub in (C85, C90, LEFT, RIGHT, TOP, BOTTOM) for pair in ((FULL, sub), (sub, FULL))},
    # Corner crops, from query-only kinds: the original's corner box against the crop's full image (crop first),
    # the crop's opposite corner box against the original's centre 85% (crop later).
    **{(corner, stored): "cropped" for corner in CORNERS for stored in (FULL, C85)},
    (MIRROR, FULL): "mirrored",
    (ROT90, FULL): "rotated", (ROT270, FULL): "rotated",
}
RANK = {rule: n for n, rule in enumerate(dict.fromkeys(PAIRS.values()))}  # on equal distances, the plainest rule
RULE_KIND = {rule: TURNED if rule in ("mirrored", "rotated") else STRAIGHT for rule in PAIRS.values()}
STORED = tuple(k.id for k in KINDS if k.stored)
_INITIAL_CAPACITY = 1024


@dataclass(frozen=True)
class Rules:
    """Distance limits. Automatic merging needs both hashes to agree; mirrored and rotated matches need more."""

    phash: int = 10
    dhash: int = 12
    turned: int = 4  # both hashes, for mirrored/rotated: symmetric scenes look alike mirrored
    possible_phash: int = 12
    possible_dhash: int = 14

    def tier(self, rule: str, p: int, d: int) -> str | None:
        """AUTO, POSSIBLE or None for a pair of distances found by `rule`."""
        if RULE_KIND[rule] == TURNED:
            if p <= self.turned and d <= self.turned:
                return AUTO
            return POSSIBLE if p <= self.phash and d <= self.dhash else None
        if p <= self.phash and d <= self.dhash:
            return AUTO
        return POSSIBLE if p <= self.possible_phash and d <= self.possible_dhash else None

    def scan_limit(self, rule: str) -> int:
        """The pHash distance under which a stored hash is worth looking at for `rule`."""
        return self.phash if RULE_KIND[rule] == TURNED else max(self.phash, self.possible_phash)


@dataclass(frozen=True)
class Match:
    """A stored image close to the query: which rule found it, how sure (AUTO or POSSIBLE), how far."""

    post_id: int
    media_id: int
    rule: str
    tier: str
    phash_distance: int
    dhash_distance: int
    exact: bool = False


class _Column:
    """Growable parallel arrays for one stored kind: pHash, dHash, and the row of the image they belong to."""

    def __init__(self) -> None:
        self.size = 0
        self.phash = np.zeros(0, dtype=np.uint64)
        self.dhash = np.zeros(0, dtype=np.uint64)
        self.image = np.zeros(0, dtype=np.int32)

    def extend(self, phash: np.ndarray, dhash: np.ndarray, image: np.ndarray) -> None:
        end = self.size + len(phash)
        if end > len(self.phash):
            capacity = max(end, 2 * len(self.phash), _INITIAL_CAPACITY)
            for name in ("phash", "dhash", "image"):
                old = getattr(self, name)
                grown = np.zeros(capacity, dtype=old.dtype)
                grown[: self.size] = old[: self.size]
                setattr(self, name, grown)
        self.phash[self.size:end], self.dhash[self.size:end], self.image[self.size:end] = phash, dhash, image
        self.size = end


class HashIndex:
    """Every stored kind of every image, one column per kind, so each query kind scans only what it pairs with."""

    def __init__(self) -> None:
        self._n = 0
        self._post = np.zeros(0, dtype=np.int64)
        self._media = np.zeros(0, dtype=np.int64)
        self._sha = np.zeros(0, dtype=np.uint64)  # first 8 bytes of the sha256; 0 when unknown
        self._columns = {kind: _Column() for kind in STORED}

    def __len__(self) -> int:
        return self._n

    @property
    def hashes(self) -> int:
        """How many stored hashes (all kinds) the index holds."""
        return sum(c.size for c in self._columns.values())

    def add(self, post_id: int, media_id: int, hashes: ImageHashes) -> None:
        """Store one image's hashes."""
        self.add_many([(post_id, media_id, hashes.sha256, hashes.records or None, hashes.phash, hashes.dhash)])

    def add_many(self, rows: Sequence[tuple[int, int, str | None, bytes | None, int | None, int | None]]) -> None:
        """Store (post_id, media_id, sha256, packed records, phash, dhash) rows straight from a database query."""
        if not rows:
            return
        posts, medias, shas, blobs, phashes, dhashes = zip(*rows, strict=True)
        start = self._n
        self._grow(start + len(rows))
        self._post[start:start + len(rows)] = posts
        self._media[start:start + len(rows)] = medias
        self._sha[start:start + len(rows)] = [int(s[:16], 16) if s else 0 for s in shas]
        self._n += len(rows)
        # Rows hashed before the hash set existed only have the full image's hashes: one record each.
        packed = [bytes(b) if b else _legacy(p, d) for b, p, d in zip(blobs, phashes, dhashes, strict=True)]
        records = np.frombuffer(b"".join(packed), dtype=RECORD)
        owner = np.repeat(np.arange(start, self._n, dtype=np.int32), [len(b) // RECORD.itemsize for b in packed])
        for kind, column in self._columns.items():
            mine = records["kind"] == kind
            if mine.any():
                column.extend(records["phash"][mine], records["dhash"][mine], owner[mine])

    def matches(self, hashes: ImageHashes, rules: Rules) -> list[Match]:
        """The best match per stored image: exact bytes, AUTO or POSSIBLE; surest and closest first."""
        return ranked(*self.candidates(hashes, rules), rules, self.owner)

    def candidates(self, hashes: ImageHashes, rules: Rules, base: int = 0) -> tuple[list[tuple[int, str, int, int]], list[int]]:
        """(row + base, rule, pHash, dHash distances) within each pair's scan limit, and the rows of the same file."""
        query = query_hashes(hashes)
        hits: list[tuple[int, str, int, int]] = []
        for (qkind, skind), rule in PAIRS.items():
            column = self._columns.get(skind)
            if qkind not in query or column is None or column.size == 0:
                continue
            qp, qd = query[qkind]
            dist_p = np.bitwise_count(column.phash[: column.size] ^ qp)
            near = np.flatnonzero(dist_p <= rules.scan_limit(rule))
            if near.size:
                dist_d = np.bitwise_count(column.dhash[near] ^ qd)
                hits += [(i + base, rule, p, d) for i, p, d in zip(column.image[near].tolist(), dist_p[near].tolist(),
                                                                   dist_d.tolist(), strict=True)]
        same = (np.flatnonzero(self._sha[: self._n] == sha_key(hashes)) + base).tolist() if hashes.sha256 else []
        return hits, same

    def owner(self, row: int) -> tuple[int, int]:
        """(post id, media id) of a stored image."""
        return int(self._post[row]), int(self._media[row])

    def export(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """(post, media, sha key) per image and (pHash, dHash, image row) per stored kind: what a file keeps."""
        columns = {k: (c.phash[: c.size], c.dhash[: c.size], c.image[: c.size]) for k, c in self._columns.items()}
        return self._post[: self._n], self._media[: self._n], self._sha[: self._n], columns

    @classmethod
    def from_arrays(cls, post: np.ndarray, media: np.ndarray, sha: np.ndarray,
                    columns: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> HashIndex:
        """An index holding what `export` returned (kinds this wlb does not store are left out)."""
        index = cls()
        index._grow(len(post))
        index._n = len(post)
        index._post[: index._n], index._media[: index._n], index._sha[: index._n] = post, media, sha
        for kind, (phash, dhash, image) in columns.items():
            if kind in index._columns and len(phash):
                index._columns[kind].extend(phash, dhash, image)
        return index

    def _grow(self, needed: int) -> None:
        if needed <= len(self._post):
            return
        capacity = max(needed, 2 * len(self._post), _INITIAL_CAPACITY)
        for name in ("_post", "_media", "_sha"):
            old = getattr(self, name)
            grown = np.zeros(capacity, dtype=old.dtype)
            grown[: self._n] = old[: self._n]
            setattr(self, name, grown)


def _legacy(phash: int | None, dhash: int | None) -> bytes:
    return np.array([(FULL, to_unsigned(phash or 0), to_unsigned(dhash or 0))], dtype=RECORD).tobytes()


def query_hashes(hashes: ImageHashes) -> dict[int, tuple[np.uint64, np.uint64]]:
    """Query kind → (pHash, dHash) as unsigned 64-bit values."""
    return {int(r["kind"]): (r["phash"], r["dhash"]) for r in hashes.kinds()}


def sha_key(hashes: ImageHashes) -> np.uint64:
    """The first 8 bytes of the sha256 as the index keeps them (0: unknown)."""
    return np.uint64(int(hashes.sha256[:16], 16)) if hashes.sha256 else np.uint64(0)


def ranked(hits: Iterable[tuple[int, str, int, int]], same_file: Iterable[int], rules: Rules,
           owner: Callable[[int], tuple[int, int]]) -> list[Match]:
    """(image, rule, pHash, dHash distances) within a rule's scan limit → the best match per image, surest first."""
    best: dict[int, tuple] = {}
    for i, rule, p, d in hits:
        tier = rules.tier(rule, p, d)
        if tier:
            key = (tier != AUTO, p + d, p, RANK[rule])
            if i not in best or key < best[i][0]:
                best[i] = (key, rule, tier, p, d)
    for i in same_file:
        best[i] = ((False, -1, 0, -1), "same file", AUTO, 0, 0)
    found = [Match(*owner(i), rule, tier, p, d, exact=rule == "same file") for i, (_, rule, tier, p, d) in best.items()]
    # media_id last: equal distances to two images of one item rank the same whichever index found them first
    found.sort(key=lambda m: (not m.exact, m.tier != AUTO, m.phash_distance + m.dhash_distance, m.post_id, m.media_id))
    return found

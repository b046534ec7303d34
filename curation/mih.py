"""Multi-index hashing (Norouzi et al.): Hamming-radius search over 64-bit hashes without reading every hash.

The 64 bits of each pHash are cut into CHUNKS substrings. If two hashes differ in at most L bits, then for any
radii r_c with sum(r_c + 1) > L one substring c differs in at most r_c bits (pigeonhole). Each table keeps the
hashes sorted by one substring with a bucket offset per substring value, so a lookup reads only the buckets
within r_c of the query's substring, then checks the full pHash and dHash distances of what it read:
the answer is exactly the set of stored hashes within the limits, as a full scan would find.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from itertools import combinations

import numpy as np

CHUNKS = 3  # ~21-bit substrings: about one hash per bucket at 2M hashes, a few at 10M (the method's optimum)
LAYOUT: tuple[tuple[int, int], ...] = ((43, 21), (22, 21), (0, 22))  # (shift, bits) of each substring
FIELDS = ("offsets", "phash", "dhash", "image", "kind")
# Below this many hashes a table is scanned: ~150k probes per image cost more than reading every hash
# (bench/dedup_speed.py: at 1 M hashes the two are about even).
SCAN_BELOW = 1_000_000


@lru_cache(maxsize=64)
def flips(bits: int, radius: int) -> np.ndarray:
    """Every XOR mask of `bits` bits with at most `radius` bits set, ascending: probes then walk the tables forward."""
    masks = [sum(1 << b for b in chosen) for r in range(min(radius, bits) + 1) for chosen in combinations(range(bits), r)]
    return np.sort(np.array(masks, dtype=np.int64))


@lru_cache(maxsize=256)
def radii(limit: int) -> tuple[int, ...]:
    """Per substring the search radius, -1 to skip it, with sum(r + 1) = limit + 1 (the pigeonhole bound)."""
    if limit < 0:
        return (-1,) * len(LAYOUT)
    need = limit + 1
    base, extra = divmod(need, len(LAYOUT))
    # the extra bit goes to the wider substrings: their buckets are smaller, so fewer hashes are read
    order = sorted(range(len(LAYOUT)), key=lambda c: -LAYOUT[c][1])
    share = [base] * len(LAYOUT)
    for c in order[:extra]:
        share[c] += 1
    return tuple(s - 1 for s in share)


def build(phash: np.ndarray, dhash: np.ndarray, image: np.ndarray, kind: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """Per substring: bucket offsets and the (pHash, dHash, image, kind) columns sorted by that substring."""
    phash = np.ascontiguousarray(phash, dtype=np.uint64)
    for c, (shift, bits) in enumerate(LAYOUT):
        key = ((phash >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).astype(np.int64)
        order = np.argsort(key, kind="stable")
        offsets = np.zeros((1 << bits) + 1, dtype=np.int64)
        np.cumsum(np.bincount(key, minlength=1 << bits), out=offsets[1:])
        del key
        yield f"{c}.offsets", offsets.astype(np.uint32 if len(phash) < 2**32 else np.int64)
        for name, column, dtype in (("phash", phash, np.uint64), ("dhash", dhash, np.uint64),
                                    ("image", image, np.int32), ("kind", kind, np.uint8)):
            yield f"{c}.{name}", np.asarray(column, dtype=dtype)[order]


@lru_cache(maxsize=1)
def _kernel():  # noqa: ANN202 - a numba dispatcher
    """The probe loop, compiled: numpy would pass over every probe ten times (numba imports in ~0.4 s, cached)."""
    from numba import njit

    @njit(cache=True, nogil=True, inline="always")
    def popcount(x):  # noqa: ANN001, ANN202 - SWAR, as numba has no popcount intrinsic on all targets
        x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
        x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
        return (((x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)) * np.uint64(0x0101010101010101)) >> np.uint64(56)

    @njit(cache=True, nogil=True)
    def probe(offsets, phash, dhash, key, masks, qp, qd, plimit, dlimit, out):  # noqa: ANN001, ANN202
        n = 0
        for mask in masks:
            k = key ^ mask
            for j in range(offsets[k], offsets[k + 1]):
                if popcount(phash[j] ^ qp) <= plimit and popcount(dhash[j] ^ qd) <= dlimit:
                    if n == len(out):
                        return -1  # the caller retries with room for more
                    out[n] = j
                    n += 1
        return n
    return probe


def search(table: dict[str, np.ndarray], qp: np.ndarray, qd: np.ndarray, plimit: np.ndarray,
           dlimit: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(query, image, kind, pHash distance, dHash distance) of every stored hash within both limits of a query.

    A hash close to a query through several substrings is reported once per substring.
    """
    if len(table["0.phash"]) < SCAN_BELOW:
        return scan(table, qp, qd, plimit, dlimit)
    probe, found, owners = _kernel(), [], []
    for c, (shift, bits) in enumerate(LAYOUT):
        offsets, phash, dhash = table[f"{c}.offsets"], table[f"{c}.phash"], table[f"{c}.dhash"]
        for q in range(len(qp)):
            r = radii(int(plimit[q]))[c]
            if r < 0:
                continue
            out = np.empty(256, dtype=np.int64)
            while (n := probe(offsets, phash, dhash, int(qp[q]) >> shift & ((1 << bits) - 1), flips(bits, r),
                              qp[q], qd[q], int(plimit[q]), int(dlimit[q]), out)) < 0:
                out = np.empty(4 * len(out), dtype=np.int64)
            if n:
                found.append((c, out[:n]))
                owners.append(np.full(n, q))
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty, empty
    who = np.concatenate(owners)
    image = np.concatenate([table[f"{c}.image"][pos] for c, pos in found])
    kind = np.concatenate([table[f"{c}.kind"][pos] for c, pos in found])
    p = np.concatenate([np.bitwise_count(table[f"{c}.phash"][pos] ^ qp[who_c]) for (c, pos), who_c in
                        zip(found, owners, strict=True)])
    d = np.concatenate([np.bitwise_count(table[f"{c}.dhash"][pos] ^ qd[who_c]) for (c, pos), who_c in
                        zip(found, owners, strict=True)])
    return who, image, kind, p, d


def scan(table: dict[str, np.ndarray], qp: np.ndarray, qd: np.ndarray, plimit: np.ndarray,
         dlimit: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What `search` returns, by reading every hash of the table (the first sorting of it)."""
    found = []
    for q in range(len(qp)):
        p = np.bitwise_count(table["0.phash"] ^ qp[q])
        near = np.flatnonzero(p <= plimit[q])
        d = np.bitwise_count(table["0.dhash"][near] ^ qd[q])
        keep = near[d <= dlimit[q]]
        found.append((np.full(len(keep), q), table["0.image"][keep], table["0.kind"][keep], p[keep],
                      np.bitwise_count(table["0.dhash"][keep] ^ qd[q])))
    return tuple(np.concatenate(parts) for parts in zip(*found, strict=True))  # type: ignore[return-value]

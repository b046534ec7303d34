"""Multi-index hashing (Norouzi et al.): Hamming-radius search over 64-bit hashes without reading every hash.

The 64 bits of each pHash are cut into CHUNKS substrings. If two hashes differ in at most L bits, then for any
radii r_c with sum(r_c + 1) > L one substring c differs in at most r_c bits (pigeonhole). Each table keeps the
hashes sorted by one substring with a bucket offset per substring value, so a lookup reads only the buckets
within r_c of the query's substring, then checks the full pHash and dHash distances of what it read:
the answer is exactly the set of stored hashes within the limits, as a full scan would find.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations

import numpy as np

CHUNKS = 3  # ~21-bit substrings: about one hash per bucket at 2M hashes, a few at 10M (the method's optimum)
LAYOUT: tuple[tuple[int, int], ...] = ((43, 21), (22, 21), (0, 22))  # (shift, bits) of each substring
FIELDS = ("offsets", "phash", "dhash", "image")


@lru_cache(maxsize=64)
def flips(bits: int, radius: int) -> np.ndarray:
    """Every XOR mask of `bits` bits with at most `radius` bits set."""
    masks = [sum(1 << b for b in chosen) for r in range(min(radius, bits) + 1) for chosen in combinations(range(bits), r)]
    return np.array(masks, dtype=np.int64)


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


def build(phash: np.ndarray, dhash: np.ndarray, image: np.ndarray) -> dict[str, np.ndarray]:
    """Per substring: bucket offsets and the (pHash, dHash, image) columns sorted by that substring."""
    arrays: dict[str, np.ndarray] = {}
    phash = np.ascontiguousarray(phash, dtype=np.uint64)
    for c, (shift, bits) in enumerate(LAYOUT):
        key = ((phash >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).astype(np.int64)
        order = np.argsort(key, kind="stable")
        offsets = np.zeros((1 << bits) + 1, dtype=np.int64)
        np.cumsum(np.bincount(key, minlength=1 << bits), out=offsets[1:])
        arrays[f"{c}.offsets"] = offsets.astype(np.uint32 if len(phash) < 2**32 else np.int64)
        arrays[f"{c}.phash"], arrays[f"{c}.dhash"] = phash[order], np.asarray(dhash, dtype=np.uint64)[order]
        arrays[f"{c}.image"] = np.asarray(image, dtype=np.int32)[order]
    return arrays


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions start..start+length-1 of every range, concatenated."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    return np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - lengths), lengths)


def search(table: dict[str, np.ndarray], qp: np.ndarray, qd: np.ndarray, plimit: np.ndarray,
           dlimit: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(query, image, pHash distance, dHash distance) of every stored hash within both limits of a query.

    A hash close to a query through several substrings is reported once per substring.
    """
    found = []
    for c, (shift, bits) in enumerate(LAYOUT):
        keys, owners = [], []
        for q in range(len(qp)):
            r = radii(int(plimit[q]))[c]
            if r >= 0:
                masks = flips(bits, r)
                keys.append((int(qp[q]) >> shift & ((1 << bits) - 1)) ^ masks)
                owners.append(np.full(len(masks), q, dtype=np.int64))
        if not keys:
            continue
        key, owner = np.concatenate(keys), np.concatenate(owners)
        offsets = table[f"{c}.offsets"]
        starts = offsets[key].astype(np.int64)
        lengths = offsets[key + 1].astype(np.int64) - starts
        pos = _ranges(starts, lengths)
        if pos.size == 0:
            continue
        who = np.repeat(owner, lengths)
        p = np.bitwise_count(table[f"{c}.phash"][pos] ^ qp[who])
        near = np.flatnonzero(p <= plimit[who])  # few: the dHash column is read only for these
        pos, who, p = pos[near], who[near], p[near]
        d = np.bitwise_count(table[f"{c}.dhash"][pos] ^ qd[who])
        keep = d <= dlimit[who]
        found.append((who[keep], table[f"{c}.image"][pos[keep]], p[keep], d[keep]))
    if not found:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty
    return tuple(np.concatenate(parts) for parts in zip(*found, strict=True))  # type: ignore[return-value]

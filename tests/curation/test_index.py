"""HashIndex: exact and near matches, ordering, removal, growth, and agreement with brute force at 100k."""

from __future__ import annotations

import hashlib

import numpy as np

from curation.hashing import ImageHashes, hamming, to_signed
from curation.index import HashIndex, Match

BASE_P = 0x0F0F_F0F0_1234_ABCD
BASE_D = 0x7777_0000_FFFF_1357


def _sha(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def _flip(value: int, bits: int, offset: int = 0) -> int:
    """The same 64-bit value with `bits` bits flipped, returned signed as the database stores it."""
    return to_signed(value ^ sum(1 << (offset + i) for i in range(bits)))


def _hashes(sha: int, p_bits: int, d_bits: int) -> ImageHashes:
    return ImageHashes(_sha(sha), _flip(BASE_P, p_bits), _flip(BASE_D, d_bits, 20))


def _find(index: HashIndex, query: ImageHashes, p: int = 10, d: int = 12) -> list[Match]:
    return index.matches(query, phash_distance=p, dhash_distance=d)


def test_an_empty_index_matches_nothing() -> None:
    index = HashIndex()
    assert len(index) == 0 and _find(index, _hashes(0, 0, 0)) == []


def test_near_needs_both_hashes_to_agree() -> None:
    index = HashIndex()
    index.add(1, 11, _hashes(1, 3, 4))     # both close
    index.add(2, 21, _hashes(2, 3, 30))    # dhash far
    index.add(3, 31, _hashes(3, 30, 2))    # phash far
    index.add(4, 41, _hashes(4, 10, 12))   # exactly at both limits
    index.add(5, 51, _hashes(5, 11, 0))    # one bit over the phash limit
    found = _find(index, _hashes(0, 0, 0))
    assert [(m.post_id, m.media_id, m.phash_distance, m.dhash_distance, m.exact) for m in found] == [
        (1, 11, 3, 4, False), (4, 41, 10, 12, False)]


def test_same_bytes_match_even_when_the_hashes_disagree() -> None:
    index = HashIndex()
    index.add(7, 70, ImageHashes(_sha(9), _flip(BASE_P, 40), _flip(BASE_D, 40)))
    [match] = _find(index, _hashes(9, 0, 0), p=0, d=0)
    assert match == Match(post_id=7, media_id=70, phash_distance=40, dhash_distance=40, exact=True)


def test_results_come_exact_first_then_closest_then_by_post() -> None:
    index = HashIndex()
    index.add(9, 1, _hashes(100, 2, 2))
    index.add(3, 2, _hashes(101, 1, 3))
    index.add(5, 3, _hashes(0, 6, 6))    # same bytes as the query
    index.add(4, 4, _hashes(102, 0, 1))
    assert [m.post_id for m in _find(index, _hashes(0, 0, 0))] == [5, 4, 3, 9]


def test_add_many_takes_database_rows_with_signed_or_unsigned_hashes_and_missing_sha() -> None:
    index = HashIndex()
    unsigned_p = BASE_P | (1 << 63)
    index.add_many([(1, 10, None, to_signed(unsigned_p), to_signed(BASE_D)),
                    (2, 20, _sha(2), unsigned_p, BASE_D)])
    index.add_many([])
    assert len(index) == 2
    query = ImageHashes(_sha(2), to_signed(unsigned_p), to_signed(BASE_D))
    found = _find(index, query, p=0, d=0)
    assert [(m.post_id, m.exact, m.phash_distance) for m in found] == [(2, True, 0), (1, False, 0)]


def test_remove_post_forgets_all_its_images_and_keeps_the_rest() -> None:
    index = HashIndex()
    for post in range(1, 6):
        for media in range(3):
            index.add(post, post * 10 + media, _hashes(post * 10 + media, media, media))
    index.remove_post(3)
    index.remove_post(99)
    assert len(index) == 12
    found = _find(index, _hashes(0, 0, 0))
    assert {m.post_id for m in found} == {1, 2, 4, 5}
    assert sorted(m.media_id for m in found if m.post_id == 4) == [40, 41, 42]
    index.add(3, 99, _hashes(99, 0, 0))
    assert [m.media_id for m in _find(index, _hashes(99, 0, 0)) if m.post_id == 3] == [99]


def test_the_arrays_grow_past_their_first_capacity() -> None:
    index = HashIndex()
    stored = [ImageHashes(_sha(i), to_signed(i * 0x9E3779B97F4A7C15 % 2**64), to_signed(~i)) for i in range(5000)]
    for i, hashes in enumerate(stored):
        index.add(i, i, hashes)
    assert len(index) == 5000
    for i in (0, 1023, 1024, 2048, 4999):  # rows written before and after each doubling
        assert [(m.post_id, m.exact) for m in _find(index, stored[i], p=0, d=0)] == [(i, True)]


def test_100k_random_entries_agree_with_a_brute_force_scan() -> None:
    rng = np.random.default_rng(42)
    n = 100_000
    phash = rng.integers(0, 2**64, n, dtype=np.uint64)
    dhash = rng.integers(0, 2**64, n, dtype=np.uint64)
    # Plant near copies of a few entries so the sample has real matches, not only empty answers.
    for target, copy in [(10, 50_000), (10, 50_001), (777, 99_999)]:
        flips = rng.choice(64, size=5, replace=False)
        phash[copy] = phash[target] ^ np.uint64(sum(1 << int(b) for b in flips[:3]))
        dhash[copy] = dhash[target] ^ np.uint64(sum(1 << int(b) for b in flips))
    rows = [(i // 2, i, _sha(i) if i % 3 else None, int(p), int(d))
            for i, (p, d) in enumerate(zip(phash.tolist(), dhash.tolist(), strict=True))]
    index = HashIndex()
    index.add_many(rows)
    assert len(index) == n
    for probe in (10, 777, 31_337, 12):
        query = ImageHashes(_sha(probe), to_signed(rows[probe][3]), to_signed(rows[probe][4]))
        expected = sorted(
            ((post, media, hamming(p, query.phash), hamming(d, query.dhash), sha == query.sha256)
             for post, media, sha, p, d in rows
             if sha == query.sha256 or (hamming(p, query.phash) <= 20 and hamming(d, query.dhash) <= 22)),
            key=lambda m: (not m[4], m[2] + m[3], m[0]))
        got = [(m.post_id, m.media_id, m.phash_distance, m.dhash_distance, m.exact)
               for m in index.matches(query, phash_distance=20, dhash_distance=22)]
        assert got == expected
        assert got[0][1] == probe
    assert {m.media_id for m in _find(index, ImageHashes("", int(phash[10]), int(dhash[10])))} >= {10, 50_000, 50_001}

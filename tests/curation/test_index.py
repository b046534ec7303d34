"""HashIndex: tiers, rules per kind pair, exact bytes, ordering, loading rows, growth, and brute force at 100k."""

from __future__ import annotations

import hashlib

import numpy as np

from core.fingerprints import RECORD, ImageHashes
from core.hashbits import hamming, to_signed, to_unsigned
from curation.index import AUTO, POSSIBLE, HashIndex, Match, Rules
from core.signals import C85, C90, FULL, MIRROR

BASE_P = 0x0F0F_F0F0_1234_ABCD
BASE_D = 0x7777_0000_FFFF_1357
RULES = Rules(phash=10, dhash=12, turned=4, possible_phash=12, possible_dhash=14)


def _sha(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def _flip(value: int, bits: int, offset: int = 0) -> int:
    """The same 64-bit value with `bits` bits flipped, returned signed as the database stores it."""
    return to_signed(value ^ sum(1 << (offset + i) for i in range(bits)))


def _hashes(sha: int, p_bits: int, d_bits: int, kind: int = FULL) -> ImageHashes:
    p, d = _flip(BASE_P, p_bits), _flip(BASE_D, d_bits, 20)
    records = np.array([(kind, to_unsigned(p), to_unsigned(d))], dtype=RECORD).tobytes()
    return ImageHashes(_sha(sha), p, d, records=records)


def _found(index: HashIndex, query: ImageHashes, rules: Rules = RULES) -> list[tuple]:
    return [(m.post_id, m.rule, m.tier, m.phash_distance, m.dhash_distance) for m in index.matches(query, rules)]


def test_an_empty_index_matches_nothing() -> None:
    index = HashIndex()
    assert len(index) == 0 and index.hashes == 0 and index.matches(_hashes(0, 0, 0), RULES) == []


def test_both_hashes_must_agree_to_merge_and_a_looser_band_is_only_possible() -> None:
    index = HashIndex()
    index.add(1, 11, _hashes(1, 3, 4))     # both close
    index.add(2, 21, _hashes(2, 3, 30))    # dhash far
    index.add(3, 31, _hashes(3, 30, 2))    # phash far
    index.add(4, 41, _hashes(4, 10, 12))   # exactly at both limits
    index.add(5, 51, _hashes(5, 11, 0))    # one bit over the phash limit: possible
    index.add(6, 61, _hashes(6, 12, 14))   # at the possible limits
    index.add(7, 71, _hashes(7, 13, 0))    # over every limit
    assert _found(index, _hashes(0, 0, 0)) == [
        (1, "same photo", AUTO, 3, 4), (4, "same photo", AUTO, 10, 12),
        (5, "same photo", POSSIBLE, 11, 0), (6, "same photo", POSSIBLE, 12, 14)]


def test_each_query_kind_meets_only_the_stored_kinds_it_pairs_with() -> None:
    index = HashIndex()
    index.add(1, 1, _hashes(1, 0, 0, kind=C85))   # the centre of an archived photo
    index.add(2, 2, _hashes(2, 0, 0, kind=MIRROR))  # query-only kinds are never stored
    assert _found(index, _hashes(0, 1, 1, kind=FULL)) == [(1, "cropped", AUTO, 1, 1)]
    assert _found(index, _hashes(0, 0, 0, kind=C85)) == []  # a centre against a centre is not a rule
    assert index.hashes == 1


def test_mirrored_matches_need_the_stricter_limit() -> None:
    index = HashIndex()
    index.add(1, 1, _hashes(1, 4, 0))
    index.add(2, 2, _hashes(2, 6, 0))
    index.add(3, 3, _hashes(3, 12, 0))
    assert _found(index, _hashes(0, 0, 0, kind=MIRROR)) == [(1, "mirrored", AUTO, 4, 0), (2, "mirrored", POSSIBLE, 6, 0)]


def test_same_bytes_match_even_when_the_hashes_disagree() -> None:
    index = HashIndex()
    index.add(7, 70, ImageHashes(_sha(9), _flip(BASE_P, 40), _flip(BASE_D, 40)))
    [match] = index.matches(_hashes(9, 0, 0), RULES)
    assert match == Match(post_id=7, media_id=70, rule="same file", tier=AUTO, phash_distance=0, dhash_distance=0,
                          exact=True)


def test_results_come_exact_first_then_sure_then_closest_then_by_post() -> None:
    index = HashIndex()
    index.add(9, 1, _hashes(100, 2, 2))
    index.add(3, 2, _hashes(101, 1, 3))
    index.add(5, 3, _hashes(0, 6, 6))    # same bytes as the query
    index.add(4, 4, _hashes(102, 0, 1))
    index.add(2, 5, _hashes(103, 11, 0))  # possible only
    assert [m.post_id for m in index.matches(_hashes(0, 0, 0), RULES)] == [5, 4, 3, 9, 2]


def test_add_many_takes_database_rows_new_and_old() -> None:
    index = HashIndex()
    unsigned_p = BASE_P | (1 << 63)
    new = _hashes(2, 0, 0)
    index.add_many([(1, 10, None, None, to_signed(unsigned_p), to_signed(BASE_D)),  # hashed before version 2
                    (2, 20, new.sha256, memoryview(new.records), new.phash, new.dhash)])  # PostgreSQL's bytea
    index.add_many([])
    assert len(index) == 2
    query = ImageHashes("", to_signed(unsigned_p), to_signed(BASE_D))
    assert [(m.post_id, m.phash_distance) for m in index.matches(query, RULES)] == [(1, 0), (2, 1)]


def test_the_arrays_grow_past_their_first_capacity() -> None:
    index = HashIndex()
    stored = [ImageHashes(_sha(i), to_signed(i * 0x9E3779B97F4A7C15 % 2**64), to_signed(~i)) for i in range(5000)]
    for i, hashes in enumerate(stored):
        index.add(i, i, hashes)
    assert len(index) == 5000
    for i in (0, 1023, 1024, 2048, 4999):  # rows written before and after each doubling
        assert [(m.post_id, m.exact) for m in index.matches(stored[i], Rules(0, 0, 0, 0, 0))] == [(i, True)]


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
    rows = [(i // 2, i, _sha(i) if i % 3 else None, None, to_signed(p), to_signed(d))
            for i, (p, d) in enumerate(zip(phash.tolist(), dhash.tolist(), strict=True))]
    index = HashIndex()
    index.add_many(rows)
    assert len(index) == n
    wide = Rules(phash=20, dhash=22, turned=0, possible_phash=20, possible_dhash=22)
    for probe in (10, 777, 31_337, 12):
        query = ImageHashes(_sha(probe), rows[probe][4], rows[probe][5])
        best: dict[int, tuple] = {}
        for post, media, sha, _, p, d in rows:
            if sha == query.sha256:
                best[media] = (post, media, 0, 0, True)
            elif hamming(p, query.phash) <= 20 and hamming(d, query.dhash) <= 22:
                best.setdefault(media, (post, media, hamming(p, query.phash), hamming(d, query.dhash), False))
        expected = sorted(best.values(), key=lambda m: (not m[4], m[2] + m[3], m[0]))
        got = [(m.post_id, m.media_id, m.phash_distance, m.dhash_distance, m.exact) for m in index.matches(query, wide)]
        assert got == expected
        assert got[0][1] == probe
    assert {m.media_id for m in index.matches(ImageHashes("", int(phash[10]), int(dhash[10])), RULES)} >= {10, 50_000, 50_001}
    assert C90 not in {m.rule for m in index.matches(ImageHashes("", int(phash[10]), int(dhash[10])), RULES)}

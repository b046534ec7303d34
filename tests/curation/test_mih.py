"""The multi-index lookup answers exactly like the full scan (HashIndex) on random, clustered and real hashes."""

from __future__ import annotations

import hashlib
from itertools import product
from pathlib import Path

import numpy as np
import pytest

from core.fingerprints import RECORD, ImageHashes, hash_image
from core.hashbits import to_signed
from core.signals import KINDS
from curation import mih
from curation.index import STORED, HashIndex, Rules
from curation.index_store import StoredIndex, layout, open_stored, write_main, write_manifest, write_tail
from tests.curation.engine_photos import TRANSFORMS, jpeg, photo

ALL_KINDS = [k.id for k in KINDS]
RULE_SETS = [Rules(), Rules(phash=6, dhash=8, turned=2, possible_phash=9, possible_dhash=10),
             Rules(phash=14, dhash=16, turned=6, possible_phash=16, possible_dhash=18), Rules(phash=0, dhash=0, turned=0,
                                                                                               possible_phash=0, possible_dhash=0)]


def _flip_in(rng: np.random.Generator, value: int, counts: tuple[int, ...]) -> int:
    """`value` with counts[c] distinct bits flipped inside substring c of mih.LAYOUT."""
    for (shift, bits), n in zip(mih.LAYOUT, counts, strict=True):
        for b in rng.choice(bits, size=n, replace=False):
            value ^= 1 << (shift + int(b))
    return value


def _flip(rng: np.random.Generator, value: int, n: int) -> int:
    for b in rng.choice(64, size=n, replace=False):
        value ^= 1 << int(b)
    return value


def _image(sha: str, kinds: dict[int, tuple[int, int]]) -> ImageHashes:
    records = np.array([(k, p, d) for k, (p, d) in kinds.items()], dtype=RECORD)
    first = kinds[min(kinds)]
    return ImageHashes(sha, to_signed(first[0]), to_signed(first[1]), records=records.tobytes())


def _sha(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


@pytest.fixture(autouse=True)
def _probe_small_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test tables are small: probe them anyway, as tables of millions are (one test below keeps the scan)."""
    monkeypatch.setattr(mih, "SCAN_BELOW", 0)


def _both(tmp_path: Path, images: list[ImageHashes], split: tuple[int, int]) -> tuple[HashIndex, StoredIndex]:
    """The oracle, and a stored index with images[:a] in the main part, [a:b] in the tail, the rest added fresh."""
    oracle, main, tail = HashIndex(), HashIndex(), HashIndex()
    a, b = split
    for n, h in enumerate(images):
        oracle.add(n // 2, 1000 + n, h)  # two images per post: a post holds several photos
        (main if n < a else tail).add(n // 2, 1000 + n, h)
    post, media, sha, columns = main.export()
    name = write_main(tmp_path, post, media, sha, columns.get)
    tail_only = HashIndex()
    for n in range(a, b):
        tail_only.add(n // 2, 1000 + n, images[n])
    manifest = layout() | {"main": name, "tail": write_tail(tmp_path, tail_only), "images": b}
    write_manifest(tmp_path, manifest)
    stored = open_stored(tmp_path, layout())
    for n in range(b, len(images)):
        stored.add(n // 2, 1000 + n, images[n])
    return oracle, stored


def _same(oracle: HashIndex, stored: StoredIndex, queries: list[ImageHashes], rules: Rules) -> int:
    found = 0
    for q in queries:
        expected = oracle.matches(q, rules)
        assert stored.matches(q, rules) == expected
        found += len(expected)
    return found


def test_radii_satisfy_the_pigeonhole_bound() -> None:
    for limit in range(-1, 40):
        r = mih.radii(limit)
        assert sum(x + 1 for x in r) == max(limit + 1, 0) and all(x >= -1 for x in r)
    assert sum(bits for _, bits in mih.LAYOUT) == 64
    assert len(mih.flips(5, 2)) == 1 + 5 + 10


@pytest.mark.parametrize("rules", RULE_SETS)
def test_distances_split_every_way_across_substrings_at_each_threshold(tmp_path: Path, rules: Rules) -> None:
    rng = np.random.default_rng(7)
    qp, qd = (int(x) for x in rng.integers(0, 2**63, 2))
    limits = sorted({rules.phash, rules.possible_phash, rules.turned})
    images = [_image(_sha(-1), {STORED[0]: (qp, qd)})]  # distance 0
    for limit in limits:
        for split in product(range(limit + 2), repeat=3):  # every way of spreading limit and limit+1 bits
            if sum(split) in (limit, limit + 1) and all(s <= bits for s, (_, bits) in zip(split, mih.LAYOUT, strict=True)):
                for d_bits in (0, int(rng.choice([rules.dhash, rules.possible_dhash, rules.dhash + 1,
                                                  rules.possible_dhash + 1]))):
                    kind = int(rng.choice(STORED))
                    images.append(_image(_sha(len(images)), {kind: (_flip_in(rng, qp, split), _flip(rng, qd, d_bits))}))
    images = [images[i] for i in rng.permutation(len(images))]  # each part (main, tail, fresh) gets every case
    oracle, stored = _both(tmp_path, images, (len(images) * 2 // 3, len(images) * 5 // 6))
    query = _image("", {k: (qp, qd) for k in ALL_KINDS})
    assert _same(oracle, stored, [query], rules) > 0


def test_random_and_clustered_hashes_with_duplicates_and_shared_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    centres = [(int(p), int(d)) for p, d in rng.integers(0, 2**63, (40, 2))]
    # adversarial: one centre's first substring shared by many far hashes (one huge bucket)
    shared = centres[0][0] & ~((1 << 43) - 1)
    images = []
    for n in range(1500):
        kinds = {}
        for kind in STORED:
            if kind != STORED[0] and rng.random() < 0.3:
                continue  # not every image has every kind (the whole image only when framed)
            choice = rng.random()
            if choice < 0.3:
                p, d = (int(x) for x in rng.integers(0, 2**63, 2))
            elif choice < 0.4:
                p, d = shared | int(rng.integers(0, 2**43)), int(rng.integers(0, 2**63))
            else:
                cp, cd = centres[int(rng.integers(len(centres)))]
                p, d = _flip(rng, cp, int(rng.integers(0, 17))), _flip(rng, cd, int(rng.integers(0, 19)))
            kinds[kind] = (p, d)
        sha = _sha(n % 1400)  # some images are the same file
        images.append(_image(sha, kinds))
        if n % 97 == 0:
            images.append(images[-1])  # the same hashes stored twice
    queries = [_image(_sha(n), {k: (_flip(rng, cp, int(rng.integers(0, 15))), _flip(rng, cd, int(rng.integers(0, 16))))
                                for k in ALL_KINDS}) for n, (cp, cd) in enumerate(centres)]
    queries += [images[n] for n in range(0, len(images), 50)]
    queries.append(_image(_sha(3), {k: (shared | 5, 9) for k in ALL_KINDS}))
    oracle, stored = _both(tmp_path, images, (1000, 1300))
    for rules in RULE_SETS:
        _same(oracle, stored, queries, rules)
    assert _same(oracle, stored, queries, Rules()) > 500


def test_real_photos_and_their_reposts(tmp_path: Path) -> None:
    originals = [hash_image(jpeg(photo(seed))) for seed in range(8)]
    variants = [hash_image(transform(photo(seed))) for seed in range(8) for transform in TRANSFORMS.values()]
    oracle, stored = _both(tmp_path, originals + variants[:40], (30, 40))
    assert _same(oracle, stored, originals + variants, Rules()) > len(originals + variants)


def test_more_matches_than_the_first_buffer_holds(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    p, d = (int(x) for x in rng.integers(0, 2**63, 2))
    images = [_image(_sha(n), {STORED[0]: (_flip(rng, p, n % 5), d)}) for n in range(700)]
    oracle, stored = _both(tmp_path, images, (700, 700))
    assert _same(oracle, stored, [_image("", {k: (p, d) for k in ALL_KINDS})], Rules()) == 700


def test_small_tables_are_scanned_with_the_same_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mih, "SCAN_BELOW", 10**9)
    monkeypatch.setattr(mih, "_kernel", None)  # the probe must not run
    test_random_and_clustered_hashes_with_duplicates_and_shared_files(tmp_path)

"""The engine on generated photos: every re-post transform merges with the rule that explains it; nothing else does."""

from __future__ import annotations

import pytest

from core.fingerprints import hash_image
from curation.index import AUTO, POSSIBLE, HashIndex, Rules
from tests.curation.engine_photos import TRANSFORMS, crop, jpeg, photo

SEEDS = range(4)
EXPECTED_RULE = {"crop 15%": "cropped", "crop 10% left": "cropped", "corner crop 9% left+top": "cropped",
                 "corner crop 9% right+top": "cropped", "mirror": "mirrored", "rotate 90": "rotated"}


@pytest.fixture(scope="module")
def archive() -> HashIndex:
    index = HashIndex()
    for seed in range(12):
        index.add(seed, seed, hash_image(jpeg(photo(seed))))
    return index


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_every_transform_merges_with_its_original_and_nothing_else(archive: HashIndex, name: str) -> None:
    for seed in SEEDS:
        found = archive.matches(hash_image(TRANSFORMS[name](photo(seed))), Rules())
        assert [(m.post_id, m.tier) for m in found] == [(seed, AUTO)], (name, seed, found)
        if name in EXPECTED_RULE:
            assert found[0].rule == EXPECTED_RULE[name]


@pytest.mark.parametrize("name", ["crop 15%", "crop 10% left", "corner crop 9% of area", "corner crop 9% left+top",
                                  "corner crop 9% right+top", "brightness +18%", "border 5%", "screenshot", "mirror"])
def test_the_order_of_arrival_does_not_matter(name: str) -> None:
    # The re-post may be collected before the original: store the variant, query with the original.
    for seed in SEEDS:
        index = HashIndex()
        index.add(1, 1, hash_image(TRANSFORMS[name](photo(seed))))
        assert [m.tier for m in index.matches(hash_image(jpeg(photo(seed))), Rules())] == [AUTO]


def test_near_miss_shots_of_one_scene_are_not_merged() -> None:
    # Two framings of one wide scene, a fifth of it in common: another photo, not a copy.
    for seed in SEEDS:
        scene = photo(seed, (1600, 700))
        left, right = jpeg(crop(scene, 0, 0, 0.4, 0)), jpeg(crop(scene, 0.4, 0, 0, 0))
        index = HashIndex()
        index.add(1, 1, hash_image(left))
        assert all(m.tier != AUTO for m in index.matches(hash_image(right), Rules()))


def test_exact_bytes_match_as_the_same_file(archive: HashIndex) -> None:
    [match] = archive.matches(hash_image(jpeg(photo(3))), Rules())
    assert match.exact and match.rule == "same file" and match.post_id == 3


def test_a_mirrored_copy_needs_to_be_closer_than_a_straight_one() -> None:
    rules = Rules(phash=10, dhash=12, turned=4, possible_phash=12, possible_dhash=14)
    assert rules.tier("mirrored", 4, 4) == AUTO and rules.tier("mirrored", 6, 4) == POSSIBLE
    assert rules.tier("mirrored", 12, 4) is None
    assert rules.tier("cropped", 10, 12) == AUTO and rules.tier("cropped", 12, 14) == POSSIBLE
    assert rules.tier("same photo", 14, 0) is None and rules.tier("same photo", 0, 15) is None

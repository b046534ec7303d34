"""Hashes: the same bits as imagehash, stable under re-encoding and EXIF rotation, far apart otherwise."""

from __future__ import annotations

import hashlib
import io

import imagehash
import pytest
from PIL import Image

from core.images import RefusedImage
from curation.hashing import ImageHashes, hamming, hash_hex, hash_image, to_signed, to_unsigned
from tests.fakes import images

INT64 = (-(2**63), 2**63 - 1)


def _photo(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    return images.photo(seed, size)


def _bytes(img: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def _reference(data: bytes) -> tuple[str, str]:
    """What imagehash says about the fully decoded image."""
    img = Image.open(io.BytesIO(data))
    return str(imagehash.phash(img)), str(imagehash.dhash(img))


def _distance(ours: ImageHashes, reference: tuple[str, str]) -> tuple[int, int]:
    return (hamming(ours.phash, int(reference[0], 16)), hamming(ours.dhash, int(reference[1], 16)))


def test_signed_and_unsigned_round_trip_at_the_edges() -> None:
    for unsigned, signed in [(0, 0), (2**63 - 1, 2**63 - 1), (2**63, -(2**63)), (2**64 - 1, -1)]:
        assert to_signed(unsigned) == signed
        assert to_unsigned(signed) == unsigned
        assert to_signed(signed) == signed
    assert hash_hex(-1) == "ffffffffffffffff" and hash_hex(2**63) == "8000000000000000" and hash_hex(5) == "0000000000000005"


def test_hamming_counts_bits_whatever_the_sign() -> None:
    assert hamming(-1, 0) == 64
    assert hamming(-1, 2**64 - 1) == 0
    assert hamming(to_signed(0b1011 << 60), 0b1011 << 60) == 0
    assert hamming(0b1011, 0b0001) == 2
    assert hamming(-(2**63), 0) == 1


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_png_hashes_are_exactly_imagehash(seed: int) -> None:
    data = _bytes(_photo(seed, (500, 375)), "PNG")
    ours = hash_image(data)
    assert (hash_hex(ours.phash), hash_hex(ours.dhash)) == _reference(data)
    assert ours.sha256 == hashlib.sha256(data).hexdigest()
    assert INT64[0] <= ours.phash <= INT64[1] and INT64[0] <= ours.dhash <= INT64[1]


def test_small_jpegs_decoded_at_full_scale_are_exactly_imagehash() -> None:
    data = _bytes(_photo(5, (300, 200)), "JPEG", quality=90)
    assert (hash_hex(hash_image(data).phash), hash_hex(hash_image(data).dhash)) == _reference(data)


@pytest.mark.parametrize(("seed", "size"), [(6, (2400, 1600)), (7, (1600, 1200)), (8, (1080, 1350))])
def test_large_jpegs_decoded_in_draft_mode_stay_within_a_few_bits_of_imagehash(seed: int, size: tuple[int, int]) -> None:
    # Measured 0-2 bits on photo-like images; the threshold leaves room without hiding a wrong bit order.
    data = _bytes(_photo(seed, size), "JPEG", quality=90)
    phash_bits, dhash_bits = _distance(hash_image(data), _reference(data))
    assert phash_bits <= 4 and dhash_bits <= 4


def test_distinct_pictures_hash_far_apart() -> None:
    hashes = [hash_image(_bytes(_photo(seed), "PNG")) for seed in range(10, 16)]
    for i, a in enumerate(hashes):
        for b in hashes[i + 1:]:
            assert hamming(a.phash, b.phash) + hamming(a.dhash, b.dhash) > 30


def test_reencoded_and_resized_copies_hash_close() -> None:
    img = _photo(20, (800, 600))
    original = hash_image(_bytes(img, "PNG"))
    copy = hash_image(_bytes(img.resize((400, 300)), "JPEG", quality=60))
    assert copy.sha256 != original.sha256
    assert hamming(original.phash, copy.phash) <= 6 and hamming(original.dhash, copy.dhash) <= 6


def test_a_photo_stored_sideways_with_an_orientation_tag_hashes_like_the_upright_one() -> None:
    upright = _photo(21, (600, 400))
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    sideways = upright.transpose(Image.Transpose.ROTATE_90)
    tagged = hash_image(_bytes(sideways, "JPEG", exif=exif, quality=92))
    untagged = hash_image(_bytes(sideways, "JPEG", quality=92))
    reference = hash_image(_bytes(upright, "JPEG", quality=92))
    assert hamming(tagged.phash, reference.phash) <= 4 and hamming(tagged.dhash, reference.dhash) <= 4
    assert hamming(untagged.phash, reference.phash) + hamming(untagged.dhash, reference.dhash) > 30


def test_non_images_cannot_be_hashed() -> None:
    with pytest.raises(RefusedImage, match="cannot decode"):
        hash_image(b"<html>not found</html>")


def test_large_jpegs_are_decoded_at_reduced_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import JpegImagePlugin

    decoded: list[tuple[str, tuple[int, int]]] = []
    draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self: JpegImagePlugin.JpegImageFile, mode: str | None, size: tuple[int, int] | None):  # noqa: ANN202
        result = draft(self, mode, size)
        decoded.append((self.mode, self.size))
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    hash_image(_bytes(_photo(30, (2400, 1600)), "JPEG"))
    assert decoded == [("L", (600, 400))]  # 1/4 scale: the largest that keeps both sides >= 256

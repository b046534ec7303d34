"""Exact and perceptual hashes of image bytes; the bits match imagehash.phash / imagehash.dhash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from io import BytesIO

import imagehash
import numpy as np
from PIL import Image, ImageOps

from core.images import RefusedImage

# A JPEG is decoded at 1/2, 1/4 or 1/8 scale as long as both sides stay at least this large:
# plenty for a 32x32 resize, and several times faster than a full decode.
DRAFT_MIN_SIDE = 256
_ORIENTATION = 0x0112
_BITS = 64
_SIGN = 1 << (_BITS - 1)
_MASK = (1 << _BITS) - 1


@dataclass(frozen=True)
class ImageHashes:
    """sha256 of the exact bytes; pHash and dHash as signed int64 so a database BigInteger holds them."""

    sha256: str
    phash: int
    dhash: int


def hash_image(data: bytes) -> ImageHashes:
    """Hash image bytes; raise RefusedImage if they cannot be decoded."""
    gray = _grayscale(data)
    return ImageHashes(
        sha256=hashlib.sha256(data).hexdigest(),
        phash=to_signed(_bits_to_int(imagehash.phash(gray).hash)),
        dhash=to_signed(_bits_to_int(imagehash.dhash(gray).hash)),
    )


def to_signed(u: int) -> int:
    """Reinterpret a 64-bit unsigned value as int64."""
    u &= _MASK
    return u - (1 << _BITS) if u & _SIGN else u


def to_unsigned(s: int) -> int:
    """Reinterpret an int64 as a 64-bit unsigned value."""
    return s & _MASK


def hash_hex(s: int) -> str:
    """16 lowercase hex digits, the same text as str(imagehash.phash(...))."""
    return f"{to_unsigned(s):016x}"


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two 64-bit hashes, signed or unsigned."""
    return ((a ^ b) & _MASK).bit_count()


def _grayscale(data: bytes) -> Image.Image:
    """The upright image in mode L, decoded at reduced scale when the format allows it."""
    try:
        with Image.open(BytesIO(data)) as img:
            if img.format in ("JPEG", "MPO"):
                width, height = img.size
                img.draft("L", (min(width, DRAFT_MIN_SIDE), min(height, DRAFT_MIN_SIDE)))
            img.load()
            # Same pixels a viewer shows: a phone photo stored sideways must hash like its upright copy.
            if img.getexif().get(_ORIENTATION, 1) != 1:
                img = ImageOps.exif_transpose(img)
            return img.convert("L")
    except Image.DecompressionBombError as exc:
        raise RefusedImage(f"image too large to hash ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise RefusedImage(f"cannot decode the image to hash it ({exc})") from None


def _bits_to_int(bits: np.ndarray) -> int:
    """Row-major bits, first bit most significant, as imagehash prints them."""
    return int.from_bytes(np.packbits(bits.flatten().astype(np.uint8)).tobytes(), "big")

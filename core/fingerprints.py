"""Image bytes → sha256 and the set of perceptual hashes the duplicate index stores and queries with."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
from PIL import ImageOps

from core.decode_budget import DecodeBudget, held
from core.hashbits import to_signed, to_unsigned
from core.models import Media
from core.images import DECODE_ERRORS, RefusedImage, decode, open_image, pixels
from core.signals import FULL, KINDS, compute

# Bump when the hash set or how it is computed changes; `wlb rehash` recomputes older rows.
# 1: one pHash + dHash (imagehash's Lanczos reduction); 2: the kinds of core.signals, box-filtered;
# 3: + the four query-only corner kinds (stored kinds computed as in 2: an index of version 2 rows still matches).
HASH_VERSION = 3
# JPEGs are decoded at 1/2, 1/4 or 1/8 scale as long as both sides stay at least this large: the 32x32
# reductions of 85% crops still average 3+ pixels per cell, and decoding costs a fraction of full size.
DRAFT_MIN_SIDE = 128
_ORIENTATION = 0x0112
RECORD = np.dtype([("kind", "u1"), ("phash", "<u8"), ("dhash", "<u8")])  # one hash in the packed form


@dataclass(frozen=True)
class ImageHashes:
    """sha256 of the bytes; the full image's pHash/dHash as signed int64; every kind as packed records."""

    sha256: str
    phash: int
    dhash: int
    records: bytes = field(default=b"", repr=False)
    version: int = 0  # HASH_VERSION when computed here; 0 for hashes rebuilt from old rows

    def kinds(self) -> np.ndarray:
        """Structured array (kind, phash, dhash); only the full hash for rows hashed before version 2."""
        if self.records:
            return np.frombuffer(self.records, dtype=RECORD)
        return np.array([(FULL, to_unsigned(self.phash), to_unsigned(self.dhash))], dtype=RECORD)


def hash_image(data: bytes, *, budget: DecodeBudget | None = None) -> ImageHashes:
    """Hash image bytes (decoding within `budget`); raise RefusedImage if they cannot be decoded."""
    return hash_gray(_grayscale(data, budget), hashlib.sha256(data).hexdigest())


def hash_gray(gray: np.ndarray, sha256: str = "") -> ImageHashes:
    """Every kind of hash of a decoded grayscale image (float32, H x W)."""
    chosen, phashes, dhashes = compute(gray, KINDS)
    records = np.empty(len(chosen), dtype=RECORD)
    records["kind"] = [k.id for k in chosen]
    records["phash"], records["dhash"] = phashes, dhashes
    return ImageHashes(sha256=sha256, phash=to_signed(int(phashes[0])), dhash=to_signed(int(dhashes[0])),
                       records=records.tobytes(), version=HASH_VERSION)


def record_hashes(media: Media, hashes: ImageHashes) -> None:
    """Store an image's hashes on its row."""
    media.phash, media.dhash = hashes.phash, hashes.dhash
    media.hash_set, media.hash_version = hashes.records, hashes.version


def stored_hashes(media: Media) -> ImageHashes:
    """An image's hashes as its row stores them."""
    return ImageHashes(sha256=media.sha256, phash=media.phash, dhash=media.dhash, records=media.hash_set or b"",
                       version=media.hash_version or 0)


def _grayscale(data: bytes, budget: DecodeBudget | None = None) -> np.ndarray:
    """The upright image in grey levels (float32), decoded at reduced scale when the format allows it."""
    with open_image(data) as img:  # accepted formats only, whatever the file is named
        if img.format in ("JPEG", "MPO"):
            width, height = img.size
            scale = max((s for s in (8, 4, 2) if min(width, height) // s >= DRAFT_MIN_SIDE), default=1)
            img.draft("L", (width // scale, height // scale))  # floor: Pillow picks the scale from it
        with held(budget, pixels(img)):  # the decoded frame and its grey copy live only in this block
            decode(img)
            try:
                # Same pixels a viewer shows: a phone photo stored sideways must hash like its upright copy.
                if img.getexif().get(_ORIENTATION, 1) != 1:
                    img = ImageOps.exif_transpose(img)
                gray = img.convert("L")
            except DECODE_ERRORS as exc:
                raise RefusedImage(f"cannot decode the image to hash it ({exc})") from None
            factor = min(min(gray.size) // DRAFT_MIN_SIDE, 8)
            if factor > 1:  # PNG, WebP, progressive leftovers: the box average a JPEG draft decode would give
                gray = gray.reduce(factor)
            return np.asarray(gray, dtype=np.float32)

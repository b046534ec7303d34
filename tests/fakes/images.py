"""Deterministic test photos that perceptual hashes tell apart, plus broken and hostile files."""

from __future__ import annotations

import io
import struct
import zlib
from functools import lru_cache

import numpy as np
from PIL import ExifTags, Image, ImageDraw

# Brussels, Grand-Place: 50.8467 N, 4.3525 E as EXIF degrees/minutes/seconds.
_LATITUDE = (50.0, 50.0, 48.12)
_LONGITUDE = (4.0, 21.0, 9.0)


def photo(seed: int, size: tuple[int, int] = (1080, 1350)) -> Image.Image:
    """A seeded RGB 'photo': smooth colour field, random shapes and light noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    # A tiny random grid upscaled bicubically gives large smooth areas, so the low frequencies
    # that pHash/dHash look at differ from seed to seed (flat colours would all hash alike).
    grid = rng.integers(0, 256, (4, 3, 3), dtype=np.uint8)
    img = Image.fromarray(grid, "RGB").resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(6, 12))):
        xs = sorted(rng.uniform(0, width, 2))
        ys = sorted(rng.uniform(0, height, 2))
        box = (xs[0], ys[0], xs[1], ys[1])
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = int(rng.integers(3))
        if kind == 0:
            draw.ellipse(box, fill=colour)
        elif kind == 1:
            draw.rectangle(box, fill=colour)
        else:
            draw.line(box, fill=colour, width=max(2, int(min(size) * rng.uniform(0.01, 0.05))))
    noise = rng.normal(0.0, 6.0, (height, width, 3))
    pixels = np.clip(np.asarray(img, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def encode(img: Image.Image, fmt: str = "JPEG", *, quality: int = 90, exif: bytes | None = None) -> bytes:
    """Encode an image to bytes in the given format."""
    if fmt.upper() in ("JPEG", "JPG") and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    options: dict = {"quality": quality}
    if exif is not None:
        options["exif"] = exif
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def _exif(*, gps: bool, orientation: int | None) -> bytes | None:
    """EXIF bytes with a camera Make and a Brussels GPS position, and/or an Orientation."""
    if not gps and orientation is None:
        return None
    exif = Image.Exif()
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    if gps:
        exif[ExifTags.Base.Make] = "WLBCam"
        exif[ExifTags.Base.Model] = "Fake 1"
        ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
        ifd[ExifTags.GPS.GPSLatitudeRef] = "N"
        ifd[ExifTags.GPS.GPSLatitude] = _LATITUDE
        ifd[ExifTags.GPS.GPSLongitudeRef] = "E"
        ifd[ExifTags.GPS.GPSLongitude] = _LONGITUDE
    return exif.tobytes()


def jpeg(seed: int, size: tuple[int, int] = (1080, 1350), *, quality: int = 90, gps: bool = False,
         orientation: int | None = None) -> bytes:
    """A seeded JPEG photo, optionally with EXIF GPS + Make and an EXIF Orientation."""
    return encode(photo(seed, size), "JPEG", quality=quality, exif=_exif(gps=gps, orientation=orientation))


def png(seed: int, size: tuple[int, int] = (800, 800)) -> bytes:
    """A seeded PNG photo."""
    return encode(photo(seed, size), "PNG")


def reencoded(data: bytes, *, quality: int = 60, scale: float = 0.5) -> bytes:
    """The same photo resized and re-encoded as JPEG, as a platform's media cache would serve it."""
    with Image.open(io.BytesIO(data)) as img:
        rgb = img.convert("RGB")
    size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    return encode(rgb.resize(size, Image.Resampling.LANCZOS), "JPEG", quality=quality)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@lru_cache(maxsize=4)
def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A valid, all-black 1-bit PNG: about 110 KB on disk for 30000x30000 declared pixels."""
    # Deflate cannot beat ~1:1000, so 112 MB of raw rows still need ~110 KB; feeding them in
    # blocks keeps memory low and level 9 keeps the file small (about 0.25 s, cached).
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    rows_per_block = max(1, 4_000_000 // len(row))
    compressor = zlib.compressobj(9)
    parts = []
    for start in range(0, height, rows_per_block):
        parts.append(compressor.compress(row * min(rows_per_block, height - start)))
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale, no interlace
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts))
            + _chunk(b"IEND", b""))


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    """The first `keep` fraction of a file, like a download cut short."""
    return data[: int(len(data) * keep)]

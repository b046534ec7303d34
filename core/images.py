"""Image inspection and preparation for republishing: pure functions over bytes."""

from __future__ import annotations

import os
import re
import struct
import threading
import warnings
from dataclasses import dataclass
from io import BytesIO

from PIL import Image, ImageOps, UnidentifiedImageError

from core.decode_budget import DecodeBudget, held

# Pillow format name -> (name we report, MIME type). MPO is how Pillow names multi-picture camera JPEGs.
ACCEPTED = {
    "JPEG": ("JPEG", "image/jpeg"),
    "MPO": ("JPEG", "image/jpeg"),
    "PNG": ("PNG", "image/png"),
    "WEBP": ("WEBP", "image/webp"),
    "GIF": ("GIF", "image/gif"),
}
JPEG_QUALITY = 90
FALLBACK_QUALITIES = (85, 80, 75, 70, 65, 60, 55, 50)
DOWNSCALE_STEP = 0.85
MIN_SIDE = 16

# Pillow raises a zoo of exception types on hostile or damaged files; MemoryError is deliberately absent.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct.error)
# warnings.catch_warnings swaps a process-wide filter list; the collector inspects from a thread pool.
_WARNINGS_LOCK = threading.Lock()
# Only these plugins ever parse untrusted bytes; other formats are named by magic number instead.
_OPEN_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")  # the JPEG opener also yields MPO
_ACCEPTED_MAGIC = {b"\x89PNG": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF8": "GIF"}
_OTHER_MAGIC = {b"II*\x00": "TIFF", b"MM\x00*": "TIFF", b"8BPS": "PSD", b"\x00\x00\x01\x00": "ICO",
                b"\xff\x0a": "JPEG XL", b"\x00\x00\x00\x0cJXL ": "JPEG XL"}
_FTYP_BRANDS = {b"heic": "HEIF", b"heix": "HEIF", b"heim": "HEIF", b"heis": "HEIF", b"hevc": "HEIF",
                b"hevx": "HEIF", b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF", b"avis": "AVIF"}


# Pillow stores decoded pixels in blocks of at most 16 MB. glibc serves blocks under its mmap threshold
# (which rises as big blocks are freed, up to 32 MB) from per-thread arenas that keep the memory after the
# image is gone: eight download threads kept about 1 GB with at most two large images alive at once. Blocks
# above 32 MB are always mmapped and go back to the system when freed (bench/decode_memory.py).
# https://pillow.readthedocs.io/en/stable/reference/block_allocator.html
BLOCK_SIZE = 64 * 1024 * 1024
if "PILLOW_BLOCK_SIZE" not in os.environ:  # a setting the operator chose wins
    Image.core.set_block_size(BLOCK_SIZE)


class RefusedImage(Exception):
    """The bytes cannot be used as a photo; `reason` is one line recorded on the item."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ImageInfo:
    """What the bytes really are, whatever the Content-Type said."""

    format: str
    mime: str
    width: int
    height: int


def inspect_image(data: bytes, *, max_pixels: int, max_bytes: int | None = None,
                  budget: DecodeBudget | None = None) -> ImageInfo:
    """Identify an image from its bytes and fully decode it (within `budget`); raise RefusedImage if it is unusable."""
    if max_bytes is not None and len(data) > max_bytes:
        raise RefusedImage(f"image is {_mb(len(data))}, over the {_mb(max_bytes)} limit")
    with open_image(data, max_pixels) as img:
        if img.format not in ACCEPTED:
            raise RefusedImage(f"unsupported image format {img.format!r}")
        width, height = img.size
        if width <= 0 or height <= 0:
            raise RefusedImage(f"truncated or corrupt image (size {width}x{height})")
        if width * height > max_pixels:
            raise RefusedImage(
                f"image is {width}x{height} = {width * height:,} pixels, over the {max_pixels:,} pixel limit")
        if img.format in ("JPEG", "MPO"):
            # Every byte of the entropy-coded data is still read, so truncation is still caught, but
            # at 1/4 scale in grayscale the decode needs 1/48 of the memory and less CPU.
            img.draft("L", (max(1, width // 4), max(1, height // 4)))
        with held(budget, pixels(img)):
            decode(img, max_pixels)
        name, mime = ACCEPTED[img.format]
        return ImageInfo(name, mime, width, height)


def prepare_for_upload(data: bytes, *, max_bytes: int | None = None,
                       max_pixels: int | None = None) -> tuple[bytes, str]:
    """Upright, metadata-free bytes and their MIME type, within the given limits."""
    with open_image(data, max_pixels) as opened:
        keep_png = opened.format == "PNG"
        icc = opened.info.get("icc_profile")
        if max_pixels and opened.format in ("JPEG", "MPO"):
            opened.draft(opened.mode, _fit(opened.size, max_pixels))
        decode(opened, max_pixels)
        img = ImageOps.exif_transpose(opened)
    if max_pixels and img.width * img.height > max_pixels:
        img = img.resize(_fit(img.size, max_pixels), Image.Resampling.LANCZOS)
    img = _png_mode(img) if keep_png else _jpeg_mode(img)
    img = _bare(img)
    icc = icc if _icc_fits(icc, img.mode) else None
    if keep_png:
        out = _encode(img, "PNG", icc=icc)
        if max_bytes is None or len(out) <= max_bytes:
            return out, "image/png"
        img = _jpeg_mode(img)
        icc = icc if _icc_fits(icc, img.mode) else None
        qualities = (JPEG_QUALITY, *FALLBACK_QUALITIES)
    else:
        out = _encode(img, "JPEG", quality=JPEG_QUALITY, icc=icc)
        if max_bytes is None or len(out) <= max_bytes:
            return out, "image/jpeg"
        qualities = FALLBACK_QUALITIES
    return _shrink(img, max_bytes, qualities, icc), "image/jpeg"


def thumbnail_rgb(data: bytes, max_side: int) -> Image.Image:
    """A small upright RGB image (at most max_side on each side) for terminal previews."""
    if max_side < 1:
        raise ValueError("max_side must be at least 1")
    with open_image(data) as opened:
        if opened.format in ("JPEG", "MPO"):
            opened.draft("RGB", (max_side, max_side))
        decode(opened)
        img = ImageOps.exif_transpose(opened)
    img = _jpeg_mode(img)
    if img.mode != "RGB":
        img = img.convert("RGB")
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return img


def open_image(data: bytes, max_pixels: int | None = None) -> Image.Image:
    """Parse only the header, with the accepted formats' plugins alone; turn every way of failing into RefusedImage.

    The one place wlb calls Image.open: with `formats`, Pillow never tries another plugin, so a PostScript
    file named holiday.jpg never reaches Ghostscript (EpsImagePlugin) and a TIFF never reaches libtiff.
    """
    if not data:
        raise RefusedImage("not an image (the data is empty)")
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(BytesIO(data), formats=_OPEN_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise RefusedImage(_bomb_reason(exc, max_pixels, _header_size(data))) from None
        except UnidentifiedImageError:
            raise RefusedImage(_not_an_image(data)) from None
        except DECODE_ERRORS as exc:
            raise RefusedImage(f"truncated or corrupt image ({_short(exc)})") from None


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from the header of accepted formats only; raise RefusedImage otherwise."""
    with open_image(data) as img:
        return img.size


def pixels(img: Image.Image) -> int:
    """How many pixels decoding this image produces (after a JPEG draft, the reduced size)."""
    return img.size[0] * img.size[1]


def decode(img: Image.Image, max_pixels: int | None = None) -> None:
    """Decode the (first frame's) pixels, refusing truncated or corrupt data."""
    try:
        img.load()
    except Image.DecompressionBombError as exc:
        raise RefusedImage(_bomb_reason(exc, max_pixels, img.size)) from None
    except DECODE_ERRORS as exc:
        raise RefusedImage(f"truncated or corrupt image ({_short(exc)})") from None


def _header_size(data: bytes) -> tuple[int, int] | None:
    """Width and height read by the format plugin alone, which skips Pillow's bomb check and decodes nothing."""
    for fmt in _OPEN_FORMATS:
        factory, accept = Image.OPEN.get(fmt, (None, None))
        if factory is None or (accept is not None and not accept(data[:16])):
            continue
        try:
            return factory(BytesIO(data), "").size
        except (*DECODE_ERRORS, Image.DecompressionBombError):
            continue
    return None


def _not_an_image(data: bytes) -> str:
    """Name what the payload looks like, for a reason a person can act on."""
    for magic, name in _ACCEPTED_MAGIC.items():
        if data.startswith(magic):
            return f"truncated or corrupt image (cannot read the {name} header)"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "truncated or corrupt image (cannot read the WEBP header)"
    other = next((name for magic, name in _OTHER_MAGIC.items() if data.startswith(magic)), None)
    if data[4:8] == b"ftyp":
        other = _FTYP_BRANDS.get(data[8:12], other)
    if data[:2] == b"BM" and data[14:18] in (b"\x0c\0\0\0", b"(\0\0\0", b"l\0\0\0", b"|\0\0\0"):
        other = "BMP"
    if other:
        return f"unsupported image format {other!r}"
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if not head:
        return "not an image (the data is blank)"
    if head.startswith(b"<!doctype html") or any(tag in head for tag in (b"<html", b"<head", b"<body")):
        return "not an image (the data looks like HTML)"
    if b"<svg" in head:
        return "unsupported image format 'SVG'"
    if head.startswith(b"<"):
        return "not an image (the data looks like XML)"
    if head[:1] in (b"{", b"["):
        return "not an image (the data looks like JSON)"
    text = data[:2048].decode("utf-8", "replace")
    odd = sum(1 for ch in text if ch == "\ufffd" or (not ch.isprintable() and ch not in "\r\n\t"))
    if odd <= len(text) // 20:
        return "not an image (the data looks like text)"
    return "not an image (unrecognised data)"


def _bomb_reason(exc: Exception, max_pixels: int | None, size: tuple[int, int] | None) -> str:
    found = re.search(r"\((\d+) pixels\)", str(exc))
    pixels = int(found.group(1)) if found else 0
    what = f"{size[0]}x{size[1]} = {pixels:,}" if size and size[0] * size[1] == pixels else f"{pixels:,}"
    if max_pixels and pixels > max_pixels:
        return f"image is {what} pixels, over the {max_pixels:,} pixel limit"
    return f"image is {what} pixels, over Pillow's decompression-bomb limit of {Image.MAX_IMAGE_PIXELS:,}"


def _short(exc: Exception) -> str:
    """The exception's first line without Pillow's '(N bytes not processed)' detail."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"\s*\([^()]*\)$", "", text)[:120]


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def _fit(size: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    """The largest size with the same aspect ratio and at most max_pixels pixels."""
    width, height = size
    if width * height <= max_pixels:
        return width, height
    scale = (max_pixels / (width * height)) ** 0.5
    return max(1, int(width * scale)), max(1, int(height * scale))


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info)


def _png_mode(img: Image.Image) -> Image.Image:
    """A mode PNG stores without a palette to carry: keep depth and alpha, expand palettes."""
    if img.mode in ("RGB", "RGBA", "L", "LA", "I;16", "I"):
        return img
    if img.mode == "1":
        return img.convert("L")
    return img.convert("RGBA" if _has_alpha(img) else "RGB")


def _jpeg_mode(img: Image.Image) -> Image.Image:
    """RGB or L; transparency is flattened onto white."""
    if img.mode in ("RGB", "L"):
        return img
    if img.mode.startswith("I"):
        # Pillow clips 16-bit grey to 255 when converting straight to L; scale it down instead.
        return img.convert("I").point(lambda value: value / 256).convert("L")
    if _has_alpha(img):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img.convert("L" if img.mode == "1" else "RGB")


def _bare(img: Image.Image) -> Image.Image:
    """A copy with no metadata at all: EXIF (GPS included), XMP, comments, text chunks."""
    bare = img.copy()
    bare.info = {}
    return bare


def _icc_fits(icc: bytes | None, mode: str) -> bool:
    """An ICC profile describes one colour space; keep it only if the pixels are still in it."""
    if not icc or len(icc) < 20:
        return False
    space = icc[16:20]
    return space == b"RGB " if mode in ("RGB", "RGBA") else space == b"GRAY" and mode in ("L", "LA", "I;16", "I")


def _encode(img: Image.Image, fmt: str, *, quality: int = JPEG_QUALITY, icc: bytes | None = None) -> bytes:
    out = BytesIO()
    options: dict[str, object] = {"optimize": True}
    if fmt == "JPEG":
        options["quality"] = quality
    if icc:
        options["icc_profile"] = icc
    img.save(out, fmt, **options)
    return out.getvalue()


def _shrink(img: Image.Image, max_bytes: int, qualities: tuple[int, ...], icc: bytes | None) -> bytes:
    """Lower the JPEG quality, then the size, until the bytes fit."""
    for quality in qualities:
        out = _encode(img, "JPEG", quality=quality, icc=icc)
        if len(out) <= max_bytes:
            return out
    width, height = img.size
    while True:
        width, height = int(width * DOWNSCALE_STEP), int(height * DOWNSCALE_STEP)
        if min(width, height) < MIN_SIDE:
            raise RefusedImage(f"cannot make the image fit in {_mb(max_bytes)}")
        smaller = img.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
        out = _encode(smaller, "JPEG", quality=qualities[-1], icc=icc)
        if len(out) <= max_bytes:
            return out

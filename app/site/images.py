"""The site's copies of stored photos: resized, upright, JPEG, without metadata, named by the source's sha256."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageOps

from core.images import DECODE_ERRORS, RefusedImage, decode, image_size, open_image
from core.media import MediaStore, NotInStore

SIZES = {"large": 1600, "thumb": 480}  # longest side in pixels; smaller photos are never enlarged
QUALITY = 85
FOLDER = "img"


class SkippedImage(Exception):
    """This image cannot go on the site; the message is one line for the export's warnings."""


@dataclass(frozen=True)
class Rendition:
    """One file under img/: its name and pixel size (for width/height attributes and feeds)."""

    name: str
    width: int
    height: int


@dataclass
class Counts:
    encoded: int = 0
    reused: int = 0


def renditions(store: MediaStore, rel: str | None, out: Path, previous: Path | None, counts: Counts, *,
               max_bytes: int, max_pixels: int) -> dict[str, Rendition]:
    """Write (or reuse from the `previous` export's img/) every size of one stored image into out/img/."""
    try:
        path = store.stored_file(rel)
    except NotInStore as exc:
        raise SkippedImage(str(exc)) from None
    try:
        if path.stat().st_size > max_bytes:
            raise SkippedImage(f"its file is over the {max_bytes:,}-byte limit")
        data = path.read_bytes()
    except OSError as exc:
        raise SkippedImage(f"its file cannot be read ({exc.strerror or exc})") from None
    digest = hashlib.sha256(data).hexdigest()  # of the bytes read now, whatever the database recorded
    names = {label: f"{digest}-{side}.jpg" for label, side in SIZES.items()}
    folder = out / FOLDER
    folder.mkdir(exist_ok=True)
    done: dict[str, Rendition] = {}
    for label, name in names.items():
        earlier = previous / FOLDER / name if previous is not None else None
        if not (folder / name).exists() and earlier and earlier.is_file() and not earlier.is_symlink():
            _link(earlier, folder / name)
        if (folder / name).exists():
            try:
                done[label] = Rendition(name, *image_size((folder / name).read_bytes()))
                counts.reused += 1
            except RefusedImage:  # a damaged copy from an earlier export: encode it again
                (folder / name).unlink()
    missing = {label: SIZES[label] for label in names if label not in done}
    if missing:
        for label, (body, size) in _encode(data, missing, max_pixels).items():
            (folder / names[label]).write_bytes(body)
            done[label] = Rendition(names[label], *size)
            counts.encoded += 1
    return done


def _link(source: Path, target: Path) -> None:
    """A hard link (the old export is deleted after the swap, the bytes stay), or a copy across filesystems."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _encode(data: bytes, sides: dict[str, int], max_pixels: int) -> dict[str, tuple[bytes, tuple[int, int]]]:
    """JPEG bytes and size for each longest side, decoded once; refuses what core.images refuses."""
    try:
        with open_image(data, max_pixels) as opened:
            if opened.format in ("JPEG", "MPO"):  # decode at the smallest scale that still covers the largest side
                opened.draft("RGB", (max(sides.values()),) * 2)
            decode(opened, max_pixels)
            img = _rgb(ImageOps.exif_transpose(opened))
        out = {}
        for label, side in sorted(sides.items(), key=lambda kv: -kv[1]):
            copy = img.copy()
            copy.thumbnail((side, side), Image.Resampling.LANCZOS)
            copy.info = {}  # JPEG save keeps a comment from info; EXIF, XMP and ICC are never passed on
            buf = BytesIO()
            copy.save(buf, "JPEG", quality=QUALITY, optimize=True, progressive=True)
            out[label] = buf.getvalue(), copy.size
        return out
    except RefusedImage as exc:
        raise SkippedImage(exc.reason) from None
    except DECODE_ERRORS as exc:
        raise SkippedImage(f"cannot be re-encoded ({type(exc).__name__})") from None


def _rgb(img: Image.Image) -> Image.Image:
    """RGB or L, transparency flattened onto white."""
    if img.mode in ("RGB", "L"):
        return img
    if img.mode in ("RGBA", "LA", "PA", "P") and (img.mode != "P" or "transparency" in img.info):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if img.mode.startswith("I"):  # 16-bit grey: scale down rather than clip at 255
        return img.convert("I").point(lambda value: value / 256).convert("L")
    return img.convert("RGB")

"""Terminal image preview: two pixels per character cell with the upper half block."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from rich.color import Color
from rich.style import Style
from rich.text import Text

from core.images import RefusedImage, thumbnail_rgb

UPPER_HALF = "▀"


def half_block(image: Image.Image, width: int = 48) -> Text:
    """The image as rich Text, `width` cells wide; each cell shows a top and a bottom pixel."""
    if width < 1:
        raise ValueError(f"preview width must be at least 1, not {width}")
    if image.width < 1 or image.height < 1:
        raise ValueError("cannot preview an empty image")
    scale = image.width / width
    # A terminal cell is about twice as tall as it is wide, so two pixels per cell keep the aspect.
    rows = max(1, round(image.height / scale / 2))
    small = image.convert("RGB").resize((width, rows * 2), Image.Resampling.BOX)
    pixels = small.load()
    text = Text(no_wrap=True, overflow="crop")
    for row in range(rows):
        if row:
            text.append("\n")
        _append_row(text, [(pixels[x, 2 * row], pixels[x, 2 * row + 1]) for x in range(width)])
    return text


def _append_row(text: Text, cells: list[tuple[tuple[int, int, int], tuple[int, int, int]]]) -> None:
    """Append one row, one span per run of identical cells."""
    start = 0
    for end in range(1, len(cells) + 1):
        if end == len(cells) or cells[end] != cells[start]:
            top, bottom = cells[start]
            style = Style(color=Color.from_rgb(*top), bgcolor=Color.from_rgb(*bottom))
            text.append(UPPER_HALF * (end - start), style=style)
            start = end


def previews(view: dict, width: int = 48) -> list:
    """Half-block terminal previews of an item's stored images (unreadable files are left out)."""
    out = []
    for m in view["media"]:
        if m["path"]:
            try:
                out.append(half_block(thumbnail_rgb(Path(m["path"]).read_bytes(), width * 2), width))
            except (OSError, RefusedImage, ValueError):
                continue
    return out


def fitted(image: Image.Image, cols: int, rows: int) -> Text:
    """The image as large as fits in `cols` × `rows` character cells, aspect kept (empty when nothing fits)."""
    if cols < 1 or rows < 1 or image.width < 1 or image.height < 1:
        return Text()
    width = max(1, min(cols, int(rows * 2 * image.width / image.height)))
    while width > 1 and _rows(image, width) > rows:  # rounding can add a row
        width -= 1
    return half_block(image, width) if _rows(image, width) <= rows else Text()


def _rows(image: Image.Image, width: int) -> int:
    return max(1, round(image.height / (image.width / width) / 2))


def load(path: str | Path, cols: int, rows: int) -> Image.Image | None:
    """A stored image, decoded small enough for a `cols` × `rows` preview; None when it cannot be read."""
    side = min(1024, 2 * max(cols, 2 * rows, 1))  # twice the pixels shown: the box filter then averages
    try:
        return thumbnail_rgb(Path(path).read_bytes(), side)
    except (OSError, RefusedImage, ValueError):
        return None

"""Pure functions: pHash and dHash of boxes of a grayscale image, turned copies, and its main content block."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

PHASH_GRID = 32  # pHash: DCT of a 32x32 reduction, top-left 8x8 coefficients against their median
# A row or column varying less than this (std of grey levels at 1/8 scale) is synthetic: a border, an app bar,
# the gap between text lines. Measured: no row of the 40 bench photographs is that flat; JPEG borders stay < 0.7.
UNIFORM_STD = 1.0
MIN_BLOCK = 0.2  # the content block covers at least this share of the image's height and width
MIN_TRIM = 0.02  # trimming less than this share of every side is noise: the image has no frame

Box = tuple[float, float, float, float]  # left, top, right, bottom as fractions of the content block


@dataclass(frozen=True)
class Kind:
    """One hash of an image: which part, turned how; `stored` ones go in the index, the others only query it."""

    id: int  # persisted in the database: never reuse an id for another meaning
    name: str
    box: Box = (0.0, 0.0, 1.0, 1.0)
    stored: bool = True
    mirror: bool = False
    rotate: int = 0  # quarter turns counter-clockwise
    whole: bool = False  # the whole image, frame included: only when a content block was found


FULL, WHOLE, C85, C90, LEFT, RIGHT, TOP, BOTTOM, MIRROR, ROT90, ROT270 = range(11)
# Query-only, for a crop off two adjacent sides (one corner): the image without two sides, named by the corner kept.
# An original arriving after its corner crop: this box of it is the crop's full image. A corner crop arriving after
# its original: the crop without its other two sides is the original's centre 85%. Nothing stored, so the index
# does not grow; each is 17 bytes in a row's hash set. Measured on the bench: crops of 2% to 9% per side.
KEEP_TOP_LEFT, KEEP_TOP_RIGHT, KEEP_BOTTOM_LEFT, KEEP_BOTTOM_RIGHT = range(11, 15)
CORNER = 0.08  # of the width and of the height
KINDS: tuple[Kind, ...] = (
    Kind(FULL, "full"),
    Kind(WHOLE, "whole", whole=True),
    Kind(C85, "centre 85%", (0.075, 0.075, 0.925, 0.925)),
    Kind(C90, "centre 90%", (0.05, 0.05, 0.95, 0.95)),
    Kind(LEFT, "without left 10%", (0.1, 0.0, 1.0, 1.0)),
    Kind(RIGHT, "without right 10%", (0.0, 0.0, 0.9, 1.0)),
    Kind(TOP, "without top 10%", (0.0, 0.1, 1.0, 1.0)),
    Kind(BOTTOM, "without bottom 10%", (0.0, 0.0, 1.0, 0.9)),
    Kind(MIRROR, "mirrored", stored=False, mirror=True),
    Kind(ROT90, "rotated 90", stored=False, rotate=1),
    Kind(ROT270, "rotated 270", stored=False, rotate=3),
    Kind(KEEP_TOP_LEFT, "without right and bottom 8%", (0.0, 0.0, 1 - CORNER, 1 - CORNER), stored=False),
    Kind(KEEP_TOP_RIGHT, "without left and bottom 8%", (CORNER, 0.0, 1.0, 1 - CORNER), stored=False),
    Kind(KEEP_BOTTOM_LEFT, "without right and top 8%", (0.0, CORNER, 1 - CORNER, 1.0), stored=False),
    Kind(KEEP_BOTTOM_RIGHT, "without left and top 8%", (CORNER, CORNER, 1.0, 1.0), stored=False),
)
CORNERS = (KEEP_TOP_LEFT, KEEP_TOP_RIGHT, KEEP_BOTTOM_LEFT, KEEP_BOTTOM_RIGHT)


@lru_cache(maxsize=4)
def _dct_rows(n: int = PHASH_GRID, keep: int = 8) -> np.ndarray:
    """The first `keep` rows of an unnormalised DCT-II matrix (scipy's factor 2 only scales the median)."""
    k = np.arange(keep)[:, None]
    x = np.arange(n)[None, :]
    return np.cos(np.pi * k * (2 * x + 1) / (2 * n)).astype(np.float32)


def _reduce(image: Image.Image, box: tuple[float, float, float, float]) -> np.ndarray:
    """Area averages of a pixel box over 32x32 cells (Pillow's box filter takes fractional boxes)."""
    return np.asarray(image.resize((PHASH_GRID, PHASH_GRID), Image.Resampling.BOX, box=box))


@lru_cache(maxsize=8)
def _shrink(cells: int, size: int = PHASH_GRID) -> np.ndarray:
    """(cells, size) area weights taking `size` equal cells to `cells` equal cells."""
    edges = np.linspace(0, size, cells + 1)[:, None]
    pixel = np.arange(size)[None, :]
    return np.clip(np.minimum(edges[1:], pixel + 1) - np.maximum(edges[:-1], pixel), 0, None).astype(np.float32)


def small(grid32: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(K, 32, 32) reductions further reduced to (K, rows, cols): the same area averages, coarser."""
    return _shrink(rows) @ grid32 @ _shrink(cols).T


def phash_bits(grid32: np.ndarray) -> np.ndarray:
    """(K, 32, 32) reductions → (K, 64) pHash bits: low DCT coefficients above their median."""
    c = _dct_rows()
    low = (c @ grid32 @ c.T).reshape(len(grid32), -1)
    return low > np.median(low, axis=1, keepdims=True)


def dhash_bits(grid9: np.ndarray) -> np.ndarray:
    """(K, 8, 9) reductions → (K, 64) dHash bits: each cell brighter than its left neighbour."""
    return (grid9[:, :, 1:] > grid9[:, :, :-1]).reshape(len(grid9), -1)


def pack(bits: np.ndarray) -> np.ndarray:
    """(K, 64) bits, first most significant → (K,) uint64."""
    return np.packbits(bits.astype(np.uint8), axis=1).view(">u8").ravel().astype(np.uint64)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flags.astype(np.int8), [0]))))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def content_box(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """The main content block (left, top, right, bottom) without borders, bars and text; None if it is the whole image."""
    h, w = gray.shape
    bands = _runs(gray.std(axis=1) >= UNIFORM_STD)
    if not bands:
        return None
    top, bottom = max(bands, key=lambda r: r[1] - r[0])  # a photo is taller than any caption line or bar
    busy = np.flatnonzero(gray[top:bottom].std(axis=0) >= UNIFORM_STD)
    if bottom - top < MIN_BLOCK * h or len(busy) == 0:
        return None
    left, right = int(busy[0]), int(busy[-1]) + 1
    if right - left < MIN_BLOCK * w:
        return None
    if max(top, h - bottom) < MIN_TRIM * h and max(left, w - right) < MIN_TRIM * w:
        return None
    return left, top, right, bottom


def compute(gray: np.ndarray, kinds: tuple[Kind, ...] = KINDS) -> tuple[list[Kind], np.ndarray, np.ndarray]:
    """(the kinds that apply, pHash per kind, dHash per kind) of a grayscale image, as uint64."""
    h, w = gray.shape
    content = content_box(gray)
    x0, y0, x1, y1 = content or (0, 0, w, h)
    chosen, boxes = [], []
    for kind in kinds:
        if kind.whole and content is None:
            continue
        left, top, right, bottom = (0.0, 0.0, 1.0, 1.0) if kind.whole else kind.box
        bw, bh = (w, h) if kind.whole else (x1 - x0, y1 - y0)
        ox, oy = (0, 0) if kind.whole else (x0, y0)
        boxes.append((ox + left * bw, oy + top * bh, ox + right * bw, oy + bottom * bh))  # in pixels
        chosen.append(kind)
    image = Image.fromarray(gray, "F")
    distinct = {box: _reduce(image, box) for box in set(boxes)}
    g32 = np.stack([distinct[box] for box in boxes])
    g9 = small(g32, 8, 9)
    for i, kind in enumerate(chosen):
        if kind.mirror:
            g32[i], g9[i] = g32[i][:, ::-1], g9[i][:, ::-1]
        if kind.rotate:
            g32[i] = np.rot90(g32[i], kind.rotate)
            g9[i] = small(g32[i][None], 8, 9)[0]  # after the turn, so a quarter turn swaps the sides right
    return chosen, pack(phash_bits(g32)), pack(dhash_bits(g9))

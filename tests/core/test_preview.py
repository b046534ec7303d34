"""Half-block terminal preview: two pixels per cell, aspect kept, renders through rich."""

from __future__ import annotations

import pytest
from PIL import Image
from rich.color import Color
from rich.console import Console

from app.preview import UPPER_HALF, half_block

RED, BLUE, GREEN, WHITE = (255, 0, 0), (0, 0, 255), (0, 200, 0), (255, 255, 255)


def two_colour(width: int, height: int, top=RED, bottom=BLUE, mode: str = "RGB") -> Image.Image:
    image = Image.new("RGB", (width, height), bottom)
    image.paste(top, (0, 0, width, height // 2))
    return image.convert(mode)


def cells(text) -> list[list[tuple[str, tuple, tuple]]]:
    """Each line as (char, fg rgb, bg rgb) per cell, from the Text's spans."""
    styles = [None] * len(text.plain)
    for span in text.spans:
        for i in range(span.start, span.end):
            styles[i] = span.style
    lines, line = [], []
    for char, style in zip(text.plain, styles, strict=True):
        if char == "\n":
            lines.append(line)
            line = []
            continue
        line.append((char, tuple(style.color.get_truecolor()), tuple(style.bgcolor.get_truecolor())))
    lines.append(line)
    return lines


def test_top_red_bottom_blue_in_one_row():
    text = half_block(two_colour(8, 2), width=8)
    (row,) = cells(text)
    assert len(row) == 8
    assert all(cell == (UPPER_HALF, RED, BLUE) for cell in row)


def test_styles_are_truecolor_from_rgb():
    text = half_block(two_colour(4, 2, top=GREEN, bottom=WHITE), width=4)
    style = text.spans[0].style
    assert style.color == Color.from_rgb(*GREEN)
    assert style.bgcolor == Color.from_rgb(*WHITE)


def test_square_image_halves_the_rows():
    # 40x40 at width 20: each column is 2 pixels, each row 2 columns tall -> 10 rows of 20 cells.
    text = half_block(two_colour(40, 40), width=20)
    rows = cells(text)
    assert len(rows) == 10
    assert all(len(row) == 20 for row in rows)
    assert text.plain.count(UPPER_HALF) == 200
    assert all(cell == (UPPER_HALF, RED, RED) for cell in rows[0])
    assert all(cell == (UPPER_HALF, BLUE, BLUE) for cell in rows[-1])


def test_boundary_row_shows_both_colours():
    # 8 pixel rows: 4 red then 4 blue; at width 8 that is 4 cell rows, boundary between rows 1 and 2.
    rows = cells(half_block(two_colour(8, 8), width=8))
    assert [row[0][1:] for row in rows] == [(RED, RED), (RED, RED), (BLUE, BLUE), (BLUE, BLUE)]
    rows = cells(half_block(two_colour(8, 6), width=8))  # 3 red, 3 blue: the middle cell splits
    assert [row[0][1:] for row in rows] == [(RED, RED), (RED, BLUE), (BLUE, BLUE)]


@pytest.mark.parametrize(
    ("size", "width", "rows"),
    [((1600, 900), 32, 9), ((900, 1600), 48, 43), ((300, 100), 30, 5), ((10, 10), 48, 24), ((4000, 10), 48, 1)],
)
def test_dimensions_keep_the_aspect_ratio(size, width, rows):
    text = half_block(Image.new("RGB", size, GREEN), width=width)
    lines = text.plain.split("\n")
    assert len(lines) == rows
    assert all(line == UPPER_HALF * width for line in lines)


def test_default_width_is_48():
    assert half_block(Image.new("RGB", (96, 96), GREEN)).plain.split("\n")[0] == UPPER_HALF * 48


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "CMYK"])
def test_other_modes_are_converted(mode):
    rows = cells(half_block(two_colour(6, 2, top=WHITE, bottom=(0, 0, 0), mode=mode), width=6))
    assert rows[0][0][1] == WHITE
    assert rows[0][0][2] == (0, 0, 0)


def test_renders_through_a_console():
    console = Console(record=True, width=30, color_system="truecolor", force_terminal=True)
    console.print(half_block(two_colour(20, 10), width=20))
    exported = console.export_text(styles=False, clear=False)
    assert exported.splitlines() == [UPPER_HALF * 20] * 5
    ansi = console.export_text(styles=True)
    assert "38;2;255;0;0" in ansi and "48;2;0;0;255" in ansi


def test_narrow_space_crops_instead_of_wrapping():
    # What a Panel or Table cell does; console.print itself re-joins Text and drops no_wrap.
    console = Console(width=10)
    lines = console.render_lines(half_block(two_colour(20, 10), width=20), console.options)
    assert ["".join(segment.text for segment in line) for line in lines] == [UPPER_HALF * 10] * 5


@pytest.mark.parametrize("width", [0, -3])
def test_width_must_be_positive(width):
    with pytest.raises(ValueError, match="width"):
        half_block(Image.new("RGB", (4, 4)), width=width)

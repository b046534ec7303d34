"""The review screen fits the terminal: at 80×24 and 160×48 every fact a reviewer decides on is on one screen."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from rich.console import Console

from app.config import load_settings
from app.preview import UPPER_HALF
from app.review_screen import HELP, help_screen, key_hint, render, worth_showing
from app.workspace import Workspace
from curation import queue
from curation.views import get_item
from tests.curation.engine_photos import TRANSFORMS, jpeg, photo
from tests.review_driver import T0, review
from tests.site import Site

SIZES = [(80, 24), (160, 48)]
WORDS = " ".join(f"word{n:03d}" for n in range(120))  # 960 characters: more than a small screen has room for


def _collage(site: Site, text: str = WORDS) -> tuple[int, int]:
    """An item (by @collage) whose first photo is @dirk's earlier one re-encoded: a possible duplicate. (item, dirk)"""
    shared = photo(6)
    site.source.add_status(images=[jpeg(shared)], created_at=T0, acct="dirk", text="Atomium at dusk")
    site.source.add_status(images=[TRANSFORMS["jpeg q40"](shared), jpeg(photo(7))], created_at=T0 + timedelta(hours=1),
                           acct="collage", text=text)
    assert site.wlb("collect").code == 0
    items = {i["author"]["handle"].split("@")[0]: i for i in site.queue("all")}
    assert items["collage"]["possible_duplicate_of"] == [items["dirk"]["id"]]
    return items["collage"]["id"], items["dirk"]["id"]


def _screen(site: Site, item: int, width: int, height: int, *, candidates: bool = True) -> list[str]:
    """The item's screen as the loop draws it, rendered into a recording console of this size; its lines."""
    console = Console(width=width, height=height, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    with Workspace(load_settings(site.config)) as ws:
        view = get_item(ws.db, ws.store, item, settings=ws.settings)
        others = [get_item(ws.db, ws.store, i, settings=ws.settings) for i in view["possible_duplicate_of"]]
        others = others if candidates else []
        keys = key_hint(view, others, width=width, can_back=False, can_undo=False)
        console.print(render(console, view, others, channels=ws.publish_channels(), keys=keys))
    console.file.close()
    return console.export_text(styles=False).rstrip("\n").split("\n")


def _image_rows(lines: list[str]) -> list[str]:
    return [line for line in lines if UPPER_HALF * 8 in line]


@pytest.mark.parametrize("width, height", SIZES)
def test_an_item_with_a_possible_duplicate_fits_with_every_fact_and_both_images(site, width, height):
    item, dirk = _collage(site)
    lines = _screen(site, item, width, height)
    shown = "\n".join(lines)
    assert len(lines) <= height - 1, f"{len(lines)} lines on a {height}-line terminal:\n{shown}"
    assert all(len(line.rstrip()) <= width for line in lines)
    assert lines[0].startswith(f"#{item} pending · mastodon · 2026-11-20 13:00 · source")
    assert "@collage@fake.social (Alice)" in shown
    assert "word000 word001" in shown and "word009" in shown, "the text is wrapped over lines, not cut at 20"
    text_lines = [line for line in lines if "word" in line]
    if height == 24:  # 960 characters do not fit beside the images: cut with … where the room ends
        assert len(text_lines) >= 3 and text_lines[-1].rstrip().endswith("…") and "word119" not in shown
    else:  # they do on a large terminal: whole
        assert "word119" in shown and "…" not in shown
    assert "targets: every publishing channel (community)" in shown
    assert "licence: none stated ✓" in shown and "credit: @collage@fake.social" in shown
    assert f"looks like #{dirk} by @dirk@fake.social, same photo" in shown
    labels = [line for line in lines if f"#{item} this item (image 1 of 2)" in line]
    assert len(labels) == 1 and f"#{dirk} @dirk@fake.social · pending" in labels[0], "drawn side by side, labelled"
    art = _image_rows(lines)
    assert len(art) >= (height - 1) // 3, "the images get the rows the facts leave"
    assert all(len(re.findall(f"{UPPER_HALF}+", line)) == 2 for line in art), "both images on the same rows"
    assert "d duplicate" in lines[-1] and "q quit" in lines[-1]
    assert "history" not in shown and "queue" not in shown, "nothing but collected/queue: no history"


@pytest.mark.parametrize("width, height", SIZES)
def test_an_item_alone_gets_its_image_beside_the_facts_as_tall_as_the_screen(site, width, height):
    item, _ = _collage(site, text="Grand-Place at night")
    lines = _screen(site, item, width, height, candidates=False)
    assert len(lines) <= height - 1
    art = _image_rows(lines)
    assert len(art) >= height - 5, "scaled to the rows left: nearly the whole height"
    assert all(line.startswith(f"#{item} ") for line in lines[:1]) and "Grand-Place at night" in lines[3]
    assert max(len(line.rstrip()) for line in art) <= width


def test_a_short_text_is_whole_and_has_no_ellipsis(site):
    item, _ = _collage(site, text="Manneken Pis in a raincoat")
    shown = "\n".join(_screen(site, item, 80, 24))
    assert "Manneken Pis in a raincoat #welovebrussels" in shown and "…" not in shown.split("targets:")[0]


@pytest.mark.parametrize("width, height", SIZES)
def test_gates_and_history_are_on_the_screen_with_the_key_to_press(site, width, height):
    item, dirk = _collage(site)
    site.set_post(item, license="All rights reserved", needs_credit=True)
    with Workspace(load_settings(site.config)) as ws:
        queue.reject(ws.db, [item], reason="blurry", actor="bob")
        queue.undo(ws.db, item, actor="bob")
    lines = _screen(site, item, width, height)
    shown = "\n".join(lines)
    assert len(lines) <= height - 1, shown
    joined = " ".join(line.strip() for line in lines)  # each gate may take two lines on a narrow screen
    assert "✗ needs permission, press f to force with how they agreed: licence All rights reserved is not in " \
           "licenses.allowed" in joined
    assert "✗ needs credit, press k to set it: no author could be determined" in joined
    assert f"looks like #{dirk}" in shown
    assert "bob undo (rejected → pending)" in shown, "the latest decision, always"
    if height == 48:
        assert "bob reject (pending → rejected): blurry" in shown, "and the ones before it where there is room"
    assert "f force" in lines[-1] and "k credit" in lines[-1] and "q quit" in lines[-1]


@pytest.mark.parametrize("width, height", SIZES)
def test_the_text_keeps_a_line_when_every_fact_and_note_wants_one(site, width, height):
    item, dirk = _collage(site, text="Sunset over the Atomium from the Heysel")
    site.set_post(item, license="All rights reserved", needs_credit=True, caption="For the weekend")
    with Workspace(load_settings(site.config)) as ws:
        queue.reject(ws.db, [item], reason="blurry", actor="bob")
        queue.undo(ws.db, item, actor="bob")
    lines = _screen(site, item, width, height)
    shown = "\n".join(lines)
    assert len(lines) <= height - 1, shown
    assert "Sunset over the Atomium" in shown, "the post's own text, whatever else the screen must say"
    assert "caption: For the weekend" in shown and f"looks like #{dirk}" in shown
    assert "needs permission" in shown and "needs credit" in shown


def test_history_shows_only_beyond_what_the_system_records_for_every_item():
    quiet = [{"actor": "wlb", "action": "queue"}, {"actor": "wlb", "action": "collected"}]
    assert worth_showing(quiet) == []
    assert worth_showing([*quiet, {"actor": "ann", "action": "credit"}]) == [{"actor": "ann", "action": "credit"}]
    assert worth_showing([{"actor": "wlb", "action": "origin-check"}]) != [], "a system check is worth a line"


@pytest.mark.parametrize("width, height", SIZES)
def test_the_loop_draws_the_first_screen_within_the_terminal(site, width, height):
    item, dirk = _collage(site)
    run = review(site, ["q"], width=width, height=height)
    lines = run.shown.rstrip("\n").split("\n")
    screen = lines[:-1]  # then the session's summary line
    assert len(screen) <= height - 1 and screen[0].startswith(f"#{item} pending")
    assert lines[-1] == "approved 0, rejected 0, skipped 0"
    assert f"looks like #{dirk} by @dirk@fake.social" in run.shown


def test_a_tiny_terminal_still_draws_without_error(site):
    item, _ = _collage(site)
    lines = _screen(site, item, 40, 10)
    assert len(lines) <= 9 and lines[0].startswith(f"#{item} ")


@pytest.mark.parametrize("width, height", [(80, 24), (40, 10), (30, 6)])
def test_the_help_fits_the_terminal_with_every_key(width, height):
    console = Console(width=width, height=height, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(help_screen(width, height))
    console.file.close()
    lines = console.export_text(styles=False).rstrip("\n").split("\n")
    assert len(lines) <= height - 1, "\n".join(lines)
    assert all(len(line.rstrip()) <= width for line in lines)
    keys = {word for line in lines[1:-1] for word in line.split()}
    assert {key for key, _ in HELP if len(key) == 1} <= keys, "every key is on the screen"
    if height >= 24:
        assert any("force past a licence" in line for line in lines), "one per line where there is room"

"""The `wlb review` screen: one item laid out to fit the terminal, its possible duplicates drawn beside it.

Every line is measured here, so a screen never scrolls: facts one line each (cut with "…"), the text wrapped
into the rows it can have, the image scaled to the rows and columns left over.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from app.output import STATUS_STYLE, inert
from app.preview import fitted, load
from core.decisions import SYSTEM_ACTOR

QUIET_HISTORY = ("collected", "queue")  # what the system records for every item: no history worth a line
GAP = 2  # columns between side-by-side panels
CACHED = 16  # decoded previews kept: the current item, its candidates, going back a few
MIN_PANEL = 16  # an image narrower than this tells a reviewer nothing
MAX_CANDIDATES = 3
SHORT = {"f": "force", "d": "dup", "c": "capt", "t": "to"}  # the key line on a narrow terminal
HELP = (("a", "approve (to the targets shown)"), ("r", "reject (asks the reason; Enter for none)"),
        ("s", "skip: leave it for later or for someone else"), ("b", "back to the previous item"),
        ("u", "undo your last decision in this session"), ("d", "mark as a duplicate of a photo shown beside it"),
        ("c", "edit the caption of the repost"), ("t", "choose the targets (publishing channels)"),
        ("k", "set the credit (the photographer, when no author is known)"),
        ("f", "force past a licence that needs permission (asks how they agreed)"),
        ("o", "open the post in a browser (or print its link)"), ("?", "this help"), ("q", "quit"),
        ("A R D", "after a refusal: decide over the other reviewer (recorded as an override)"))


@dataclass
class Images:
    """Decoded previews kept for the session: redrawing an item never reads its file again."""

    cache: dict[tuple[str, int, int], Image.Image | None] = field(default_factory=dict)

    def get(self, view: dict, cols: int, rows: int) -> Image.Image | None:
        path = next((m["path"] for m in view["media"] if m["state"] == "ok" and m["path"]), None)
        if path is None or cols < 1 or rows < 1:
            return None
        key = (path, cols, rows)
        if key not in self.cache:
            if len(self.cache) >= CACHED:  # a long session must not keep every photo it showed
                del self.cache[next(iter(self.cache))]
            self.cache[key] = load(path, cols, rows)
        return self.cache[key]


def _line(text: Text) -> Text:
    """One screen line: never wrapped, cut with "…" at the column's width."""
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


def _header(view: dict) -> Text:
    date = view["created_at"][:16].replace("T", " ")
    return Text.assemble((f"#{view['id']} ", "bold"), inert(view["status"], STATUS_STYLE.get(view["status"], "")),
                         inert(f" · {view['platform']} · {date} · {view['channel']}"))


def _author(view: dict) -> Text:
    author = view["author"]
    name = " ".join((author.get("name") or "").split())
    shown = f"@{author['handle']}" + (f" ({name})" if name and name.lower() != author["handle"].lower() else "")
    return inert(shown, "bold")


def _targets(view: dict, channels: Sequence[str]) -> Text:
    if view["targets"]:
        return inert("targets: " + ", ".join(view["targets"]))
    if channels:
        return inert(f"targets: every publishing channel ({', '.join(channels)})")
    return Text("targets: no publishing channel yet (set publish = true on one)", "yellow")


def _licence(view: dict) -> Text:
    if view.get("needs_permission"):
        return inert(f"✗ needs permission, press f to force with how they agreed: {view['needs_permission']}", "bold red")
    return Text.assemble("licence: ", inert(view.get("license") or "none stated"), (" ✓", "green"))


def _credit(view: dict) -> Text:
    if view.get("needs_credit"):
        found = view.get("suggested_credits") or []
        hint = f" (suggested, from #{found[0]['from']}: {found[0]['credit']})" if found else ""
        return inert(f"✗ needs credit, press k to set it: no author could be determined{hint}", "bold red")
    if view.get("credit"):
        return inert(f"credit: {view['credit']} (set by a reviewer)")
    return inert(f"credit: @{view['author']['handle']}")


def _notes(view: dict, candidates: Sequence[dict]) -> list[Text]:
    """Duplicate relations in words ("looks like #18 by @dirk, same photo, slightly cropped"), then flags."""
    notes = [inert(m["note"], "yellow" if m["tier"] != "duplicate" else "magenta") for m in view.get("matches", [])]
    said = {m["id"] for m in view.get("matches", [])}
    for c in candidates:
        if c["id"] not in said:
            notes.append(inert(f"possible duplicate of #{c['id']} ({c['status']}, @{c['author']['handle']}): "
                               "compare the images", "yellow"))
            said.add(c["id"])
    for other in view.get("possible_duplicate_of", []):
        if other not in said:
            notes.append(Text(f"possible duplicate of #{other}: compare the images", "yellow"))
    if view.get("duplicate_of") and view["duplicate_of"] not in said:
        notes.append(Text(f"duplicate of #{view['duplicate_of']}", "magenta"))
    if view.get("spoiler_text"):
        notes.append(inert(f"content warning: {view['spoiler_text']}", "bold yellow"))
    if view.get("reasons") and not view.get("duplicate_of"):
        notes.append(inert("flagged: " + "; ".join(view["reasons"]), "red"))
    return notes


def worth_showing(history: Sequence[dict]) -> list[dict]:
    """The history beyond what the system records for every item ("collected", "queue"): empty for most."""
    return [h for h in history if not (h["actor"] == SYSTEM_ACTOR and h["action"] in QUIET_HISTORY)]


def _history(view: dict) -> list[Text]:
    entries = worth_showing(view.get("history") or [])
    return [inert(f"{h['at'][:16].replace('T', ' ')} {h['actor']} {h['action']} ({h['from']} → {h['to']})"
                  + (f": {h['reason']}" if h["reason"] else ""), "dim") for h in entries[::-1]]  # newest first


def _body(view: dict) -> Text:
    text = "\n".join(part for part in (view.get("title"), view.get("text")) if part) or "(no text)"
    text = re.sub(r"\n\s*\n+", "\n", inert(text, multiline=True).plain.strip())  # blank lines cost rows
    return Text(text or "(no text)")


def wrapped(console: Console, text: Text, width: int, rows: int) -> list[Text]:
    """`text` wrapped to `width`, at most `rows` lines; the last one ends in "…" when some is left out."""
    if rows < 1 or width < 1:
        return []
    lines = list(text.wrap(console, width, overflow="fold"))
    if len(lines) > rows:
        lines = lines[:rows]
        last = lines[-1]
        last.rstrip()
        last.truncate(width - 1)
        last.append("…")
    return [_line(line) for line in lines]


def info_lines(console: Console, view: dict, candidates: Sequence[dict], channels: Sequence[str],
               width: int, rows: int) -> list[Text]:
    """The item's facts in at most `rows` lines of `width`: what decides come first, the text gets what is left."""
    gates = [*wrapped(console, _licence(view), width, 2), *wrapped(console, _credit(view), width, 2)]  # never cut short
    facts = [_targets(view, channels), *gates]
    if view.get("caption"):
        facts.insert(1, inert(f"caption: {view['caption']}", "cyan"))
    notes, history = _notes(view, candidates), _history(view)
    must = [_header(view), _author(view), *facts, *notes[:2], *history[:1]]
    extra = [inert(view["post_url"], "blue"), *notes[2:], *history[1:]]
    alt = next((m["alt_text"] for m in view["media"] if m.get("alt_text")), None)
    extra += [inert(f"alt: {alt}", "dim")] if alt else []
    body = _body(view)
    text_rows = len(body.wrap(console, max(1, width), overflow="fold"))
    must = must[:rows - (rows > 2)]  # the text's first line outranks the last facts: it is what is reviewed
    room = rows - len(must)
    text_min = min(text_rows, 3, room)
    extra = extra[:max(0, room - text_min)]
    text = wrapped(console, body, width, room - len(extra))
    head, rest = must[:2], must[2:]
    url = extra[:1] if extra and extra[0].plain == view["post_url"] else []
    return [_line(t) for t in (*head, *url, *text, *rest, *extra[len(url):])]


def key_hint(view: dict, candidates: Sequence[dict], *, width: int, can_back: bool, can_undo: bool) -> Text:
    """The keys that apply to this item now, the gates' keys first; `?` lists them all."""
    keys = [("a", "approve"), ("r", "reject"), ("s", "skip")]
    keys += [("f", "force licence")] if view.get("needs_permission") else []
    keys += [("k", "credit")] if view.get("needs_credit") else []
    keys += [("d", "duplicate")] if candidates or view.get("possible_duplicate_of") else []
    keys += [("b", "back")] if can_back else []
    keys += [("u", "undo")] if can_undo else []
    keys += [("c", "caption"), ("t", "targets"), ("o", "open")] if width >= 110 else []
    keys += [("?", "help"), ("q", "quit")]
    for gap, short in (("  ", {}), (" ", SHORT), (" ", {k: "" for k, _ in keys if k not in "?q"})):
        hint = Text()
        for n, (key, what) in enumerate(keys):
            what = short.get(key, what)
            hint.append(gap if n else "")
            hint.append(key, "bold cyan")
            hint.append(f" {what}" if what else "")
        if hint.cell_len <= width:
            break
    return _line(hint)


def _panel(images: Images, view: dict, label: Text, cols: int, rows: int) -> tuple[list[Text | Group], int]:
    """A label over the first stored image, as large as fits; its lines and its width in columns."""
    image = images.get(view, cols, rows - 1)
    art = fitted(image, cols, rows - 1) if image is not None else Text()
    if not art.plain:
        missing = next((m["refused_reason"] or m["state"] for m in view["media"] if m["state"] != "ok"), "no image")
        art = _line(inert(f"({missing})", "dim")) if rows > 1 else Text()
    width = max((len(line) for line in art.plain.split("\n")), default=0)
    return [_line(label), art] if art.plain else [_line(label)], min(cols, max(width, min(cols, 24)))


def _labels(view: dict, candidates: Sequence[dict]) -> list[Text]:
    count = sum(1 for m in view["media"] if m["state"] == "ok")
    own = Text.assemble((f"#{view['id']} ", "bold"), "this item", f" (image 1 of {count})" if count > 1 else "")
    return [own, *(Text.assemble((f"#{c['id']} ", "bold yellow"), inert(f"@{c['author']['handle']} · {c['status']}"))
                   for c in candidates)]


def render(console: Console, view: dict, candidates: Sequence[dict], *, channels: Sequence[str], keys: Text,
           notice: Text | None = None, images: Images | None = None) -> Group:
    """The whole screen for `console`'s size, one line short of its height (the prompt's line)."""
    images = images or Images()
    width, height = console.width, console.height
    budget = max(3, height - 1)
    tail = wrapped(console, notice, width, 3) if notice is not None else []
    tail.append(_line(keys.copy()))
    rows = budget - len(tail)
    candidates = list(candidates)[:MAX_CANDIDATES]
    side = not candidates and width >= 70
    if side:
        body = _side_by_side(console, view, channels, width, rows, images)
    else:
        body = _stacked(console, view, candidates, channels, width, rows, images)
    return Group(*body, *tail)


def _side_by_side(console: Console, view: dict, channels: Sequence[str], width: int, rows: int,
                  images: Images) -> list:
    """No candidate: the facts on the left, the image on the right as tall as the screen allows."""
    label = _labels(view, [])[0]
    panel, panel_width = _panel(images, view, label, width * 9 // 20, rows)
    info_width = width - panel_width - GAP
    grid = Table.grid(padding=(0, GAP, 0, 0), pad_edge=False)
    grid.add_column(width=info_width, no_wrap=True)
    grid.add_column(width=panel_width, no_wrap=True)
    grid.add_row(Group(*info_lines(console, view, [], channels, info_width, rows)), Group(*panel))
    return [grid]


def _stacked(console: Console, view: dict, candidates: list[dict], channels: Sequence[str], width: int, rows: int,
             images: Images) -> list:
    """Facts across the top; below, the item and each possible duplicate side by side, each labelled."""
    panels = max(1, min(1 + len(candidates), (width + GAP) // (MIN_PANEL + GAP)))
    candidates = candidates[:panels - 1]
    natural = len(info_lines(console, view, candidates, channels, width, 10**6))
    info = info_lines(console, view, candidates, channels, width, min(natural, rows - max(2, rows // 2)))
    left = rows - len(info)
    if left < 2:
        return info
    cols = (width - GAP * (panels - 1)) // panels
    grid = Table.grid(padding=(0, GAP, 0, 0), pad_edge=False)
    cells = []
    for shown, label in zip([view, *candidates], _labels(view, candidates), strict=True):
        lines, _ = _panel(images, shown, label, cols, left)
        grid.add_column(width=cols, no_wrap=True)
        cells.append(Group(*lines))
    grid.add_row(*cells)
    return [*info, grid]


def help_screen(width: int, height: int | None = None) -> Group:
    """Every key and what it does; in columns when the terminal is too short for one per line."""
    rows = len(HELP) if height is None else max(1, min(len(HELP), height - 3))  # a title, a footer, the prompt's line
    columns = -(-len(HELP) // rows)
    if columns == 1:
        body = [_line(Text.assemble((f"{key:>5}  ", "bold cyan"), what)) for key, what in HELP]
    else:
        entries = [_line(Text.assemble((key, "bold cyan"), f" {what}")) for key, what in HELP]
        grid = Table.grid(padding=(0, GAP, 0, 0), pad_edge=False)
        for _ in range(columns):
            grid.add_column(width=max(1, (width - GAP * (columns - 1)) // columns), no_wrap=True)
        for row in range(rows):
            grid.add_row(*(entries[i] if i < len(entries) else Text() for i in range(row, rows * columns, rows)))
        body = [grid]
    return Group(_line(Text("wlb review keys", "bold")), *body, _line(Text("press any key to go back to the item", "dim")))

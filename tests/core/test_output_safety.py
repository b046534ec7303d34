"""Remote text is printed as text: core.safe_text and every Output renderer, fed hostile values."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from dataclasses import dataclass

import pytest
from rich.console import Console

from app.output import Output, dedup_output, plans_output
from core.report import RunReport
from core.safe_text import escape_json_controls, strip_control
from publisher.run import Planned
from tests.fakes.hostile import ATTACKS, MARKUP, READABLE

EVIL = ATTACKS["content"]  # OSC 52, OSC 8, C1 CSI, DCS, ESC c, bidi override, DEL, BS, CR, markup, and READABLE
SGR = re.compile(r"\x1b\[[0-9;]*m")
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize("raw, clean", [
    ("a\x1b[2Jb", "ab"),  # clear screen
    ("a\x1b]0;title\x07b", "ab"),  # window title, BEL-terminated
    ("a\x1b]52;c;cm0gLXJmIH4K\x1b\\b", "ab"),  # clipboard write, ST-terminated
    ("\x1b]8;;https://evil.example/\x1b\\link\x1b]8;;\x1b\\", "link"),  # hyperlink: the text stays, the link goes
    ("a\x9b2Jb", "ab"),  # 8-bit CSI
    ("a\x9d0;title\x9cb", "ab"),  # 8-bit OSC and ST
    ("a\x90qsixel\x9cb", "ab"),  # DCS
    ("a\x1bcb", "ab"),  # full reset
    ("a\x1b(Bb", "ab"),  # charset designation
    ("a\x1b]0;unterminated\nnext", "a next"),  # cut at the end of the line, the rest readable
    ("a\x07\x08\x7f\x00b", "ab"),  # BEL, backspace, DEL, NUL
    ("\u202eexe.txt\u202c \u2066x\u2069", "exe.txt x"),  # bidi override and isolate
    ("a\tb\r\nc\u2028d", "a b c d"),
    ("a\ud800b", "a\ufffdb"),  # a lone surrogate would make the write itself fail
    (None, ""),
    (42, "42"),
])
def test_strip_control_removes_sequences_whole(raw, clean):
    assert strip_control(raw) == clean


def test_strip_control_keeps_what_people_write():
    text = " ".join((*READABLE, "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",  # flag of England
                     "\u200fעברית\u200e", "Z\u0351\u0334a", "日本語", "[bold]"))
    assert strip_control(text) == text
    assert strip_control("one\r\ntwo\n\nthree", multiline=True) == "one\ntwo\n\nthree"
    assert strip_control("one\ntwo") == "one two"


def test_escape_json_controls_keeps_values_and_leaves_nothing_raw():
    value = {"name": EVIL, "lone": "\ud800", "ls": "\u2028"}
    dumped = escape_json_controls(json.dumps(value, ensure_ascii=False))
    assert json.loads(dumped) == value
    assert not UNSAFE.search(dumped) and "\ud800" not in dumped and READABLE[0] in dumped


def _out() -> tuple[Output, io.StringIO]:
    buf = io.StringIO()
    return Output(console=Console(file=buf, width=300, force_terminal=True, color_system="truecolor")), buf


def _assert_inert(text: str) -> None:
    bare = SGR.sub("", text)  # rich's own colours
    assert "\x1b[5m" not in text and not UNSAFE.search(bare), repr(bare)


def _item(**over) -> dict:
    item = {
        "id": 7, "status": "pending", "channel": "source", "created_at": "2026-11-20T12:00:00+00:00",
        "author": {"handle": "mallory" + MARKUP[1] + "\x1b[8m@evil.example", "name": ATTACKS["display_name"],
                   "profile_url": "https://evil.example/@m\x1b]8;;x\x1b\\"},
        "post_url": "https://evil.example/1" + ATTACKS["url"], "text": EVIL + "\nsecond line",
        "spoiler_text": ATTACKS["spoiler_text"], "reasons": [f"has a content warning {EVIL}"],
        "license": "CC BY\x1b[2J" + MARKUP[0], "license_url": "https://evil.example/\x9b2J",
        "needs_permission": "licence \x1b]52;c;eA==\x07", "duplicate_of": None, "duplicates": [],
        "possible_duplicate_of": [], "matches": [],
        "media": [{"state": "ok", "width": 1080, "height": 1350, "format": "JPEG", "phash": "ab", "alt_text": ATTACKS["description"],
                   "refused_reason": None},
                  {"state": "refused", "refused_reason": "type \x1b]0;t\x07 not allowed", "alt_text": None}],
        "publications": [{"channel": "community", "state": "failed", "url": None, "error": EVIL}],
        "history": [{"at": "2026-11-20T12:00:00", "action": "reject", "from": "pending", "to": "rejected",
                     "actor": "x[/bold]", "reason": EVIL}],
    }
    return item | over


def test_queue_table_prints_markup_in_a_handle_as_text():
    out, buf = _out()
    out.items([_item()])  # Table.add_row with a str "x[/bold]" raised MarkupError for the whole list
    _assert_inert(buf.getvalue())
    assert "x[/bold]" in buf.getvalue() and READABLE[3] in buf.getvalue() and "\x1b]8" not in buf.getvalue()


def test_show_prints_every_field_inert_and_readable():
    out, buf = _out()
    out.item(_item())
    shown = buf.getvalue()
    _assert_inert(shown)
    for text in (*READABLE, *MARKUP, "content warning:", "second line", "licence: CC BY", "not allowed", "x[/bold]"):
        assert text in shown, text


def test_collect_summary_prints_remote_reasons_inert():
    report = RunReport()
    channel = report.channel("source")
    channel.skipped = Counter({f"bad {EVIL}": 2})
    channel.refused.append(f"https://evil.example/{EVIL}: not an image")
    channel.errors.append(f"evil.example answered 500: {EVIL}")
    report.warnings.append(EVIL)
    out, buf = _out()
    out.report(report)
    _assert_inert(buf.getvalue())
    assert buf.getvalue().count(MARKUP[0]) == 4


def test_publish_plans_print_inert_title_text_and_alt():
    plan = Planned(item=7, channel="community", text=f"{EVIL}\n\nby {ATTACKS['display_name']}",
                   images=[{"mime": "image/jpeg", "bytes": 1000, "alt": ATTACKS["description"]}],
                   idempotency_key="k", result="published", url="https://evil.example/[link=https://x.example]y[/link]\x1b]0;t\x07")
    report = RunReport()
    report.channel("community").errors.append(EVIL)
    out, buf = _out()
    plans_output(out, [plan], report, dry_run=False)
    _assert_inert(buf.getvalue())
    assert "[link=https://x.example]y[/link]" in buf.getvalue() and READABLE[3] in buf.getvalue()


def test_doctor_and_dedup_print_inert():
    @dataclass
    class Finding:
        subject: str
        ok: bool
        message: str

    out, buf = _out()
    out.findings([Finding("source", False, f"instance title {EVIL}")])
    dedup_output(out, {"clusters": [{"files": [f"inbox/{EVIL}.jpg"], "archive_items": []}],
                       "possible": [{"distance": 3, "files": ["a\x1b[2J.jpg", "b.jpg"]}],
                       "errors": [{"path": "c\x9b2J.jpg", "reason": EVIL}]})
    _assert_inert(buf.getvalue())


def test_error_and_json_output(capsys):
    Output().error(f"evil.example answered 500: {EVIL}")
    Output(json_mode=True).items([_item()])
    captured = capsys.readouterr()
    _assert_inert(captured.err)
    assert len(captured.err.strip().splitlines()) == 1
    assert not UNSAFE.search(captured.out.replace("\n", ""))
    assert json.loads(captured.out)[0]["text"] == EVIL + "\nsecond line"

"""A hostile instance's text reaches the terminal as text: collect, queue, show and publish --dry-run through cli.main."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.hostile import ATTACKS, MARKUP, READABLE, HostileMastodon
from tests.fakes.mastodon import FakeMastodon
from tests.site import PUBLISH_TOKEN, Site

# What rich itself writes when it believes it drives a colour terminal: colours (SGR), and on stderr the
# transient progress bar's cursor hiding, line erasing and moving up. ATTACKS use blink (5) and conceal
# (8), which no wlb style does, so a remote SGR cannot hide among rich's own.
RICH_OWN = re.compile(r"\x1b\[[0-9;]*m|\x1b\[\?25[hl]|\x1b\[[12]?[AK]|\r")
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def assert_inert(text: str, *, colour: bool = False) -> None:
    """No control character, escape or C1 sequence, bidi override; in colour mode only rich's own."""
    assert "\x1b[5m" not in text and "\x1b[8m" not in text
    bare = RICH_OWN.sub("", text) if colour else text
    assert not UNSAFE.search(bare), repr(UNSAFE.search(bare).group())
    assert "]8;;" not in bare and "]52;" not in bare and "]0;" not in bare, bare


@pytest.fixture(params=["plain", "colour"])
def hostile(request, tmp_path: Path, db_url: str, capsys, monkeypatch) -> Iterator[Site]:
    """wlb collecting from a hostile instance and publishing to a well-behaved one, on a wide terminal."""
    monkeypatch.setenv("WLB_PUB_TOKEN", PUBLISH_TOKEN)
    monkeypatch.setenv("COLUMNS", "400")  # nothing cut or wrapped: the assertions see whole strings
    if request.param == "colour":
        monkeypatch.setenv("FORCE_COLOR", "1")
        monkeypatch.setenv("TERM", "xterm-256color")
    else:
        monkeypatch.delenv("FORCE_COLOR", raising=False)
    with HostileMastodon() as source, FakeMastodon(domain="community.social", token=PUBLISH_TOKEN) as community:
        site = Site(tmp_path, source, community, capsys, db_url)
        site.colour = request.param == "colour"
        site.write_config(extra='sensitive = "review"')  # the attack carries a content warning: keep it for review
        yield site


def test_every_remote_field_prints_as_plain_readable_text(hostile):
    attack = hostile.source.add_terminal_attack(acct="mallory")
    hostile.source.add_terminal_attack()  # escapes and markup in the acct itself: not a handle, never stored
    hostile.source.add_status(username="bob", display_name="Bob", text="Atomium at dusk")
    collected = hostile.wlb("collect")
    assert collected.code == 0, collected.err
    assert_inert(collected.out + collected.err, colour=hostile.colour)
    assert "malformed" in collected.out

    listed = hostile.wlb("queue")
    assert listed.code == 0, listed.err  # "x[/bold]" in a name used to fail the whole list
    assert_inert(listed.out + listed.err, colour=hostile.colour)
    assert "@mallory@hostile.example" in listed.out and "@bob@hostile.example" in listed.out
    assert all(text in listed.out for text in READABLE[:3]) and MARKUP[0] in listed.out

    (item,) = [i for i in hostile.queue("pending") if i["author"]["handle"].startswith("mallory")]
    shown = hostile.wlb("show", str(item["id"]), "--no-preview")
    assert shown.code == 0, shown.err
    assert_inert(shown.out + shown.err, colour=hostile.colour)
    for text in (*READABLE, *MARKUP, "Mallory", "content warning:", "alt [link=", "gnp.exe"):
        assert text in shown.out, text

    assert hostile.wlb("approve", str(item["id"])).code == 0
    dry = hostile.wlb("publish", "--dry-run")
    assert dry.code == 0, dry.err
    assert_inert(dry.out + dry.err, colour=hostile.colour)
    assert "would send" in dry.out and READABLE[3] in dry.out and MARKUP[0] in dry.out
    assert hostile.community.published == [] and hostile.community.uploads == []
    assert any(r.path == f"/api/v1/statuses/{attack['id']}" for r in hostile.source.requests)


def test_json_keeps_remote_values_but_escapes_what_a_terminal_would_run(hostile):
    hostile.source.add_terminal_attack(acct="mallory")
    assert hostile.wlb("collect").code == 0
    listed = hostile.wlb("queue", "--json")
    assert listed.code == 0, listed.err
    assert not UNSAFE.search(listed.out.replace("\n", "")), "json.dumps leaves C1 and bidi controls raw"
    (item,) = json.loads(listed.out)
    assert "\x1b]0;pwned title\x07" in item["author"]["name"], "values stay as the platform sent them"
    assert item["author"]["name"].startswith(ATTACKS["display_name"][:4])
    assert "\u202e" in item["author"]["name"] and "\x9b" in item["text"]

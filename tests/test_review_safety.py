"""`wlb review` shows hostile items as text and opens nothing but http(s) links."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from rich.console import Console
from sqlmodel import select

import app.review
from core.models import Post
from app.output import Output
from app.pipeline import Pipeline
from app.config import load_settings
from app.review import openable, review_loop
from tests.fakes import images
from tests.fakes.hostile import MARKUP, READABLE, HostileMastodon
from tests.site import Site

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SGR = re.compile(r"\x1b\[[0-9;]*m")
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _review(site: Site, keys: list[str]) -> tuple[list[str], str]:
    """Run the review loop on a colour terminal with these keys; return the URLs opened and what was printed."""
    buf, opened, pressed = io.StringIO(), [], iter(keys)
    out = Output(console=Console(file=buf, width=300, force_terminal=True, color_system="truecolor"))
    review_loop(Pipeline(load_settings(site.config)), out, getkey=lambda: next(pressed, "q"), ask=lambda prompt: "",
                open_url=opened.append)
    return opened, buf.getvalue()


def _set_url(site: Site, url: str) -> None:
    db = Pipeline(load_settings(site.config)).db
    with db.session() as session:
        for post in session.exec(select(Post)):
            post.url = url
            session.add(post)
        session.commit()


@pytest.mark.parametrize("url, ok", [
    ("https://fake.social/@alice/1", True), ("HTTP://fake.social/@alice/1", True),
    ("https://xn--brssel-dya.example/@a/1", True),
    ("file:///etc/passwd", False), ("javascript:alert(document.cookie)", False), ("data:text/html,<script>", False),
    ("ftp://fake.social/x", False), ("//fake.social/x", False), ("https://", False), ("fake.social/x", False),
    ("https://fake.social/a b", False), ("https://fake.social/\x1b]0;t\x07", False), ("https://[::1/", False),
    (" https://fake.social/x", False), ("-https://fake.social/x", False), (None, False),
])
def test_openable_only_http_and_https_with_a_host(url, ok):
    assert openable(url) is ok


@pytest.mark.parametrize("url", ["file:///etc/passwd", "javascript:alert(1)"])
def test_o_never_hands_a_non_http_url_to_the_browser(site, url):
    site.source.add_status(images=[images.jpeg(40)], created_at=T0)
    assert site.wlb("collect").code == 0
    _set_url(site, url)
    opened, shown = _review(site, ["o", "o", "s"])
    assert opened == []
    assert shown.count("only http(s) links are opened") == 2


def test_review_prints_a_hostile_item_and_its_possible_duplicate_as_text(site, monkeypatch):
    with HostileMastodon() as hostile:
        site.source = hostile  # the config now collects from the hostile instance
        site.write_config(extra='sensitive = "review"')
        hostile.add_terminal_attack(acct="mallory")
        hostile.add_status(username="bob", display_name="Bob")
        assert site.wlb("collect").code == 0
        pending = {i["author"]["handle"]: i["id"] for i in site.queue("pending")}
        evil, bob = pending["mallory@hostile.example"], pending["bob@hostile.example"]
        _set_url(site, "https://hostile.example/@mallory/1?q=\x1b]8;;https://evil.example/\x1b\\")  # as if stored
        real_get_item = app.review.get_item

        def with_possible_duplicate(db, store, item_id, settings=None):  # the hostile item as a possible match
            view = real_get_item(db, store, item_id, settings=settings)
            return view | {"possible_duplicate_of": [evil]} if item_id == bob else view

        monkeypatch.setattr(app.review, "get_item", with_possible_duplicate)
        opened, shown = _review(site, ["s", "o", "s"])  # newest first: Bob, then the attack
    bare = SGR.sub("", shown)
    assert not UNSAFE.search(bare) and "\x1b[5m" not in shown, repr(UNSAFE.search(bare))
    assert all(text in shown for text in (*READABLE, *MARKUP))
    assert f"possible duplicate of #{evil} (pending, @mallory@hostile.example):" in bare
    assert opened == [] and "only http(s) links are opened" in shown  # the url carries escape sequences


def test_what_a_reviewer_types_is_shown_back_as_text(site):
    site.source.add_status(images=[images.jpeg(41)], created_at=T0)
    assert site.wlb("collect").code == 0
    typed = iter(["\x1b]0;pwned\x07caption [bold]x[/bold]", "\x1b[2Jnowhere", "\x9b31m@x@y\x1b[8m"])
    buf = io.StringIO()
    out = Output(console=Console(file=buf, width=200, height=40, force_terminal=True, color_system="truecolor"))
    keys = iter(["c", "t", "k", "r"])
    review_loop(Pipeline(load_settings(site.config)), out, getkey=lambda: next(keys, "q"),
                ask=lambda prompt: next(typed, ""), open_url=lambda url: None)
    shown = buf.getvalue()
    bare = SGR.sub("", shown)
    assert not UNSAFE.search(bare), repr(UNSAFE.search(bare))
    assert "caption: caption [bold]x[/bold]" in bare and "'nowhere' is not a publishing channel" in bare

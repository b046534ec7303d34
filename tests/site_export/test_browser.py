"""The wall in a real headless Chromium, served over http from 127.0.0.1: the thumbnails load, a screenshot is kept."""

from __future__ import annotations

import importlib.util
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.browser_wait import wait_until

from tests.site_export.conftest import BASE

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def served(archive, capsys, tmp_path):
    """The exported site on http://127.0.0.1:PORT/ for the length of the test."""
    site = tmp_path / "public"
    archive.wlb(capsys, "export-site", str(site), "--base-url", BASE)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", archive
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.skipif(not CHROMIUM.exists() or importlib.util.find_spec("playwright") is None,
                    reason="no real browser here: needs /usr/bin/chromium and the playwright package "
                           "(pip install -e '.[test]')")
def test_the_wall_looks_right_in_chromium(served, tmp_path):
    from playwright.sync_api import sync_playwright

    url, archive = served
    errors: list[str] = []
    missing: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("response", lambda response: missing.append(response.url) if response.status >= 400 else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(url + "index.html", wait_until="load")
            wait_until(page, "[...document.images].every(i => i.complete)", timeout=10)
            loaded = page.evaluate("[...document.images].map(i => [i.getAttribute('src'), i.naturalWidth])")
            shot = tmp_path / "wall.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of the wall: {shot}")
            columns = page.evaluate("getComputedStyle(document.querySelector('.wall')).gridTemplateColumns")
            page.set_viewport_size({"width": 360, "height": 800})  # a phone: one column
            narrow = page.evaluate("getComputedStyle(document.querySelector('.wall')).gridTemplateColumns")
            page.goto(f"{url}items/{archive.ids['jane']}.html", wait_until="load")
            wait_until(page, "[...document.images].every(i => i.complete)", timeout=10)
            large = page.evaluate("[...document.images].map(i => i.naturalWidth)")
            title = page.title()
        finally:
            browser.close()
    assert len(loaded) == 2 and all(width > 0 for _, width in loaded), loaded
    assert len(columns.split()) >= 4 and len(narrow.split()) == 1, (columns, narrow)
    assert large == [1200]
    assert title.startswith("<script>alert(1)</script>")  # shown as text: the page ran no script
    assert shot.stat().st_size > 10_000
    assert not missing and not errors, (missing, errors)  # nothing missing or refused by the policy, no script errors

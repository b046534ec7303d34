"""The web view in a real browser: the distribution's headless Chromium driven by Playwright.

Skipped, saying why, where /usr/bin/chromium or the playwright package is missing. Screenshots of the grid and
the item page are kept in tests/artifacts/ (ignored by git). Nothing but 127.0.0.1 is contacted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.web import create_app
from tests.web.conftest import PASSWORD
from tests.browser_wait import wait_until

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]  # any other host: unresolvable
ALL_IMAGES_LOADED = "() => document.images.length > 0 && [...document.images].every(i => i.complete && i.naturalWidth > 0)"


def _playwright():
    if not CHROMIUM.exists():
        pytest.skip(f"browser test skipped: {CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser test skipped: the playwright package is missing (pip install -e '.[test]')")
    return sync_playwright


@pytest.fixture
def server(web) -> Iterator[str]:
    """uvicorn serving the web view from a thread, on a free port of 127.0.0.1."""
    import uvicorn

    config = uvicorn.Config(create_app(web.ws), host="127.0.0.1", port=0, lifespan="off", log_level="warning",
                            proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_sign_in_see_thumbnails_open_an_item_and_approve_it(web, server):
    sync_playwright = _playwright()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.on("request", lambda r: problems.append(f"left 127.0.0.1: {r.url}")
                    if not r.url.startswith(server) else None)

            page.goto(server + "/")
            assert page.url.startswith(server + "/login")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", PASSWORD)
            page.click("button:has-text('Sign in')")
            page.wait_for_url(server + "/")
            wait_until(page, ALL_IMAGES_LOADED, timeout=15)
            widths = page.eval_on_selector_all("ul.grid img", "imgs => imgs.map(i => i.naturalWidth)")
            assert len(widths) == 2 and all(w > 0 for w in widths)
            page.screenshot(path=str(ARTIFACTS / "grid.png"), full_page=True)

            page.click(f"a[href^='/items/{web.first}?']")
            page.wait_for_url(f"{server}/items/{web.first}*")
            wait_until(page, ALL_IMAGES_LOADED, timeout=15)
            assert page.eval_on_selector(".photos img", "i => i.naturalWidth") == 1080
            assert "@first@fake.social" in page.inner_text(".facts")
            page.screenshot(path=str(ARTIFACTS / "item.png"), full_page=True)

            page.click("form.approve button[type=submit]")
            page.wait_for_url(server + "/?*")
            assert f"✓ #{web.first} approved → community" in page.inner_text(".flash")
            assert page.evaluate("typeof htmx") == "object"  # the sprinkle loaded under the CSP
            assert problems == []
        finally:
            browser.close()
    item = web.item(web.first)
    assert item["status"] == "approved" and item["history"][-1]["actor"] == "alice"
    print(f"screenshots: {ARTIFACTS / 'grid.png'} {ARTIFACTS / 'item.png'}")

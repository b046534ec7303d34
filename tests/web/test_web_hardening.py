"""An adversarial read of `wlb web`: what a stranger or a careless colleague can send, and what comes back."""

from __future__ import annotations

import asyncio
import threading

import httpx
from sqlmodel import select
from starlette.testclient import TestClient

from app import accounts

from app.config import load_settings
from app.web import auth, create_app, routes
from app.web.auth import FAILURES, TRACKED, WINDOW, Throttle
from app.workspace import Workspace
from core.models import Account
from tests.web.conftest import PASSWORD, csrf, sign_in


def test_a_posted_form_is_bounded_before_sign_in(web):
    client = web.client()
    token = csrf(client.get("/login").text)
    upload = client.post("/login", data={"csrf": token, "username": "alice"},
                         files={"password": ("big.bin", b"x" * 4096)})  # an upload would be spooled to disk
    assert upload.status_code == 415
    large = client.post("/login", data={"csrf": token, "username": "alice", "password": "x" * (routes.MAX_FORM + 1)})
    assert large.status_code == 413

    def chunks():  # no Content-Length: counted while read
        for _ in range(routes.MAX_FORM // 1024 + 2):
            yield b"a=" + b"x" * 1022

    assert client.post("/login", content=chunks(),
                       headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 413
    many = "&".join(f"f{i}=1" for i in range(routes.MAX_FIELDS + 1))
    assert client.post("/login", content=many,
                       headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 413


def test_the_largest_caption_still_fits_in_a_form(web):
    client = web.signed_in()
    page = client.get(f"/items/{web.first}")
    caption = "📷" * 5000
    answer = client.post(f"/items/{web.first}/edit", data={"csrf": csrf(page.text), "expected": "pending",
                                                           "caption": caption, "back": "status=pending"})
    assert answer.status_code == 303 and web.item(web.first)["caption"] == caption


def test_a_missing_or_impossible_item_is_404_never_a_server_error(web):
    client = web.signed_in()
    token = csrf(client.get(f"/items/{web.first}").text)
    huge = "9" * 25  # the route takes any digits; SQLite and PostgreSQL integers do not
    for item_id in ("999999", huge):
        assert client.get(f"/items/{item_id}").status_code == 404
        for verb in ("approve", "reject", "duplicate", "edit"):
            answer = client.post(f"/items/{item_id}/{verb}",
                                 data={"csrf": token, "expected": "pending", "of": str(web.second)})
            assert answer.status_code == 404 and f"no item #{item_id}" in answer.text, verb
        assert client.post(f"/items/{item_id}/renew", headers={"X-CSRF-Token": token}).text == "lost"
    for kind in ("media", "thumb"):
        assert client.get(f"/{kind}/{huge}").status_code == 404
    assert client.get(f"/?offset={huge}").status_code == 400


def test_duplicate_of_must_be_a_plain_item_number(web):
    client = web.signed_in()
    token = csrf(client.get(f"/items/{web.first}").text)
    for of in ("²", "9" * 12, "4294967296", "-1"):
        answer = client.post(f"/items/{web.first}/duplicate", data={"csrf": token, "expected": "pending", "of": of})
        assert answer.status_code == 400, of
    assert web.item(web.first)["status"] == "pending"


def test_a_spray_of_made_up_names_does_not_lift_the_pause_on_a_real_one():
    now = [0.0]
    throttle = Throttle(clock=lambda: now[0])
    for _ in range(FAILURES):
        throttle.fail("203.0.113.9", "alice")
    for n in range(TRACKED + 1):  # one failure each, from the same address or anywhere
        throttle.fail("203.0.113.9", f"nobody{n}")
    assert throttle.blocked("203.0.113.9", "Alice") and len(throttle.failed) <= TRACKED
    now[0] += WINDOW
    assert not throttle.blocked("203.0.113.9", "alice")


def test_sign_ins_without_a_password_are_not_counted(web):
    client = web.client()  # they cost no hashing, so a flood of them must not fill (and so reset) the throttle
    for _ in range(FAILURES + 1):
        assert sign_in(client, "alice", "").status_code == 401
    assert not client.app.state.throttle.failed
    assert sign_in(client, "alice", PASSWORD).status_code == 303


def _behind_proxy(web, proxies: str = '["10.0.0.5"]') -> Workspace:
    web.site.write_config(extra=f'[web]\ntrusted_header = "X-Remote-User"\ntrusted_proxies = {proxies}')
    return Workspace(load_settings(web.site.config, check_secrets=False))


def test_the_proxy_is_recognised_when_it_arrives_as_an_ipv4_mapped_address(web):
    with _behind_proxy(web) as ws:  # 'wlb web --host ::' sees an IPv4 peer as ::ffff:a.b.c.d
        proxy = TestClient(create_app(ws), client=("::ffff:10.0.0.5", 40000), follow_redirects=False)
        page = proxy.get("/", headers={"X-Remote-User": "bob", "X-Forwarded-Proto": "https"})
        assert page.status_code == 200 and "signed in as <strong>bob</strong>" in page.text
        assert "secure" in page.headers["set-cookie"].lower()
        other = TestClient(create_app(ws), client=("::ffff:10.0.0.6", 40000), follow_redirects=False)
        assert other.get("/", headers={"X-Remote-User": "bob"}).status_code == 303


def test_a_trusted_header_sent_twice_signs_nobody_in(web):
    with _behind_proxy(web) as ws:  # a proxy that appends its header after the client's own
        proxy = TestClient(create_app(ws), client=("10.0.0.5", 40000), follow_redirects=False)
        for pair in (("alice", "bob"), ("bob", "alice")):
            answer = proxy.get("/", headers=[("X-Remote-User", pair[0]), ("X-Remote-User", pair[1])])
            assert answer.status_code == 303 and "set-cookie" not in answer.headers


def test_pages_are_never_stored_by_a_cache_and_images_only_by_the_browser(web):
    client = web.client()
    assert client.get("/login").headers["cache-control"] == "no-store"
    client = web.signed_in()
    page = client.get(f"/items/{web.first}")
    for answer in (page, client.get("/"), client.get("/?status=nonsense")):
        assert answer.headers["cache-control"] == "no-store"
    media_id = web.item(web.first)["media"][0]["id"]
    for kind in ("media", "thumb"):
        assert client.get(f"/{kind}/{media_id}").headers["cache-control"].startswith("private")


def test_a_flood_of_sign_ins_leaves_the_pages_of_those_signed_in_working(web, monkeypatch):
    app = create_app(web.ws)
    with web.ws.db.session() as session:
        alice = session.exec(select(Account).where(Account.name == "alice")).one()
    token, _ = auth.start_session(web.ws.db, alice, web.ws.settings.web)
    hashing, real_scrypt = threading.Event(), accounts._scrypt
    monkeypatch.setattr(accounts, "_scrypt", lambda *a, **k: hashing.wait(10) and real_scrypt(*a, **k))

    async def flood() -> tuple[list[int], int]:
        transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            form = await client.get("/login")
            data = {"csrf": csrf(form.text), "username": "alice", "password": "guess"}
            posts = [asyncio.create_task(client.post("/login", data=data)) for _ in range(60)]  # > 40 threads
            await asyncio.sleep(0.5)
            try:
                page = await asyncio.wait_for(client.get("/", cookies={auth.COOKIE: token}), 5)
            finally:
                hashing.set()
            return [p.status_code for p in await asyncio.gather(*posts)], page.status_code

    statuses, page = asyncio.run(flood())
    assert page == 200
    assert statuses.count(503) == 60 - routes.MAX_SIGNING_IN and statuses.count(401) == routes.MAX_SIGNING_IN

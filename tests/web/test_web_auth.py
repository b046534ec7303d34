"""Sign-in, sessions, CSRF and the trusted proxy header of `wlb web`."""

from __future__ import annotations

import hashlib

from sqlmodel import select
from starlette.testclient import TestClient

from app import accounts
from app.config import load_settings
from app.web import create_app
from app.workspace import Workspace
from core.models import WebSession
from tests.web.conftest import PASSWORD, csrf, sign_in


def test_every_page_needs_sign_in(web):
    client = web.client()
    assert client.get("/").headers["location"] == "/login?next=%2F"
    assert client.get(f"/items/{web.first}?status=pending").headers["location"].startswith("/login?next=%2Fitems%2F")
    item = web.item(web.first)
    assert client.get(f"/media/{item['media'][0]['id']}").status_code == 401
    assert client.get(f"/thumb/{item['media'][0]['id']}").status_code == 401
    answer = client.post(f"/items/{web.first}/approve", data={"expected": "pending", "targets": "community"})
    assert answer.status_code == 401 and web.item(web.first)["status"] == "pending"


def test_a_wrong_password_or_name_says_only_that(web):
    client = web.client()
    for name, password in (("alice", "wrong password"), ("mallory", PASSWORD), ("", "")):
        answer = sign_in(client, name, password)
        assert answer.status_code == 401 and "wrong name or password" in answer.text
        assert "wlb_session" not in answer.cookies
    assert client.get("/").status_code == 303


def test_sign_in_sets_a_strict_cookie_and_stores_only_its_hash(web):
    client = web.client()
    answer = sign_in(client, "alice", PASSWORD, next_="/?status=all")
    assert answer.status_code == 303 and answer.headers["location"] == "/?status=all"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("wlb_session="))
    token = cookie.split(";")[0].split("=", 1)[1]
    flags = cookie.lower()
    assert "httponly" in flags and "samesite=lax" in flags and "secure" not in flags  # plain http here
    with web.ws.db.session() as session:
        rows = list(session.exec(select(WebSession)))
    assert [r.token_hash for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert client.get("/").status_code == 200


def test_the_cookie_is_secure_over_https_and_next_stays_on_this_site(web):
    client = web.client(base_url="https://testserver")
    answer = sign_in(client, "alice", PASSWORD, next_="//evil.example/")
    assert answer.headers["location"] == "/"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("wlb_session="))
    assert "secure" in cookie.lower()


def test_post_without_the_csrf_token_is_refused(web):
    client = web.signed_in()
    page = client.get(f"/items/{web.first}")
    for token in (None, "forged", csrf(page.text)[:-1]):
        data = {"expected": "pending", "targets": "community", **({"csrf": token} if token else {})}
        answer = client.post(f"/items/{web.first}/approve", data=data)
        assert answer.status_code == 403, token
    assert web.item(web.first)["status"] == "pending"
    assert client.post("/logout", data={}).status_code == 403
    bare = web.client()  # the sign-in form has its own token
    answer = bare.post("/login", data={"username": "alice", "password": PASSWORD})
    assert answer.status_code == 403 and "wlb_session" not in answer.cookies


def test_sign_out_ends_the_session_and_gives_back_leases(web):
    client = web.signed_in()
    page = client.get(f"/items/{web.first}")
    assert client.post("/logout", data={"csrf": csrf(page.text)}).headers["location"] == "/login"
    assert client.get("/").status_code == 303
    with web.ws.db.session() as session:
        assert list(session.exec(select(WebSession))) == []
    bob = web.signed_in("bob")
    assert "is reviewing this" not in bob.get(f"/items/{web.first}").text


def test_failed_sign_ins_are_throttled(web):
    client = web.client()
    for _ in range(5):
        assert sign_in(client, "alice", "nope").status_code == 401
    answer = sign_in(client, "alice", PASSWORD)
    assert answer.status_code == 429 and "too many failed attempts" in answer.text
    assert sign_in(client, "bob", PASSWORD).status_code == 303  # another name is not locked out


def _proxied(web, extra: str):
    web.site.write_config(extra=extra)
    return Workspace(load_settings(web.site.config, check_secrets=False))


def test_the_trusted_header_signs_in_only_from_a_trusted_proxy_and_only_existing_accounts(web):
    with _proxied(web, '[web]\ntrusted_header = "X-Remote-User"\ntrusted_proxies = ["10.0.0.5"]') as ws:
        def proxy() -> TestClient:
            return TestClient(create_app(ws), client=("10.0.0.5", 40000), follow_redirects=False)

        page = proxy().get("/", headers={"X-Remote-User": "bob"})
        assert page.status_code == 200 and "signed in as <strong>bob</strong>" in page.text
        assert proxy().get("/", headers={"X-Remote-User": "mallory"}).status_code == 303  # no such account
        elsewhere = TestClient(create_app(ws), client=("10.0.0.6", 40000), follow_redirects=False)
        assert elsewhere.get("/", headers={"X-Remote-User": "bob"}).status_code == 303  # not the proxy: ignored
        # The header's session acts with bob's name and CSRF token like a form sign-in.
        client = proxy()
        page = client.get(f"/items/{web.first}", headers={"X-Remote-User": "bob"})
        answer = client.post(f"/items/{web.first}/reject", headers={"X-Remote-User": "bob"},
                             data={"csrf": csrf(page.text), "expected": "pending", "reason": "blurry"})
        assert answer.status_code == 303
    assert web.item(web.first)["history"][-1]["actor"] == "bob"


def test_passwords_are_scrypt_with_their_parameters(web, monkeypatch):
    monkeypatch.setattr(accounts, "SCRYPT_N", 2**17)
    stored = accounts.hash_password("s3cret-pass")
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "131072", "8", "1")
    assert accounts.verify_password("s3cret-pass", stored) and not accounts.verify_password("s3cret-pasS", stored)
    assert stored != accounts.hash_password("s3cret-pass")  # salted
    assert not accounts.verify_password("s3cret-pass", stored.replace("$131072$", f"${2**24}$"))  # refused, not run
    assert not accounts.verify_password("x", "garbage")


def test_a_trusted_proxy_saying_https_gets_a_secure_cookie(web):
    client = TestClient(create_app(web.ws), client=("127.0.0.1", 40000), follow_redirects=False)
    form = client.get("/login")
    answer = client.post("/login", headers={"X-Forwarded-Proto": "https"},
                         data={"username": "alice", "password": PASSWORD, "csrf": csrf(form.text)})
    assert "secure" in next(h for h in answer.headers.get_list("set-cookie") if h.startswith("wlb_session=")).lower()
    other = web.client(client=("10.9.9.9", 40000))  # not a trusted proxy: its header means nothing
    form = other.get("/login")
    answer = other.post("/login", headers={"X-Forwarded-Proto": "https"},
                        data={"username": "alice", "password": PASSWORD, "csrf": csrf(form.text)})
    assert "secure" not in next(h for h in answer.headers.get_list("set-cookie") if h.startswith("wlb_session=")).lower()

"""`wlb user add/list/remove` and `wlb web`'s refusal to listen beyond loopback with nobody able to sign in."""

from __future__ import annotations

import io
import json

import pytest
import uvicorn
from sqlmodel import select

from app import accounts
from app.config import load_settings
from app.web import check_bind, create_app
from app.workspace import Workspace
from core.models import Account, WebSession
from tests.web.conftest import PASSWORD, sign_in


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def add(site, monkeypatch, name: str, stdin: io.StringIO, answers=()):
    monkeypatch.setattr("sys.stdin", stdin)
    given = iter(answers)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(given))
    return site.wlb("user", "add", name)


def users(site) -> list[dict]:
    return json.loads(site.wlb("user", "list", "--json").out)


def test_user_add_reads_stdin_when_it_is_not_a_terminal(site, monkeypatch):
    result = add(site, monkeypatch, "alice", io.StringIO("s3cret-password\nignored\n"))
    assert result.code == 0 and "user alice added" in result.out
    assert "s3cret" not in result.out + result.err
    assert [u["name"] for u in users(site)] == ["alice"]
    with Workspace(load_settings(site.config, check_secrets=False)) as ws:
        assert accounts.authenticate(ws.db, "alice", "s3cret-password") is not None
        assert accounts.authenticate(ws.db, "alice", "s3cret-password\n") is None
        with ws.db.session() as session:
            stored = session.exec(select(Account)).one().password_hash
    assert stored.startswith("scrypt$") and "s3cret" not in stored


def test_user_add_asks_twice_on_a_terminal(site, monkeypatch):
    assert add(site, monkeypatch, "bob", Terminal(), ["long-enough-1", "long-enough-1"]).code == 0
    differ = add(site, monkeypatch, "carol", Terminal(), ["long-enough-1", "long-enough-2"])
    assert differ.code == 2 and "the two passwords differ" in differ.err
    assert [u["name"] for u in users(site)] == ["bob"]


@pytest.mark.parametrize(("name", "stdin", "says"), [
    ("dave", "", "no password on standard input"),
    ("dave", "short\n", "too short"),
    ("dave", "x" * 1025 + "\n", "too long"),  # else an account whose password the sign-in form cuts short
    ("da ve", "long-enough-1\n", "user name 'da ve'"),
    ("x#y", "long-enough-1\n", "use 1-64 letters"),
])
def test_user_add_refuses_bad_input_in_one_line(site, monkeypatch, name, stdin, says):
    result = add(site, monkeypatch, name, io.StringIO(stdin))
    assert result.code == 2 and says in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_user_add_twice_and_remove_unknown_say_so(site, monkeypatch):
    assert add(site, monkeypatch, "erin", io.StringIO("long-enough-1\n")).code == 0
    again = add(site, monkeypatch, "Erin", io.StringIO("long-enough-2\n"))
    assert again.code == 2 and "already exists" in again.err
    gone = site.wlb("user", "remove", "nobody")
    assert gone.code == 2 and "no user 'nobody'" in gone.err


def test_user_list_and_remove_end_that_users_sessions(web):
    alice = web.signed_in("alice")
    page = alice.get(f"/items/{web.first}")
    assert page.status_code == 200
    listed = {u["name"]: u["sessions"] for u in users(web.site)}
    assert listed == {"alice": 1, "bob": 0}
    plain = web.site.wlb("user", "list")
    assert "alice" in plain.out and "bob" in plain.out
    removed = web.site.wlb("user", "remove", "alice")
    assert removed.code == 0 and "1 browser session(s) signed out" in removed.out
    assert [u["name"] for u in users(web.site)] == ["bob"]
    with web.ws.db.session() as session:
        assert list(session.exec(select(WebSession))) == []
    assert alice.get("/").status_code == 303  # the cookie no longer works
    bob = web.signed_in("bob")
    assert "is reviewing this" not in bob.get(f"/items/{web.first}").text  # her lease was given back
    assert sign_in(web.client(), "alice", PASSWORD).status_code == 401


def test_wlb_web_refuses_a_non_loopback_address_without_sign_in(site):
    for host in ("0.0.0.0", "192.168.1.20", "::", "example.org"):
        result = site.wlb("web", "--host", host, "--port", "8099")
        assert result.code == 2, host
        assert result.err.count("\n") == 1 and "refusing to listen on" in result.err and "wlb user add" in result.err


def test_non_loopback_is_allowed_once_sign_in_is_configured(web, site):
    check_bind(web.ws, "0.0.0.0")  # accounts exist: no refusal
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        check_bind(web.ws, host)
    assert create_app(web.ws) is not None


def test_a_trusted_header_alone_allows_another_address(site):
    site.write_config(extra='[web]\ntrusted_header = "X-Remote-User"')
    with Workspace(load_settings(site.config, check_secrets=False)) as ws:
        check_bind(ws, "0.0.0.0")


def test_wlb_web_serves_on_the_configured_address_without_uvicorns_proxy_headers(site, monkeypatch):
    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(options))
    result = site.wlb("web", "--port", "8765")
    assert result.code == 0 and "http://127.0.0.1:8765/" in result.out and "wlb user add NAME" in result.out
    assert (started["host"], started["port"], started["proxy_headers"]) == ("127.0.0.1", 8765, False)

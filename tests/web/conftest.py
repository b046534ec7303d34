"""A signed-in web view over a wlb site with two collected items (tests/site.py), via Starlette's TestClient."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from app import accounts
from app.config import load_settings
from app.web import create_app
from app.workspace import Workspace
from tests.fakes import images
from tests.site import Site

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@dataclass
class Web:
    site: Site
    ws: Workspace
    first: int  # newest pending item
    second: int

    def client(self, **kwargs) -> TestClient:
        return TestClient(create_app(self.ws), follow_redirects=False, **kwargs)

    def signed_in(self, name: str = "alice", **kwargs) -> TestClient:
        client = self.client(**kwargs)
        answer = sign_in(client, name, PASSWORD)
        assert answer.status_code == 303, answer.text
        return client

    def item(self, item_id: int) -> dict:
        return self.site.wlb("show", str(item_id), "--json").json()


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html)[1]


def sign_in(client: TestClient, name: str, password: str, next_: str = "/"):
    form = client.get("/login")
    return client.post("/login", data={"username": name, "password": password, "csrf": csrf(form.text), "next": next_})


@pytest.fixture(autouse=True)
def _cheap_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real cost (2^17) is tested once; elsewhere a cheap N keeps each sign-in at a millisecond."""
    monkeypatch.setattr(accounts, "SCRYPT_N", 2**10)
    accounts._dummy.cache_clear()


@pytest.fixture
def web(site: Site) -> Iterator[Web]:
    site.source.add_status(images=[images.jpeg(61)], created_at=T0 + timedelta(minutes=1), acct="first")
    site.source.add_status(images=[images.jpeg(62)], created_at=T0, acct="second")
    assert site.wlb("collect").code == 0
    ids = {i["author"]["handle"]: i["id"] for i in site.queue("pending")}
    with Workspace(load_settings(site.config, check_secrets=False)) as ws:
        for name in ("alice", "bob"):
            accounts.add_user(ws.db, name, PASSWORD)
        yield Web(site, ws, ids["first@fake.social"], ids["second@fake.social"])

"""Shared fixtures: a fresh database per test (SQLite, or PostgreSQL when WLB_TEST_DATABASE is set)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.fakes.mastodon import FakeMastodon
from tests.site import PUBLISH_TOKEN, Site

PG_URL = os.environ.get("WLB_TEST_DATABASE", "")


def pytest_report_header(config: pytest.Config) -> str:
    return f"wlb database under test: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite'}"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's tokens, reviewer or config."""
    for name in list(os.environ):
        if name.startswith("WLB_") and name != "WLB_TEST_DATABASE":
            monkeypatch.delenv(name)
    monkeypatch.setenv("WLB_REVIEWER", "tester")


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """A database URL for one test: a temporary SQLite file, or a throwaway PostgreSQL schema."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'wlb.db'}"
        return
    schema = f"wlb_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def site(tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """wlb in a temporary folder: channel `source` collects from one fake instance, `community` publishes to another."""
    monkeypatch.setenv("WLB_PUB_TOKEN", PUBLISH_TOKEN)
    with FakeMastodon(domain="fake.social") as source, \
            FakeMastodon(domain="community.social", token=PUBLISH_TOKEN) as community:
        s = Site(tmp_path, source, community, capsys, db_url)
        s.write_config()
        yield s

"""Fixtures of the consent tests: a migrated database, and platforms that can reply to found posts."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from core.db import Database
from platforms import registry


@pytest.fixture
def askers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mastodon and Bluesky can reply to found posts (the consent-platforms branch sets these registry rows)."""
    for kind, module in (("mastodon", "mastodon"), ("pixelfed", "mastodon"), ("bluesky", "bluesky")):
        monkeypatch.setitem(registry.PLATFORMS, kind, dataclasses.replace(registry.PLATFORMS[kind], asker=module))


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()

"""The stored duplicate index across `wlb collect` runs: written by one run, trusted by the next, rebuilt after forget."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.fakes import images

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _index_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "wlb.index" and r.levelno >= logging.WARNING]


def test_reposts_are_found_in_the_index_earlier_runs_wrote(site, caplog: pytest.LogCaptureFixture,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("curation.index_sync.TAIL_MAX", 1)  # the second run already merges into the main part
    original, other = images.jpeg(10), images.jpeg(11)
    site.source.add_status(images=[original], created_at=T0, acct="author", text="mine")
    site.wlb("collect")
    site.source.add_status(images=[other], created_at=T0 + timedelta(minutes=5), acct="other", text="unrelated")
    site.wlb("collect")
    manifest = json.loads((site.root / "data" / "index" / "manifest.json").read_text())
    assert manifest["images"] == 2 and manifest["main"] and manifest["tail"] is None
    site.source.add_status(images=[images.reencoded(original, quality=50, scale=0.7)],
                           created_at=T0 + timedelta(minutes=30), acct="feature", text="repost")
    site.wlb("collect")
    items = {i["author"]["handle"].split("@")[0]: i for i in site.queue("all")}
    assert items["feature"]["status"] == "duplicate" and items["feature"]["duplicate_of"] == items["author"]["id"]
    assert items["other"]["status"] == "pending"
    assert _index_log(caplog) == []  # every run trusted what the previous one wrote
    # forgetting an item changes indexed rows: the next run rebuilds rather than match against them
    assert site.wlb("forget", "--author", "@other@fake.social", "--reason", "asked").code == 0
    site.source.add_status(images=[images.jpeg(12)], created_at=T0 + timedelta(minutes=40), acct="new", text="new")
    site.wlb("collect")
    assert len(_index_log(caplog)) == 1 and "changed" in _index_log(caplog)[0]


def test_dedup_reads_the_stored_index(site) -> None:
    original = images.jpeg(20)
    site.source.add_status(images=[original], created_at=T0, acct="author", text="mine")
    site.wlb("collect")
    [item] = site.queue("all")
    received = site.root / "received.jpg"
    received.write_bytes(images.reencoded(original, quality=50, scale=0.7))
    statements: list[str] = []

    def seen(conn, cursor, statement, *args: object) -> None:  # noqa: ANN001 - SQLAlchemy's event signature
        statements.append(statement)
    event.listen(Engine, "before_cursor_execute", seen)
    try:
        result = site.wlb("dedup", str(received), "--json")
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert result.code == 0 and result.json()["clusters"][0]["archive_matches"] == [item["id"]]
    assert statements and not [s for s in statements if "hash_set" in s]  # no stored hash read from the database

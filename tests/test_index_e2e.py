"""The stored duplicate index across `wlb collect` runs: written by one run, trusted by the next, rebuilt after forget."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

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

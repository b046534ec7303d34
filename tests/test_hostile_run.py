"""A hostile instance among the channels: it costs its own records or its own channel, never the run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes import images
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.server import Recorded, Reply

T0 = datetime.now(UTC) - timedelta(hours=2)


class HostileMastodon(FakeMastodon):
    """A Mastodon fake whose tag timeline answers with a body chosen by the test."""

    body: bytes = b"[]"

    def dispatch(self, req: Recorded) -> Reply:
        if req.path.startswith("/api/v1/timelines/tag/"):
            return Reply(200, self.body)
        return super().dispatch(req)


@pytest.fixture
def hostile(site, monkeypatch):
    monkeypatch.setattr("app.pipeline.time.sleep", lambda seconds: None)  # a truncated body is retried (issue 7)
    with HostileMastodon(domain="evil.example") as evil:
        site.write_config(origins=[evil.origin], channels=f"""
[channels.evil]
kind = "mastodon"
base_url = "{evil.base_url}"

[channels.source]
kind = "mastodon"
base_url = "{site.source.base_url}"

{site.community_channel()}""")
        yield evil


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'[{"id": "1", "uri": {"x": 1}}]', b'{"a":',
                                  b'[{"id": "1", "content": ["x"], "account": []}]'],
                         ids=["nested-100000-deep", "uri-as-object", "truncated", "wrong-types"])
def test_a_hostile_channel_costs_that_channel_and_the_run_goes_on(site, hostile, body):
    hostile.body = body
    site.source.add_status(images=[images.jpeg(1, size=(900, 900))], created_at=T0)
    result = site.wlb("run", "--json")
    assert "Traceback" not in result.err
    summary = result.json()["channels"]
    assert summary["source"]["new_posts"] == 1 and summary["source"]["pending"] == 1, "curate ran"
    assert summary["evil"]["new_posts"] == 0
    assert summary["evil"]["errors"] or summary["evil"]["skipped"], "the bad answer is reported"


def test_over_long_fields_never_reach_the_database_as_errors(site):
    status = site.source.add_status(images=[images.jpeg(2, size=(900, 900))], created_at=T0, language="x" * 40,
                                    display_name="N" * 5000, acct="longname")
    site.source.add_status(images=[images.jpeg(3, size=(900, 900))], created_at=T0 + timedelta(minutes=1), acct="ok")
    assert status["language"] == "x" * 40
    result = site.wlb("collect", "--json")
    assert result.code == 0, result.err
    summary = result.json()["channels"]["source"]
    assert summary["errors"] == [] and summary["new_posts"] == 2
    items = {i["author"]["handle"].split("@")[0]: i for i in site.queue("all")}
    assert len(items["longname"]["author"]["name"]) == 512

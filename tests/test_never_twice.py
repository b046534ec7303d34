"""Nothing is published twice, whatever moment the process dies at."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from platforms.mastodon import MastodonAPI
from tests.fakes import images
from tests.site import PUBLISH_TOKEN, Site

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class Killed(BaseException):
    """Stands for SIGKILL inside the process: nothing after it runs, no except clause catches it."""


def approved(site: Site, n: int = 1) -> list[int]:
    for i in range(n):
        site.source.add_status(images=[images.jpeg(200 + i)], created_at=T0 + timedelta(minutes=i), acct=f"p{i}")
    assert site.wlb("collect").code == 0
    ids = [i["id"] for i in site.queue("pending")]
    assert site.wlb("approve", *map(str, ids)).code == 0
    return ids


def _crash(monkeypatch, name: str, *, after: bool) -> None:
    real = getattr(MastodonAPI, name)

    def dying(self, *args, **kwargs):
        if after:
            real(self, *args, **kwargs)
        raise Killed

    monkeypatch.setattr(MastodonAPI, name, dying)


@pytest.mark.parametrize(("method", "after"), [
    ("upload_media", False),   # killed before the first upload
    ("upload_media", True),    # killed with the media uploaded, no status yet
    ("post_status", False),    # killed just before creating the status
    ("post_status", True),     # the instance created the status; we never saw the answer
])
def test_killed_at_any_point_then_rerun_publishes_exactly_once(site, monkeypatch, method, after):
    (item,) = approved(site)
    with monkeypatch.context() as m:
        _crash(m, method, after=after)
        with pytest.raises(Killed):
            site.wlb("publish")
    assert site.wlb("publish").code == 0
    assert site.wlb("publish").code == 0
    assert len(site.community.published) == 1
    (shown,) = [i for i in site.queue("all") if i["id"] == item]
    assert shown["status"] == "published"
    keys = {r.headers.get("idempotency-key") for r in site.community.requests if r.path == "/api/v1/statuses"}
    assert len(keys) == 1, "every attempt sends the same Idempotency-Key"


def test_sigkill_between_any_two_requests_never_publishes_twice(site):
    site.community.latency = 0.02
    ids = approved(site, 3)
    env = {**os.environ, "WLB_PUB_TOKEN": PUBLISH_TOKEN}
    command = [sys.executable, "-m", "cli", "--config", str(site.config), "publish"]
    for step in (1, 2, 3, 5):  # kill right after the target instance handled its n-th request of this attempt
        seen = len(site.community.requests)
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while len(site.community.requests) < seen + step and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    final = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert final.returncode == 0, final.stderr
    assert len(site.community.published) == len(ids)
    linked = sorted(s["content"].count("fake.social/@p") for s in site.community.published)
    assert linked == [1] * len(ids)


@pytest.mark.parametrize(("method", "after"), [("upload_media", False), ("post_status", True)])
def test_killed_after_the_claim_a_later_decision_is_refused_and_the_rerun_posts_once(site, monkeypatch, method, after):
    (item,) = approved(site)
    with monkeypatch.context() as m:
        _crash(m, method, after=after)
        with pytest.raises(Killed):
            site.wlb("publish")
    for decision in (("reject", str(item), "--reason", "changed my mind"), ("approve", str(item), "--caption", "new")):
        refused = site.wlb(*decision)
        assert refused.code != 0 and "already being published" in refused.err and "'wlb publish'" in refused.err
    assert site.wlb("publish").code == 0
    assert len(site.community.published) == 1
    shown = site.wlb("show", str(item), "--json").json()
    assert shown["status"] == "published" and shown["caption"] is None
    assert [h["action"] for h in shown["history"]] == ["queue", "approve", "publish"]


def test_killed_after_the_claim_then_deleted_at_source_is_not_posted(site, monkeypatch):
    (item,) = approved(site)
    with monkeypatch.context() as m:
        _crash(m, "upload_media", after=False)
        with pytest.raises(Killed):
            site.wlb("publish")
    (status_id,) = [i["post_url"].rsplit("/", 1)[1] for i in site.queue("all")]
    site.source.delete_status(status_id)
    assert site.wlb("publish").code == 0
    assert site.community.published == []
    shown = site.wlb("show", str(item), "--json").json()
    assert shown["status"] == "rejected" and shown["publications"][0]["state"] == "failed"
    assert site.wlb("approve", str(item)).code == 0, "nothing in flight any more: a person may decide again"


def test_a_definite_refusal_frees_the_item_for_a_later_reject(site):
    """A 422 means nothing was posted: the reviewer can still reject, and the next run posts nothing."""
    site.source.add_status(images=[images.jpeg(51)], created_at=datetime(2026, 11, 20, tzinfo=UTC), acct="alice")
    assert site.wlb("collect").code == 0
    (item,) = site.queue("pending")
    assert site.wlb("approve", str(item["id"])).code == 0
    site.community.fail_next(1, 422, path_prefix="/api/v1/statuses")
    first = site.wlb("publish", "--json")
    assert site.community.published == [], first.out
    rejected = site.wlb("reject", str(item["id"]), "--reason", "offensive")
    site.wlb("publish")
    assert site.community.published == [], "published after the reviewer rejected it"
    assert rejected.code == 0, rejected.err

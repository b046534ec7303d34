"""Decisions and runs racing in real processes (SQLite, and PostgreSQL when WLB_TEST_DATABASE is set)."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from core.db import Database
from core.errors import WlbError
from core.models import Author, Decision, Post, Status
from app.lock import run_lock
from app.config import load_settings
from tests.conftest import PG_URL
from tests.fakes import images
from tests.race_worker import decide, hold_run_lock
from tests.site import PUBLISH_TOKEN, Site

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SPAWN = multiprocessing.get_context("spawn")


def hold(fake, method: str, prefix: str) -> tuple[threading.Event, threading.Event]:
    """The fake holds the first matching request until `release` is set; `arrived` says it is held."""
    arrived, release = threading.Event(), threading.Event()
    original = fake.serve

    def serve(handler):
        if handler.command == method and handler.path.startswith(prefix) and not release.is_set():
            arrived.set()
            release.wait(timeout=60)
        original(handler)

    fake.serve = serve  # the fake's handler calls fake.serve(handler): an instance attribute wins
    return arrived, release


def start_publish(site: Site) -> subprocess.Popen:
    env = {**os.environ, "WLB_PUB_TOKEN": PUBLISH_TOKEN}
    return subprocess.Popen([sys.executable, "-m", "cli", "--config", str(site.config), "publish", "--json"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_reject_during_publish_wins_before_the_claim_and_is_refused_after(site):
    for i in range(2):
        site.source.add_status(images=[images.jpeg(60 + i)], created_at=T0 + timedelta(minutes=i), acct=f"p{i}")
    assert site.wlb("collect").code == 0
    first, second = sorted(i["id"] for i in site.queue("pending"))  # published in id order
    handle = {i["id"]: i["author"]["handle"] for i in site.queue("pending")}[first]
    assert site.wlb("approve", str(first), str(second)).code == 0
    arrived, release = hold(site.community, "POST", "/api/v2/media")
    proc = start_publish(site)
    try:
        assert arrived.wait(timeout=60), "publish never reached the target"
        late = site.wlb("reject", str(first), "--reason", "offensive")  # claimed: its upload is under way
        early = site.wlb("reject", str(second), "--reason", "offensive")  # loaded by the run, not claimed yet
    finally:
        release.set()
        out, err = proc.communicate(timeout=120)
    assert late.code != 0 and "already being published" in late.err and late.err.strip().count("\n") == 0
    assert early.code == 0, early.err
    assert proc.returncode == 0, err
    assert len(site.community.published) == 1
    texts = [r.form["status"][0] for r in site.community.requests if r.path == "/api/v1/statuses"]
    assert len(texts) == 1 and f"@{handle}" in texts[0]
    shown = {i: site.wlb("show", str(i), "--json").json() for i in (first, second)}
    assert shown[first]["status"] == "published" and [h["action"] for h in shown[first]["history"]][-1] == "publish"
    assert shown[second]["status"] == "rejected" and shown[second]["publications"] == []
    assert shown[second]["history"][-1]["actor"] == "tester" and shown[second]["history"][-1]["action"] == "reject"


def test_reject_between_loading_and_claiming_wins(site):
    """The run has read the item and is asking its origin when the reject lands: the claim sees it."""
    status = site.source.add_status(images=[images.jpeg(62)], created_at=T0)
    assert site.wlb("collect").code == 0
    (item,) = site.queue("pending")
    assert site.wlb("approve", str(item["id"])).code == 0
    arrived, release = hold(site.source, "GET", f"/api/v1/statuses/{status['id']}")
    proc = start_publish(site)
    try:
        assert arrived.wait(timeout=60), "publish never asked the origin"
        rejected = site.wlb("reject", str(item["id"]), "--reason", "offensive")
    finally:
        release.set()
        out, err = proc.communicate(timeout=120)
    assert rejected.code == 0, rejected.err
    assert proc.returncode == 0, err
    assert site.community.published == [] and site.community.uploads == []
    assert "rejected" in out
    shown = site.wlb("show", str(item["id"]), "--json").json()
    assert shown["status"] == "rejected" and shown["publications"] == []


def _pending_items(url: str, n: int) -> list[int]:
    db = Database(url)
    with db.session() as session:
        author = Author(key="fediverse:alice@fake.social", network="fediverse", handle="alice@fake.social")
        session.add(author)
        session.flush()
        posts = [Post(key=f"https://fake.social/users/alice/statuses/{i}", channel="source", platform="mastodon",
                      remote_id=str(i), url=f"https://fake.social/@alice/{i}", author_id=author.id, created_at=T0,
                      status=Status.PENDING) for i in range(n)]
        session.add_all(posts)
        session.commit()
        ids = [p.id for p in posts]
    db.dispose()
    return ids


def test_approve_and_reject_at_the_same_moment_exactly_one_wins(db_url):
    ids = _pending_items(db_url, 20)
    barrier, results = SPAWN.Barrier(2), SPAWN.Queue()
    workers = [SPAWN.Process(target=decide, args=(db_url, role, ids, barrier, results)) for role in ("approve", "reject")]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=120) for _ in range(2 * len(ids))]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    db = Database(db_url)
    with db.session() as session:
        for post_id in ids:
            mine = {role: (result, message) for pid, role, result, message in outcomes if pid == post_id}
            winners = [role for role, (result, _) in mine.items() if result == "ok"]
            assert len(winners) == 1, f"item #{post_id}: {mine}"
            (winner,) = winners
            loser_message = mine["reject" if winner == "approve" else "approve"][1]
            decisions = session.exec(select(Decision).where(Decision.post_id == post_id)).all()
            assert [(d.actor, d.action) for d in decisions] == [({"approve": "ann", "reject": "bob"}[winner], winner)]
            assert session.get(Post, post_id).status == {"approve": "approved", "reject": "rejected"}[winner]
            assert f"by {decisions[0].actor} ({winner}" in loser_message and "\n" not in loser_message
    db.dispose()


@pytest.mark.skipif(not PG_URL, reason="the database run lock is PostgreSQL's (WLB_TEST_DATABASE)")
def test_two_data_folders_on_one_postgresql_database_never_run_at_once(site, tmp_path):
    other = tmp_path / "host-b"
    other.mkdir()
    (other / "config.toml").write_text(site.config.read_text(encoding="utf-8"), encoding="utf-8")
    settings_b = load_settings(other / "config.toml")
    assert settings_b.data_dir != load_settings(site.config).data_dir
    held, release = SPAWN.Event(), SPAWN.Event()
    holder = SPAWN.Process(target=hold_run_lock, args=(str(site.config), held, release))
    holder.start()
    try:
        assert held.wait(timeout=60)
        refused = subprocess.run([sys.executable, "-m", "cli", "--config", str(other / "config.toml"),
                                  "publish"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                                 env={**os.environ, "WLB_PUB_TOKEN": PUBLISH_TOKEN})
        assert refused.returncode != 0 and "another wlb run is in progress on this database" in refused.stderr
        assert refused.stderr.strip().count("\n") == 0
    finally:
        release.set()
        holder.join(timeout=60)
    with run_lock(settings_b):  # released when the first run ended
        pass

    held, never = SPAWN.Event(), SPAWN.Event()
    holder = SPAWN.Process(target=hold_run_lock, args=(str(site.config), held, never))
    holder.start()
    assert held.wait(timeout=60)
    holder.kill()  # killed mid-run: the server drops its session, and with it the lock
    holder.join(timeout=60)
    for _ in range(200):
        try:
            with run_lock(settings_b):
                break
        except WlbError:
            threading.Event().wait(0.05)  # the server notices the dropped connection on its own
    else:
        pytest.fail("the run lock outlived the killed process")

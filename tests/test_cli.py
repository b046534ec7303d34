"""The command line as people meet it: one red line and a meaningful exit code on bad input."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import cli
import curation.queue
from core.db import Database
from core.models import Post, Publication, Status
from app.output import Output
from app.lock import run_lock
from app.pipeline import Pipeline
from app.config import load_settings
from app.review import review_loop
from tests.fakes import images

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def test_bad_config_is_one_line_and_exit_2(site):
    site.config.write_text(site.config.read_text() + '\n[typo]\nx = 1\n')
    result = site.wlb("queue")
    assert result.code == 2
    assert "unknown key 'typo'" in one_line(result.err) and str(site.config) in result.err


def test_missing_token_names_the_variable(site, monkeypatch):
    monkeypatch.delenv("WLB_PUB_TOKEN")
    result = site.wlb("run")
    assert result.code == 2 and "$WLB_PUB_TOKEN is not set" in one_line(result.err)


@pytest.mark.parametrize(("args", "expected"), [
    (["show", "abc"], "Invalid value for 'item'"),
    (["queue", "--status", "maybe"], "--status maybe"),
    (["show", "999"], "no item #999"),
    (["approve", "1", "--to", "nowhere"], "not a publishing channel"),
    (["publish", "--channel", "source"], "not a publishing channel"),
    (["frobnicate"], "No such command"),
])
def test_bad_arguments_are_one_line_and_exit_2(site, args, expected):
    site.source.add_status(images=[images.jpeg(1)], created_at=T0)
    site.wlb("collect")
    result = site.wlb(*args)
    assert result.code == 2, result
    assert expected in one_line(result.err)


def test_approving_a_published_item_is_refused(site):
    site.source.add_status(images=[images.jpeg(2)], created_at=T0)
    site.wlb("collect")
    (item,) = site.queue("pending")
    site.wlb("approve", str(item["id"]))
    site.wlb("publish")
    result = site.wlb("approve", str(item["id"]))
    assert result.code == 2 and "is published" in one_line(result.err)


def test_unexpected_errors_hide_the_traceback_unless_debug(site, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("curation.views.iter_items", boom)
    result = site.wlb("queue")
    assert result.code == 1 and "disk on fire" in one_line(result.err) and "WLB_DEBUG=1" in result.err
    monkeypatch.setenv("WLB_DEBUG", "1")
    assert "Traceback" in site.wlb("queue").err


def test_human_output_shows_a_table_and_an_item_with_preview(site):
    site.source.add_status(images=[images.jpeg(3)], created_at=T0, text="Sunset over the Mont des Arts", acct="zoe")
    run = site.wlb("run")
    assert run.code == 0 and "source" in run.out
    table = site.wlb("queue")
    assert "@zoe@fake.social" in table.out and "pending" in table.out
    (item,) = site.queue()
    shown = site.wlb("show", str(item["id"]))
    assert "Sunset over the Mont des Arts" in shown.out and "▀" in shown.out and "history" in shown.out


def test_a_second_run_while_one_holds_the_lock_is_refused(site):
    settings = load_settings(site.config)
    with run_lock(settings):
        result = site.wlb("run")
    assert result.code == 1 and "another wlb run is in progress" in one_line(result.err)
    assert site.wlb("run").code == 0


def test_review_loop_one_key_per_decision(site):
    for n in range(4):
        site.source.add_status(images=[images.jpeg(10 + n)], created_at=T0, acct=f"u{n}")
    site.wlb("collect")
    keys = iter(["o", "a", "r", "s", "q"])
    opened = []
    pipeline = Pipeline(load_settings(site.config))
    counts = review_loop(pipeline, Output(), getkey=lambda: next(keys), ask=lambda prompt: "out of focus",
                         open_url=opened.append)
    assert counts == {"approved": 1, "rejected": 1, "skipped": 1}
    assert len(opened) == 1 and opened[0].startswith("https://fake.social/@u")
    assert len(site.queue("approved")) == 1 and len(site.queue("pending")) == 2
    (rejected,) = site.queue("rejected")
    assert rejected["reasons"] == ["out of focus"]


def test_init_writes_a_working_config(tmp_path, capsys):
    assert cli.main(["init", str(tmp_path / "new")]) == 0
    assert cli.main(["init", str(tmp_path / "new")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_installed_entry_point_runs_as_a_subprocess(tmp_path):
    wlb = Path(sys.executable).with_name("wlb")
    command = [str(wlb)] if wlb.exists() else [sys.executable, str(ROOT / "cli.py")]
    result = subprocess.run([*command, "--config", str(tmp_path / "none.toml"), "queue"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "no such config file" in one_line(result.stderr)


def test_an_unexpected_error_masks_secrets_and_control_sequences(site, monkeypatch):
    def leak(*a, **k):
        raise RuntimeError("GET https://api.flickr.example/services/rest?method=x&api_key=SECRET1234&format=json "
                           "failed\n\x1b]52;c;ZWNobyBoaQ==\x07 https://u:hunter22@host.example/ \x1b[2J")

    monkeypatch.setattr("curation.views.iter_items", leak)
    result = site.wlb("queue")
    line = one_line(result.err)
    assert result.code == 1 and "SECRET1234" not in result.err and "hunter22" not in result.err
    assert "api_key=***" in line and "method=x" in line and "failed" in line and "WLB_DEBUG=1" in line
    assert "\x1b" not in result.err and "\x07" not in result.err and "ZWNobyBoaQ" not in result.err
    monkeypatch.setenv("WLB_DEBUG", "1")
    debug = site.wlb("queue")
    assert "Traceback" in debug.err and "SECRET1234" not in debug.err and "hunter22" not in debug.err


def test_an_unexpected_error_with_a_huge_message_stays_one_bounded_line(site, monkeypatch):
    def huge(*a, **k):
        raise ValueError("x" * 100_000)

    monkeypatch.setattr("curation.views.iter_items", huge)
    result = site.wlb("queue")
    assert result.code == 1 and len(one_line(result.err)) < 1000


def _collected(site) -> int:
    site.source.add_status(images=[images.jpeg(90)], created_at=T0, acct="ann")
    assert site.wlb("collect").code == 0
    (item,) = site.queue("pending")
    return item["id"]


def _refused(result, *expected: str) -> str:
    assert result.code == 2, result
    line = one_line(result.err)
    assert line.startswith("error: ") and all(text in line for text in expected), line
    return line


@pytest.mark.parametrize(("args", "expected"), [
    (["--credit", "@ann"], ["--credit: '@ann' is not a fediverse handle", "'@user@host'"]),
    (["--credit", "ann@photos.example"], ["--credit:", "a handle starts with '@'"]),
    (["--credit", "  "], ["--credit: empty"]),
    ([], ["needs credit", "--credit '@handle@host'"]),
])
def test_approve_credit_refusals_are_one_line(site, args, expected):
    item = _collected(site)
    site.set_post(item, needs_credit=True)
    _refused(site.wlb("approve", str(item), *args), *expected)
    assert site.queue("pending")[0]["id"] == item


@pytest.mark.parametrize(("command", "other", "wins"), [("approve", "reject", "rejected"), ("reject", "approve", "approved")])
def test_a_decision_that_lost_a_race_is_one_line(site, monkeypatch, command, other, wins):
    item = _collected(site)
    real_lock = curation.queue.lock_items
    raced = []

    def bob_decides_first(session, ids):  # between what the command read and its lock, bob decides
        if not raced:
            raced.append(True)
            db = Database(site.db_url)
            decide = getattr(curation.queue, other)
            extra = {"targets": [], "publish_channels": ["community"]} if other == "approve" else {}
            decide(db, ids, actor="bob", **extra)
            db.dispose()
        return real_lock(session, ids)

    monkeypatch.setattr(curation.queue, "lock_items", bob_decides_first)
    line = _refused(site.wlb(command, str(item)), f"item #{item} was changed from pending to {wins} by bob", f"wlb show {item}")
    assert "nothing changed" in line and site.queue(wins)[0]["id"] == item


@pytest.mark.parametrize("command", ["approve", "reject"])
def test_a_decision_on_an_item_being_published_is_one_line(site, command):
    item = _collected(site)
    db = Database(site.db_url)
    with db.session() as session:
        session.get(Post, item).status = Status.APPROVED
        session.add(Publication(post_id=item, channel="community", idempotency_key="k-1", attempts=1))
        session.commit()
    db.dispose()
    _refused(site.wlb(command, str(item)), "already being published to community", "'wlb publish'")


@pytest.mark.parametrize("command", [["queue"], ["show", "1"], ["approve", "1"], ["reject", "1"], ["review"],
                                     ["publish"], ["rehash"], ["dedup", "."], ["collect"], ["run"], ["doctor"],
                                     ["serve"]])
def test_a_config_path_that_is_not_a_file_is_one_line_for_every_command(tmp_path, capsys, command):
    code = cli.main(["--config", str(tmp_path), *command])
    err = capsys.readouterr().err
    assert code == 2 and f"{tmp_path}: not a regular file" in one_line(err)
    assert list(tmp_path.iterdir()) == [], "nothing created next to it"

"""Entry points for test processes started with multiprocessing's spawn: racing reviewers, a run-lock holder."""

from __future__ import annotations

from pathlib import Path


def decide(url: str, role: str, ids: list[int], barrier, results) -> None:
    """Approve (role "approve", as ann) or reject (as bob) each item at the same moment as the other process."""
    from core.db import Database
    from core.errors import UsageError
    from core.models import Status
    from curation.queue import approve, reject

    db = Database(url)
    try:
        for post_id in ids:
            barrier.wait(timeout=60)
            try:
                if role == "approve":
                    approve(db, [post_id], targets=[], publish_channels=["community"], actor="ann", expected=Status.PENDING)
                else:
                    reject(db, [post_id], reason="race", actor="bob", expected=Status.PENDING)
                results.put((post_id, role, "ok", ""))
            except UsageError as exc:
                results.put((post_id, role, "lost", str(exc)))
    finally:
        db.dispose()


def hold_run_lock(config: str, held, release) -> None:
    """Take the run lock of the deployment `config` describes, say so, and keep it until told."""
    from app.lock import run_lock
    from app.config import load_settings

    with run_lock(load_settings(Path(config))):
        held.set()
        release.wait(timeout=60)


def claim_until_empty(url: str, name: str, barrier, results) -> None:
    """One review session: lease pending items one after another, starting with the others; report what it got."""
    from core.db import Database
    from curation import leases
    from curation.filters import ItemFilter

    db = Database(url)
    owner, got = leases.new_owner(name), []
    try:
        barrier.wait(timeout=60)
        while (item := leases.claim_next(db, owner, ItemFilter(), exclude=got)) is not None:
            got.append(item)
    finally:
        results.put(got)
        db.dispose()


def decide_by_cli(config: str, who: str, verb: str, ids: list[int], barrier, results, env: dict) -> None:
    """A reviewer deciding with the wlb command itself, each item at the same moment as the other reviewer."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    for item in ids:
        barrier.wait(timeout=120)
        done = subprocess.run([sys.executable, "-m", "cli", "--config", config, verb, str(item), "--expect-status",
                               "pending"], cwd=root, env={**env, "WLB_REVIEWER": who, "PATH": os.environ["PATH"]},
                              capture_output=True, text=True, timeout=120)
        results.put((item, who, done.returncode, done.stderr.strip()))

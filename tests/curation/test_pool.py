"""Hashing workers do not outlive a parent killed with SIGKILL (kill -9, the OOM killer)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# `wlb dedup` on many files, stuck in the workers (a file on a hung network mount): the parent waits on
# the pool, the workers each wait on a file. The stand-in for hash_file is defined in __main__, which
# forked workers share, so the pool runs it in place of the real one.
SCRIPT = """
import sys, threading
from pathlib import Path
import curation.files as files

def stuck(path):
    threading.Event().wait()

files.hash_file = stuck
files.os.cpu_count = lambda: 2  # a pool even on one core
files.hash_files([Path(f"{i}.jpg") for i in range(files.POOL_FROM)])
"""


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its reaper is missing


def _wait(condition, seconds: float = 20.0) -> bool:  # noqa: ANN001
    """Poll until condition() (bounded); no assertion depends on how long this takes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_workers_exit_when_the_parent_is_killed() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env)
    workers: list[int] = []
    try:
        assert _wait(lambda: len(_children(parent.pid)) >= 2), "the pool never started"
        workers = _children(parent.pid)
        assert parent.poll() is None and all(_alive(w) for w in workers)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        survivors = [w for w in workers if not _wait(lambda w=w: not _alive(w))]
        assert survivors == [], "hashing workers outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for w in workers:  # only the processes this test started
            if _alive(w):
                os.kill(w, signal.SIGKILL)

"""`wlb review` in a real pseudo-terminal of 80×24: it reads single keys (typed ahead too), redraws from the top,
and quits cleanly."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.review_driver import history, lease_of, pending, show

WLB = Path(sys.executable).with_name("wlb")
pytestmark = pytest.mark.skipif(not WLB.exists(), reason="the wlb entry point is not installed in this environment")


def _read_until(fd: int, pattern: str, seen: bytearray, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = seen.decode("utf-8", "replace")
        if re.search(pattern, re.sub(r"\x1b\[[0-9;]*m", "", text)):
            return text
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
    raise AssertionError(f"{pattern!r} never appeared in:\n{seen.decode('utf-8', 'replace')[-3000:]}")


def test_review_in_a_terminal_approves_with_one_key_and_quits(site):
    ann, ben = pending(site, "ann", "ben")
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")} | {"TERM": "xterm-256color"}
    proc = subprocess.Popen([str(WLB), "--config", str(site.config), "review"], stdin=child, stdout=child,
                            stderr=child, cwd=site.root, env=env, close_fds=True)
    os.close(child)
    seen = bytearray()
    try:
        _read_until(main, r"q quit", seen)
        assert b"\x1b[2J" in seen, "each screen is drawn from the top of a cleared terminal"
        os.write(main, b"aq")  # typed ahead, in one write: two keys, neither lost
        out = _read_until(main, r"approved 1, rejected 0, skipped 0", seen)
        assert re.search(rf"✓ #{ann} approved → community", re.sub(r"\x1b\[[0-9;]*m", "", out))
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    last_screen = out.split("\x1b[2J")[-1]
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", last_screen)
    lines = plain.replace("\r", "").rstrip("\n").split("\n")
    assert 20 <= len(lines) <= 23 + 1 and lines[-1] == "approved 1, rejected 0, skipped 0"  # the screen, the summary
    assert show(site, ann)["status"] == "approved" and history(site, ann)[-1][1] == "approve"
    assert show(site, ben)["status"] == "pending" and lease_of(site, ben) is None, "q gave the lease back"


def test_waiting_for_a_key_keeps_the_lease_alive(monkeypatch):
    """A reviewer who looks at an item longer than the lease without pressing a key keeps it: the key reader
    renews while it waits."""
    from app.review import terminal_key

    master, slave = pty.openpty()
    with os.fdopen(slave, "r") as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        renewed: list[float] = []

        def renew() -> None:
            renewed.append(time.monotonic())
            if len(renewed) == 3:
                os.write(master, b"a")  # the reviewer finally presses a key

        key = terminal_key(on_wait=renew, every=0.05)
    os.close(master)
    assert key == "a" and len(renewed) == 3

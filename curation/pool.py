"""A process pool for hashing whose workers exit when the process that started them dies."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor

# How often a worker checks that its parent is alive: a syscall twice a second costs nothing measurable.
PARENT_POLL_SECONDS = 0.5


def hashing_pool(workers: int) -> ProcessPoolExecutor:
    """ProcessPoolExecutor(workers) whose workers leave as soon as this process is gone, even kill -9'd."""
    return ProcessPoolExecutor(workers, initializer=_watch_parent, initargs=(os.getpid(),))


def _watch_parent(parent: int) -> None:
    """Start a daemon thread that ends this worker when `parent` is no longer its parent."""
    # A worker blocked on the task queue never sees EOF when the parent is SIGKILLed: its siblings
    # inherited the queue's write end too, so without this they wait (holding memory) forever.
    threading.Thread(target=_exit_when_orphaned, args=(parent,), name="wlb-parent-watch", daemon=True).start()


def _exit_when_orphaned(parent: int, poll: float = PARENT_POLL_SECONDS) -> None:
    while os.getppid() == parent:
        time.sleep(poll)
    os._exit(1)  # no cleanup to run: the pool's results have nowhere to go

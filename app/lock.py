"""The run lock: one run at a time per deployment (a file lock for SQLite, an advisory lock on PostgreSQL)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from core.db import make_engine
from core.errors import WlbError
from core.settings import Settings

# pg_try_advisory_lock(classid, objid): wlb's run lock, one per schema (a deployment's tables).
RUN_LOCK_CLASS = 7342020


@contextmanager
def run_lock(settings: Settings) -> Iterator[None]:
    """One run at a time per deployment: a scheduled run and a manual one, or two hosts, never overlap."""
    if settings.database.startswith("postgresql"):
        with _database_lock(settings.database):
            yield
        return
    with _file_lock(Path(settings.data_dir) / "wlb.lock"):
        yield


@contextmanager
def _database_lock(url: str) -> Iterator[None]:
    """A session-level advisory lock on a dedicated connection: released when the run ends or its process dies."""
    engine = make_engine(url)
    key = {"c": RUN_LOCK_CLASS}
    try:
        try:
            conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = conn.execute(text("SELECT pg_try_advisory_lock(:c, hashtext(current_schema()))"), key).scalar()
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise WlbError(f"cannot take the run lock in the database: {reason}") from None
        with conn:
            if not got:
                raise WlbError(f"another wlb run is in progress on this database{_holder(conn)}; "
                               f"try again when it has finished")
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:c, hashtext(current_schema()))"), key)
    finally:
        engine.dispose()


def _holder(conn) -> str:
    """Which database session holds the run lock, for the message."""
    row = conn.execute(text(
        "SELECT a.pid, coalesce(host(a.client_addr), 'a local socket') FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.classid = :c "
        "AND l.objid = hashtext(current_schema())::oid AND l.objsubid = 2 AND l.granted"), {"c": RUN_LOCK_CLASS}).first()
    return f" (held by database session {row[0]} from {row[1]})" if row else ""


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """One run at a time per data folder (SQLite: the database lives in it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise WlbError(f"another wlb run is in progress (pid {holder}); try again when it has finished") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)

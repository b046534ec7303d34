"""Run order (collect → curate → publish), the run lock, and the scheduler for `wlb serve`."""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from collector.base import Collector
from collector.media import MediaStore
from collector.registry import COLLECTORS, build_collector
from collector.run import collect_channel, download_pending
from core.db import Database, make_engine
from core.errors import UsageError, WlbError
from core.http import Http
from core.report import RunReport
from core.settings import Settings
from curation.curate import curate
from publisher.registry import build_publisher
from publisher.run import Planned, publish

log = logging.getLogger("wlb")


class Hooks:
    """Progress callbacks; the CLI passes one that drives rich progress bars."""

    def stage(self, name: str, total: int | None) -> None: ...
    def advance(self, name: str, n: int = 1) -> None: ...


class Pipeline:
    """Everything one process needs to run the stages, built once from settings."""

    def __init__(self, settings: Settings, *, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] | None = None, hooks: Hooks | None = None):
        self.settings = settings
        self.db = Database(settings.database)
        self.http = Http(settings.network, transport=transport, sleep=sleep or time.sleep)
        self.store = MediaStore(settings.media_dir)
        self.hooks = hooks or Hooks()

    def close(self) -> None:
        self.http.close()
        self.db.dispose()

    def collectors(self, *, collecting: bool = True) -> dict[str, Collector]:
        return {name: build_collector(ch, self.settings, self.http) for name, ch in self.settings.channels.items()
                if ch.kind in COLLECTORS and (ch.collect or not collecting)}

    def publish_channels(self) -> list[str]:
        return [name for name, ch in self.settings.channels.items() if ch.publish]

    def collect(self, report: RunReport) -> None:
        """Every collecting channel, then every pending image; one failing channel does not stop the others."""
        collectors = self.collectors()
        self.hooks.stage("collect", len(collectors))
        for name, collector in collectors.items():
            collect_channel(self.db, self.settings, name, collector, report.channel(name))
            self.hooks.advance("collect")
        download_pending(self.db, self.settings, self.http, self.store, report,
                         on_start=lambda total: self.hooks.stage("download", total),
                         on_done=lambda _r: self.hooks.advance("download"))

    def curate(self, report: RunReport) -> int:
        return curate(self.db, self.settings, self.store, report, on_start=lambda total: self.hooks.stage("curate", total),
                      on_item=lambda _p: self.hooks.advance("curate"))

    def publish(self, report: RunReport, *, channel: str | None = None, dry_run: bool = False) -> list[Planned]:
        names = self.publish_channels()
        if channel is not None:
            if channel not in names:
                raise UsageError(f"--channel {channel}: not a publishing channel (publishing: {', '.join(names) or 'none'})")
            names = [channel]
        publishers = {n: build_publisher(self.settings.channels[n], self.settings, self.http) for n in names}
        self.hooks.stage("publish", None)
        return publish(self.db, self.settings, self.store, publishers, self.collectors(collecting=False), report,
                       dry_run=dry_run, on_item=lambda _p: self.hooks.advance("publish"), http=self.http)

    def run(self) -> RunReport:
        """The nightly job: collect → curate → publish due approved items."""
        report = RunReport()
        with run_lock(self.settings):
            self.collect(report)
            self.curate(report)
            self.publish(report)
        return report


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

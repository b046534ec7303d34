"""Engine, sessions and versioned migrations (SQLite by default, PostgreSQL with psycopg 3)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlmodel import Session, create_engine

from core.errors import ConfigError, WlbError
from core.migrations import MIGRATIONS, apply

SQLITE_BUSY_MS = 30_000


def make_engine(url: str) -> Engine:
    """An engine with the pragmas SQLite needs for a CLI and a scheduler sharing one file."""
    try:
        if url.startswith("sqlite"):
            path = url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except (ArgumentError, ImportError, ValueError) as exc:
        raise ConfigError(f"database {_redact(url)!r} is not usable ({exc}); check 'database' in config.toml") from None
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _redact(url: str) -> str:
    """Hide a password in a database URL before it reaches a message."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url
    return url


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """Serialize migrations between processes that start at the same moment."""
    if engine.dialect.name == "sqlite":
        db_file = engine.url.database
        lock_path = Path(f"{db_file}.migrate.lock") if db_file and db_file != ":memory:" else None
        handle = open(lock_path, "a+") if lock_path else None  # noqa: SIM115 - closed below
        try:
            if handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
            with engine.begin() as conn:
                yield conn
        finally:
            if handle:
                handle.close()
    else:
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(7342019)"))
            yield conn


def migrate(engine: Engine) -> list[int]:
    """Apply pending migrations in order; return the versions applied."""
    try:
        if _recorded_versions(engine) == set(MIGRATIONS):
            return []  # the common case, answered by one read without the migration lock
        with _migration_lock(engine) as conn:
            return apply(conn)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise WlbError(f"cannot open the database {_redact(str(engine.url))}: {reason}") from None


def _recorded_versions(engine: Engine) -> set[int]:
    """Every schema version recorded (a handful of rows); none when there is no schema table yet."""
    with engine.connect() as conn:
        if not sa_inspect(conn).has_table("wlb_schema"):
            return set()
        return set(conn.execute(text("SELECT version FROM wlb_schema")).scalars())


def schema_version(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT max(version) FROM wlb_schema")).scalar() or 0


def latest_version() -> int:
    return max(MIGRATIONS)


class Database:
    """The engine plus sessions; created once per process from settings."""

    def __init__(self, url: str):
        self.engine = make_engine(url)
        migrate(self.engine)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def dispose(self) -> None:
        self.engine.dispose()

"""Web view accounts: `wlb user add/list/remove`, scrypt password hashes, sign-in checks."""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import re
import secrets
import sys
import threading
from collections.abc import Callable
from functools import cache
from typing import TextIO

from sqlalchemy import delete, func
from sqlmodel import col, select

from core.db import Database
from core.errors import UsageError
from core.models import Account, WebSession
from curation import leases

# OWASP's scrypt parameters (N=2^17, r=8, p=1): 128 MiB and a few hundred milliseconds per hash. The stored
# string carries its own parameters, so raising them later leaves existing hashes working.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
MAX_N = 2**20  # a stored hash asking for more is refused, not computed (a tampered row must not exhaust memory)
MIN_PASSWORD, MAX_PASSWORD = 8, 1024  # the sign-in form reads no more than MAX_PASSWORD characters
NAME = re.compile(r"[\w.@-]{1,64}")  # letters, digits, . _ @ -: no spaces, no '#' (the lease owner's separator)
_HASHING = threading.Semaphore(2)  # at most two 128 MiB hashes at once, however many sign-ins arrive


def hash_password(password: str) -> str:
    """'scrypt$n$r$p$salt$hash' (salt and hash in base64)."""
    n, r, p = SCRYPT_N, SCRYPT_R, SCRYPT_P
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, n, r, p)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when `password` matches the stored hash; compared in constant time."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        n, r, p = int(n), int(r), int(p)
        salt_bytes, want = base64.b64decode(salt), base64.b64decode(digest)
    except ValueError:
        return False
    if scheme != "scrypt" or not (2 <= n <= MAX_N and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16) or not want:
        return False
    return hmac.compare_digest(_scrypt(password, salt_bytes, n, r, p, len(want)), want)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int = 32) -> bytes:
    with _HASHING:
        return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length,
                              maxmem=2 * 128 * r * n + 1024 * 1024)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@cache
def _dummy() -> str:
    """Checked when a name is unknown, so a wrong name takes as long as a wrong password (no guessing names)."""
    return hash_password("not a password")


def valid_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise UsageError(f"user name {name[:70]!r}: use 1-64 letters, digits, '.', '_', '@' or '-'")
    return name


def add_user(db: Database, name: str, password: str) -> Account:
    """Create an account; refuse a taken name or a short password."""
    valid_name(name)
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"the password is too short: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise UsageError(f"the password is too long: at most {MAX_PASSWORD} characters (the sign-in form reads no more)")
    with db.session() as session:
        if session.exec(select(Account).where(func.lower(Account.name) == name.lower())).first():
            raise UsageError(f"user {name} already exists; remove it first with 'wlb user remove {name}'")
        account = Account(name=name, password_hash=hash_password(password))
        session.add(account)
        session.commit()
        return account


def list_users(db: Database) -> list[dict]:
    """Every account with when it was created and how many browsers are signed in."""
    with db.session() as session:
        counts = dict(session.exec(select(WebSession.account_id, func.count()).group_by(WebSession.account_id)).all())
        return [{"name": a.name, "created_at": a.created_at.isoformat(timespec="seconds"),
                 "sessions": counts.get(a.id, 0)}
                for a in session.exec(select(Account).order_by(Account.name))]


def remove_user(db: Database, name: str) -> int:
    """Delete an account and sign out its browsers (their review leases are given back); how many sessions ended."""
    with db.session() as session:
        account = session.exec(select(Account).where(Account.name == name)).first()
        if account is None:
            raise UsageError(f"no user {name!r}; see 'wlb user list'")
        ids = list(session.exec(select(WebSession.id).where(WebSession.account_id == account.id)))
        session.exec(delete(WebSession).where(col(WebSession.account_id) == account.id))
        session.delete(account)
        session.commit()
    for session_id in ids:
        leases.release(db, lease_owner(name, session_id))
    return len(ids)


def has_accounts(db: Database) -> bool:
    with db.session() as session:
        return session.exec(select(Account.id).limit(1)).first() is not None


def authenticate(db: Database, name: str, password: str) -> Account | None:
    """The account when name and password match, else None; as slow for an unknown name as for a wrong password."""
    with db.session() as session:
        account = session.exec(select(Account).where(Account.name == name)).first() if NAME.fullmatch(name) else None
    if account is None:
        verify_password(password, _dummy())
        return None
    return account if verify_password(password, account.password_hash) else None


def lease_owner(name: str, session_id: int) -> str:
    """The review-lease owner of one signed-in browser: its reviewer's name, told apart by the session's id."""
    return f"{name}#web-{session_id}"


def read_new_password(stdin: TextIO | None = None, prompt: Callable[[str], str] | None = None) -> str:
    """Twice on a terminal (must match); otherwise the first line of standard input."""
    stdin, prompt = stdin or sys.stdin, prompt or getpass.getpass
    if not stdin.isatty():
        password = stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("no password on standard input: pipe it in, e.g. printf '%s\\n' \"$PW\" | wlb user add NAME")
        return password
    password = prompt("password: ")
    if prompt("again: ") != password:
        raise UsageError("the two passwords differ; nothing changed")
    return password

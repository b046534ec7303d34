"""Who is asking: session cookies (only their SHA-256 is stored), CSRF tokens, the trusted proxy header."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response

from app.accounts import lease_owner
from core.db import Database
from core.models import Account, WebSession, utcnow
from core.settings import WebSettings
from curation import leases

COOKIE = "wlb_session"
LOGIN_COOKIE = "wlb_login"  # the sign-in form's own CSRF token (double submit): there is no session yet
FAILURES, WINDOW = 5, 600  # failed sign-ins per address and name within WINDOW seconds before a pause
TRACKED = 10_000  # (address, name) pairs remembered at most


@dataclass(frozen=True)
class Reviewer:
    """A signed-in browser: whose it is, its CSRF token, and the lease owner of its review pages."""

    name: str
    session_id: int
    csrf: str

    @property
    def lease_owner(self) -> str:
        return lease_owner(self.name, self.session_id)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def peer(request: Request) -> str:
    return request.client.host if request.client else ""


def _trusted(address: str, web: WebSettings) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    # Listening on '::', an IPv4 proxy arrives as ::ffff:10.0.0.5; trusted_proxies names it 10.0.0.5.
    forms = [ip, *([ip.ipv4_mapped] if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else [])]
    return any(f in ipaddress.ip_network(net, strict=False) for f in forms for net in web.trusted_proxies)


def is_https(request: Request, web: WebSettings) -> bool:
    """Served over https: directly, or behind a trusted proxy that says so (uvicorn's proxy headers are off)."""
    if request.url.scheme == "https":
        return True
    return _trusted(peer(request), web) and request.headers.get("x-forwarded-proto", "").lower() == "https"


def start_session(db: Database, account: Account, web: WebSettings) -> tuple[str, WebSession]:
    """A new signed-in browser: the cookie's token (returned once) and its stored row."""
    token = secrets.token_urlsafe(32)
    row = WebSession(token_hash=_digest(token), account_id=account.id, csrf_token=secrets.token_urlsafe(32),
                     expires_at=utcnow() + timedelta(hours=web.session_hours))
    with db.session() as session:
        session.exec(delete(WebSession).where(col(WebSession.expires_at) <= utcnow()))  # sweep the stale ones
        session.add(row)
        session.commit()
    return token, row


def set_cookie(response: Response, request: Request, token: str, web: WebSettings) -> None:
    response.set_cookie(COOKIE, token, max_age=web.session_hours * 3600, httponly=True, samesite="lax",
                        secure=is_https(request, web), path="/")


def _from_cookie(db: Database, request: Request) -> tuple[Reviewer, WebSession] | None:
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 100:
        return None
    with db.session() as session:
        row = session.exec(select(WebSession).where(WebSession.token_hash == _digest(token))).first()
        if row is None or row.expires_at <= utcnow():
            return None
        account = session.get(Account, row.account_id)
        return (Reviewer(account.name, row.id, row.csrf_token), row) if account else None


def current(db: Database, request: Request, web: WebSettings) -> tuple[Reviewer | None, str | None]:
    """The signed-in reviewer, and a new session token to set when a trusted proxy header signed them in now.

    The header is believed only from a trusted proxy's address, and only for an existing account: removing the
    account (`wlb user remove`) locks the person out even while the proxy still lets them through.
    """
    found = _from_cookie(db, request)
    given = request.headers.getlist(web.trusted_header) if web.trusted_header else []
    if not given or not _trusted(peer(request), web):
        return (found[0] if found else None), None
    if len(given) > 1:  # a proxy that adds its header after the client's: which one is the proxy's? Neither.
        return None, None
    named = given[0].strip()
    if not named:
        return (found[0] if found else None), None
    if found and found[0].name == named:
        return found[0], None
    with db.session() as session:
        account = session.exec(select(Account).where(Account.name == named)).first()
    if account is None:
        return None, None
    token, row = start_session(db, account, web)
    return Reviewer(account.name, row.id, row.csrf_token), token


def end_session(db: Database, reviewer: Reviewer) -> None:
    """Sign out: forget the session and give back the items its pages held."""
    with db.session() as session:
        session.exec(delete(WebSession).where(col(WebSession.id) == reviewer.session_id))
        session.commit()
    leases.release(db, reviewer.lease_owner)


def csrf_ok(expected: str | None, given: object) -> bool:
    return bool(expected) and isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


class Throttle:
    """Failed sign-ins per (address, name): after FAILURES within WINDOW seconds, wait (in-process, one server)."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.failed: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        times = self.failed[key]
        while times and times[0] <= self.clock() - WINDOW:
            times.popleft()
        return times

    def blocked(self, address: str, name: str) -> bool:
        key = (address, name.lower())
        return key in self.failed and len(self._recent(key)) >= FAILURES

    def fail(self, address: str, name: str) -> None:
        self._recent((address, name.lower())).append(self.clock())
        if len(self.failed) > TRACKED:
            self._forget()

    def _forget(self) -> None:
        """Bounded memory under a spray of names, without forgetting whom it holds back (forgetting everything
        let a spray of made-up names reset the pause on a real one): stale pairs first, then the fewest failures."""
        for key in [k for k in self.failed if not self._recent(k)]:
            del self.failed[key]
        if len(self.failed) > TRACKED:
            kept = sorted(self.failed.items(), key=lambda item: len(item[1]), reverse=True)[:TRACKED // 2]
            self.failed = defaultdict(deque, kept)

    def succeed(self, address: str, name: str) -> None:
        self.failed.pop((address, name.lower()), None)

"""Review leases: the item on one reviewer's screen is hidden from every other session for a few minutes.

A lease is two columns on the item (owner, until). Claiming is one atomic statement pair inside a write
transaction: `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL (a row another session is claiming is passed
over, not waited for), the database write lock (`BEGIN IMMEDIATE`) on SQLite. A session that dies simply
stops renewing; its leases run out and the items come back.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, tuple_, update
from sqlmodel import col, select

from core.db import Database
from core.decisions import begin_write
from core.models import Post, utcnow
from core.settings import Settings
from curation.filters import ItemFilter, where

DEFAULT_MINUTES = 5
_SEP = "#"  # owner = "<reviewer>#<session token>": the reviewer's name is shown, the token tells sessions apart


def new_owner(reviewer: str) -> str:
    """A lease owner for one review session (a terminal or a signed-in browser) of `reviewer`."""
    return f"{reviewer[:150]}{_SEP}{secrets.token_hex(8)}"


def reviewer_of(owner: str) -> str:
    return owner.rsplit(_SEP, 1)[0]


@dataclass(frozen=True)
class Holder:
    """Someone else's lease on an item."""

    reviewer: str
    until: datetime

    def __str__(self) -> str:
        return f"{self.reviewer} is reviewing it (until {self.until:%H:%M:%S} UTC)"


def held_by_other(post: Post, owner: str | None, now: datetime | None = None) -> Holder | None:
    """The live lease of another session on `post`, or None (free, expired, or ours)."""
    if not post.lease_owner or post.lease_until is None or post.lease_owner == owner:
        return None
    if post.lease_until <= (now or utcnow()):
        return None
    return Holder(reviewer_of(post.lease_owner), post.lease_until)


def _ttl(settings: Settings | None) -> timedelta:
    return timedelta(minutes=settings.review.lease_minutes if settings else DEFAULT_MINUTES)


def _free(owner: str, now: datetime):
    return or_(col(Post.lease_owner).is_(None), col(Post.lease_until).is_(None), col(Post.lease_until) <= now,
               Post.lease_owner == owner)


def claim_next(db: Database, owner: str, flt: ItemFilter, *, settings: Settings | None = None,
               exclude: Collection[int] = (), after: tuple[datetime, int] | None = None) -> int | None:
    """Lease the newest item matching `flt` that no other session holds; its id, or None when none is left.

    `exclude`: ids this session already passed (skipped or decided); `after`: continue below this
    (created_at, id) in the queue's order, so a long session never rescans what it has seen.
    """
    now = utcnow()
    with db.session() as session:
        begin_write(session)
        query = where(select(Post.id), flt, session, settings).where(_free(owner, now))
        if exclude:
            query = query.where(col(Post.id).not_in(list(exclude)))
        if after is not None:
            created, last_id = after
            # A row value compare: one range on the (status, created_at, id) index, not a walk from the newest item.
            query = query.where(tuple_(col(Post.created_at), col(Post.id)) < tuple_(created, last_id))
        query = query.order_by(col(Post.created_at).desc(), col(Post.id).desc()).limit(1)
        if session.get_bind().dialect.name != "sqlite":
            query = query.with_for_update(skip_locked=True)  # being claimed by another session: take the next
        item_id = session.exec(query).first()
        if item_id is not None:
            session.exec(update(Post).where(Post.id == item_id)
                         .values(lease_owner=owner, lease_until=now + _ttl(settings)))
        session.commit()
        return item_id


def claim(db: Database, item_id: int, owner: str, *, settings: Settings | None = None) -> Holder | None:
    """Lease this item (going back to it, or opening it in the browser); None when it is ours, else who holds it."""
    now = utcnow()
    with db.session() as session:
        begin_write(session)
        post = session.exec(select(Post).where(Post.id == item_id).with_for_update()).first()
        holder = held_by_other(post, owner, now) if post else None
        if post is not None and holder is None:
            post.lease_owner, post.lease_until = owner, now + _ttl(settings)
            session.add(post)
        session.commit()
        return holder


def renew(db: Database, owner: str, item_id: int, *, settings: Settings | None = None) -> bool:
    """Extend our lease on an item the reviewer is still looking at; False when it is no longer ours."""
    with db.session() as session:
        result = session.exec(update(Post).where(Post.id == item_id, Post.lease_owner == owner)
                              .values(lease_until=utcnow() + _ttl(settings)))
        session.commit()
        return bool(result.rowcount)


def release(db: Database, owner: str, item_id: int | None = None) -> int:
    """Give back our lease on one item, or on every item this session holds (quitting); how many were released."""
    with db.session() as session:
        query = update(Post).where(Post.lease_owner == owner)
        if item_id is not None:
            query = query.where(Post.id == item_id)
        result = session.exec(query.values(lease_owner=None, lease_until=None))
        session.commit()
        return result.rowcount

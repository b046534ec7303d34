"""Decision history: every status change recorded with who, when and why, under the rows' write lock."""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence

from sqlmodel import Session, col, select

from core.licenses import needs_permission
from core.models import Decision, Post, Publication, PubState, Status
from core.settings import Settings

SYSTEM_ACTOR = "wlb"
# What only a person records (curation/queue.py). Told apart by action, not actor: a reviewer's login may be "wlb".
PERSON_ACTIONS = ("approve", "approve-forced", "reject", "credit")


def reviewer() -> str:
    """Who is deciding: WLB_REVIEWER, else the operating-system user."""
    name = os.environ.get("WLB_REVIEWER", "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def transition(session: Session, post: Post, to: Status, *, actor: str, action: str, reason: str = "") -> None:
    """Change an item's status and record the decision in the same transaction."""
    session.add(Decision(post_id=post.id, action=action, from_status=post.status, to_status=to, actor=actor, reason=reason))
    post.status = to
    if reason and to in (Status.REJECTED, Status.DUPLICATE) and reason not in post.reasons:
        post.reasons = [*post.reasons, reason]
    session.add(post)


def begin_write(session: Session) -> None:
    """On SQLite, take the database's write lock before reading (PostgreSQL locks rows with FOR UPDATE instead)."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")


def lock_items(session: Session, ids: Sequence[int]) -> list[Post]:
    """Start a write transaction holding these items' rows, read fresh: decisions and claims serialize here."""
    begin_write(session)
    query = select(Post).where(col(Post.id).in_(list(ids))).order_by(Post.id)  # id order: no deadlocks
    found = {p.id: p for p in session.exec(query.with_for_update().execution_options(populate_existing=True))}
    return [found[i] for i in ids if i in found]


def claimed(session: Session, post_id: int) -> Publication | None:
    """A repost of this item whose remote call may have happened: it can no longer be stopped."""
    return session.exec(select(Publication).where(Publication.post_id == post_id, Publication.state == PubState.PENDING,
                                                  Publication.attempts > 0)).first()


def licence_problem(post: Post, settings: Settings, targets: Sequence[str]) -> str | None:
    """Why reposting this item to these channels needs the photographer's permission, or None."""
    channels = list(targets) or settings.publishing_channels()
    non_commercial = bool(channels) and all(settings.channels[c].non_commercial for c in channels if c in settings.channels)
    return needs_permission(post.license, settings.licenses.allowed, non_commercial=non_commercial)


def history(session: Session, post_id: int) -> list[Decision]:
    return list(session.exec(select(Decision).where(Decision.post_id == post_id).order_by(Decision.at, Decision.id)))

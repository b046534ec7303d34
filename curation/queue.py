"""The review queue's state changes: every one recorded with who, when and why."""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence

from sqlmodel import Session, select

from core.db import Database
from core.errors import UsageError
from core.models import Decision, Post, Status
from core.settings import Settings

SYSTEM_ACTOR = "wlb"

# Which statuses a person may move an item from. Published items are final: their repost exists.
APPROVABLE = {Status.PENDING, Status.REJECTED, Status.DUPLICATE, Status.APPROVED}
REJECTABLE = {Status.NEW, Status.PENDING, Status.APPROVED, Status.DUPLICATE, Status.REJECTED}


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


def _items(session: Session, ids: Sequence[int]) -> list[Post]:
    posts = []
    for item_id in ids:
        post = session.get(Post, item_id)
        if post is None:
            raise UsageError(f"no item #{item_id}; list them with 'wlb queue --status all'")
        posts.append(post)
    return posts


def licence_problem(post: Post, settings: Settings, targets: Sequence[str]) -> str | None:
    """Why reposting this item to these channels needs the photographer's permission, or None."""
    from publisher.licenses import needs_permission

    channels = list(targets) or [n for n, ch in settings.channels.items() if ch.publish]
    non_commercial = bool(channels) and all(settings.channels[c].non_commercial for c in channels if c in settings.channels)
    return needs_permission(post.license, settings.licenses.allowed, non_commercial=non_commercial)


def approve(db: Database, ids: Sequence[int], *, targets: Sequence[str], publish_channels: Sequence[str],
            caption: str | None = None, actor: str | None = None, reason: str = "",
            settings: Settings | None = None, force: bool = False) -> list[Post]:
    """Approve items for publishing to the given channels (default: every publishing channel)."""
    unknown = [t for t in targets if t not in publish_channels]
    if unknown:
        have = ", ".join(publish_channels) or "none; set publish = true on a channel"
        raise UsageError(f"--to {unknown[0]}: not a publishing channel (publishing channels: {have})")
    if force and not reason.strip():
        raise UsageError("--force needs --reason: say how the photographer gave permission (it is recorded)")
    actor = actor or reviewer()
    with db.session() as session:
        posts = _items(session, ids)
        for post in posts:
            if post.status not in APPROVABLE:
                raise UsageError(f"item #{post.id} is {post.status}; only pending, rejected or duplicate items can be approved")
            problem = licence_problem(post, settings, targets) if settings else None
            if problem and not force:
                raise UsageError(f"item #{post.id} needs permission: {problem}; ask the photographer, then approve "
                                 f"with --force --reason 'how they agreed'")
        for post in posts:
            post.targets = list(targets)  # empty: every publishing channel at publish time
            if caption is not None:
                post.caption = caption
            action = "approve-forced" if force else "approve"
            transition(session, post, Status.APPROVED, actor=actor, action=action, reason=reason)
        session.commit()
        return posts


def reject(db: Database, ids: Sequence[int], *, reason: str = "", actor: str | None = None) -> list[Post]:
    """Reject items; they stay in the archive so re-posts of the same photo stay out of the queue."""
    actor = actor or reviewer()
    with db.session() as session:
        posts = _items(session, ids)
        for post in posts:
            if post.status not in REJECTABLE:
                raise UsageError(f"item #{post.id} is already {post.status}; it cannot be rejected")
        for post in posts:
            transition(session, post, Status.REJECTED, actor=actor, action="reject", reason=reason or "rejected by reviewer")
        session.commit()
        return posts


def history(session: Session, post_id: int) -> list[Decision]:
    return list(session.exec(select(Decision).where(Decision.post_id == post_id).order_by(Decision.at, Decision.id)))

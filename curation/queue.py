"""The review queue's state changes: every one recorded with who, when and why."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Sequence

from sqlmodel import Session, col, select

from core.db import Database
from core.errors import UsageError
from core.models import Decision, Post, Publication, PubState, Status
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


def lock_items(session: Session, ids: Sequence[int]) -> list[Post]:
    """Start a write transaction holding these items' rows, read fresh: decisions and claims serialize here."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")  # the database's write lock, taken before reading
    query = select(Post).where(col(Post.id).in_(list(ids))).order_by(Post.id)  # id order: no deadlocks
    found = {p.id: p for p in session.exec(query.with_for_update().execution_options(populate_existing=True))}
    return [found[i] for i in ids if i in found]


def claimed(session: Session, post_id: int) -> Publication | None:
    """A repost of this item whose remote call may have happened: it can no longer be stopped."""
    return session.exec(select(Publication).where(Publication.post_id == post_id, Publication.state == PubState.PENDING,
                                                  Publication.attempts > 0)).first()


def _check_unchanged(session: Session, post: Post, seen: Status) -> None:
    """The compare half of compare-and-set: refuse if someone decided since this decider looked."""
    if post.status != seen:
        last = session.exec(select(Decision).where(Decision.post_id == post.id).order_by(col(Decision.id).desc())).first()
        who = f"{last.actor} ({last.action} at {last.at:%Y-%m-%d %H:%M:%S} UTC)" if last else "someone"
        raise UsageError(f"item #{post.id} was changed to {post.status} by {who} since you looked; nothing "
                         f"changed: check it with 'wlb show {post.id}' and decide again")
    pub = claimed(session, post.id)
    if pub is not None:
        raise UsageError(f"item #{post.id} is already being published to {pub.channel}; nothing changed "
                         f"(if no run is going on, 'wlb publish' finishes it)")


def _decide(db: Database, ids: Sequence[int], expected: Status | None, check: Callable[[Post], None],
            apply: Callable[[Session, Post], None]) -> list[Post]:
    """Read what the decider sees, lock, compare, change: a decision never silently overwrites another."""
    with db.session() as session:
        seen = {p.id: expected or Status(p.status) for p in _items(session, ids)}
    with db.session() as session:
        posts = lock_items(session, list(dict.fromkeys(ids)))
        if len(posts) < len(set(ids)):
            raise UsageError("an item was deleted meanwhile; list them with 'wlb queue --status all'")
        for post in posts:
            _check_unchanged(session, post, seen[post.id])
            check(post)
        for post in posts:
            apply(session, post)
        session.commit()
        return posts


def licence_problem(post: Post, settings: Settings, targets: Sequence[str]) -> str | None:
    """Why reposting this item to these channels needs the photographer's permission, or None."""
    from publisher.licenses import needs_permission

    channels = list(targets) or [n for n, ch in settings.channels.items() if ch.publish]
    non_commercial = bool(channels) and all(settings.channels[c].non_commercial for c in channels if c in settings.channels)
    return needs_permission(post.license, settings.licenses.allowed, non_commercial=non_commercial)


def approve(db: Database, ids: Sequence[int], *, targets: Sequence[str], publish_channels: Sequence[str],
            caption: str | None = None, actor: str | None = None, reason: str = "",
            settings: Settings | None = None, force: bool = False, credit: str | None = None,
            expected: Status | None = None) -> list[Post]:
    """Approve items for publishing to the given channels (default: every publishing channel).

    `expected`: the status the reviewer saw; the approval is refused if the item changed since.
    """
    unknown = [t for t in targets if t not in publish_channels]
    if unknown:
        have = ", ".join(publish_channels) or "none; set publish = true on a channel"
        raise UsageError(f"--to {unknown[0]}: not a publishing channel (publishing channels: {have})")
    if force and not reason.strip():
        raise UsageError("--force needs --reason: say how the photographer gave permission (it is recorded)")
    credit = _valid_credit(credit) if credit is not None else None
    actor = actor or reviewer()

    def check(post: Post) -> None:
        if post.status not in APPROVABLE:
            raise UsageError(f"item #{post.id} is {post.status}; only pending, rejected or duplicate items can be approved")
        problem = licence_problem(post, settings, targets) if settings else None
        if problem and not force:
            raise UsageError(f"item #{post.id} needs permission: {problem}; ask the photographer, then approve "
                             f"with --force --reason 'how they agreed'")
        if post.needs_credit and not (credit or post.credit):
            raise UsageError(f"item #{post.id} needs credit: no author could be determined; approve it with "
                             f"--credit '@handle@host' or --credit 'Their Name'")

    def apply(session: Session, post: Post) -> None:
        post.targets = list(targets)  # empty: every publishing channel at publish time
        if caption is not None:
            post.caption = caption
        if credit is not None:
            session.add(Decision(post_id=post.id, action="credit", from_status=post.status, to_status=post.status,
                                 actor=actor, reason=credit))
            post.credit = credit
        transition(session, post, Status.APPROVED, actor=actor, action="approve-forced" if force else "approve",
                   reason=reason)

    return _decide(db, ids, expected, check, apply)


def _valid_credit(text: str) -> str:
    """A reviewer's credit, checked: "@user@host" (a fediverse handle) or a person's name."""
    from publisher.credit import reviewer_credit

    try:
        return reviewer_credit(text).text
    except ValueError as exc:
        raise UsageError(f"--credit: {exc}") from None


def reject(db: Database, ids: Sequence[int], *, reason: str = "", actor: str | None = None,
           expected: Status | None = None) -> list[Post]:
    """Reject items; they stay in the archive so re-posts of the same photo stay out of the queue."""
    actor = actor or reviewer()

    def check(post: Post) -> None:
        if post.status not in REJECTABLE:
            raise UsageError(f"item #{post.id} is already {post.status}; it cannot be rejected")

    def apply(session: Session, post: Post) -> None:
        transition(session, post, Status.REJECTED, actor=actor, action="reject", reason=reason or "rejected by reviewer")

    return _decide(db, ids, expected, check, apply)


def history(session: Session, post_id: int) -> list[Decision]:
    return list(session.exec(select(Decision).where(Decision.post_id == post_id).order_by(Decision.at, Decision.id)))

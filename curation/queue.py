"""The review queue's state changes: every one recorded with who, when and why."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlmodel import Session, col, select

from core.db import Database
from core.decisions import claimed, licence_problem, lock_items, reviewer, transition
from core.credit import BARE_HANDLES, parse_credit
from core.errors import UsageError
from core.models import Decision, Post, Status
from core.settings import Settings

# Which statuses a person may move an item from. Published items are final: their repost exists.
APPROVABLE = {Status.PENDING, Status.REJECTED, Status.DUPLICATE, Status.APPROVED}
REJECTABLE = {Status.NEW, Status.PENDING, Status.APPROVED, Status.DUPLICATE, Status.REJECTED}


def _items(session: Session, ids: Sequence[int]) -> list[Post]:
    posts = []
    for item_id in ids:
        post = session.get(Post, item_id)
        if post is None:
            raise UsageError(f"no item #{item_id}; list them with 'wlb queue --status all'")
        posts.append(post)
    return posts


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
    credits: dict[int, str] = {}  # checked per item: "@user" names an account on Instagram only
    actor = actor or reviewer()

    def check(post: Post) -> None:
        if credit is not None:
            credits[post.id] = _valid_credit(credit, post.platform)
        if post.status not in APPROVABLE:
            raise UsageError(f"item #{post.id} is {post.status}; only pending, rejected or duplicate items can be approved")
        problem = licence_problem(post, settings, targets) if settings else None
        if problem and not force:
            raise UsageError(f"item #{post.id} needs permission: {problem}; ask the photographer, then approve "
                             f"with --force --reason 'how they agreed'")
        if post.needs_credit and not (credit or post.credit):
            handle = "'@username'" if post.platform in BARE_HANDLES else "'@handle@host'"
            raise UsageError(f"item #{post.id} needs credit: no author could be determined; open its link and "
                             f"approve it with --credit {handle} or --credit 'Their Name'")

    def apply(session: Session, post: Post) -> None:
        post.targets = list(targets)  # empty: every publishing channel at publish time
        if caption is not None:
            post.caption = caption
        if credit is not None:
            session.add(Decision(post_id=post.id, action="credit", from_status=post.status, to_status=post.status,
                                 actor=actor, reason=credits[post.id]))
            post.credit = credits[post.id]
        transition(session, post, Status.APPROVED, actor=actor, action="approve-forced" if force else "approve",
                   reason=reason)

    return _decide(db, ids, expected, check, apply)


def _valid_credit(text: str, platform: str | None = None) -> str:
    """A reviewer's credit, checked: "@user@host" (a fediverse handle), "@user" on Instagram, or a person's name."""
    try:
        return parse_credit(text, platform=platform)[0]
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



"""The review queue's state changes, for every front end (CLI, review loop, web view): each one a
compare-and-set against the state the reviewer saw, recorded with who, when and why."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, col, select

from core.consent import cancel_request, why_ask
from core.credit import BARE_HANDLES, parse_credit
from core.db import Database
from core.decisions import claimed, licence_problem, lock_items, reviewer, transition
from core.errors import UsageError
from core.models import Decision, Post, Status, utcnow
from core.settings import Settings
from core.slots import pin_problem, shown
from curation import asking
from curation.leases import held_by_other

# Which statuses a person may move an item from. Published items are final: their repost exists.
# Awaiting consent: re-approving keeps the request; consent expired: only with an answer on record (--force).
APPROVABLE = {Status.PENDING, Status.REJECTED, Status.DUPLICATE, Status.APPROVED, Status.AWAITING, Status.NO_ANSWER}
REJECTABLE = {Status.NEW, Status.PENDING, Status.APPROVED, Status.DUPLICATE, Status.REJECTED, Status.AWAITING,
              Status.NO_ANSWER}
EDITABLE = REJECTABLE
UNDOABLE = ("approve", "approve-forced", "reject", "duplicate")
NOT_DECISIONS = ("credit", "caption", "targets", "override", "pin")  # recorded changes that leave the status alone
MAX_CAPTION = 5000
Expected = Status | Mapping[int, Status] | None
Version = int | Mapping[int, int] | None  # the item's last decision id when shown (views' "version"); 0: none


class Refused(UsageError):
    """A decision the item's state does not allow. `why` lets a front end say what to press instead:
    changed (someone decided since), leased (someone is looking at it), publishing, status, licence, credit,
    missing, undo, consent (the photographer said no, or was asked and did not answer)."""

    def __init__(self, message: str, *, item_id: int, why: str, status: str | None = None):
        super().__init__(message)
        self.item_id, self.why, self.status = item_id, why, status


def _items(session: Session, ids: Sequence[int]) -> list[Post]:
    posts = []
    for item_id in ids:
        post = session.get(Post, item_id)
        if post is None:
            raise Refused(f"no item #{item_id}; list them with 'wlb queue --status all'", item_id=item_id, why="missing")
        posts.append(post)
    return posts


def last_decision(session: Session, post_id: int) -> Decision | None:
    return session.exec(select(Decision).where(Decision.post_id == post_id).order_by(col(Decision.id).desc())).first()


def _conflict(session: Session, post: Post, seen: Status, lease_owner: str | None,
              version: int | None = None) -> Refused | None:
    """The compare half of compare-and-set: someone decided or edited since this decider looked, or is looking now."""
    last = last_decision(session, post.id) if version is not None else None
    if post.status == seen and version is not None and (last.id if last else 0) != version:
        return Refused(f"item #{post.id} was changed by {last.actor} ({last.action} at {last.at:%Y-%m-%d %H:%M:%S} "
                       f"UTC) since you looked; nothing changed: check it with 'wlb show {post.id}', then decide "
                       f"again or add --override", item_id=post.id, why="changed", status=post.status)
    if post.status != seen:
        last = last or last_decision(session, post.id)
        who = f"{last.actor} ({last.action} at {last.at:%Y-%m-%d %H:%M:%S} UTC)" if last else "someone"
        return Refused(f"item #{post.id} was changed from {seen} to {post.status} by {who} since you looked; nothing "
                       f"changed: check it with 'wlb show {post.id}', then decide again or add --override",
                       item_id=post.id, why="changed", status=post.status)
    holder = held_by_other(post, lease_owner)
    if holder is not None:
        return Refused(f"item #{post.id}: {holder}; nothing changed: wait for them, or add --override",
                       item_id=post.id, why="leased", status=post.status)
    return None


def _override_note(refusal: Refused) -> str:
    return "decided over: " + str(refusal).split("; nothing changed")[0]


def _decide(db: Database, ids: Sequence[int], expected: Expected, check: Callable[[Post], None],
            apply: Callable[[Session, Post], None], *, actor: str, override: bool = False,
            lease_owner: str | None = None, version: Version = None, also_lock: Sequence[int] = ()) -> list[Post]:
    """Read what the decider sees, lock, compare, change: a decision never silently overwrites another.

    `expected`: the status the decider saw (one for all, or per id); default: what is stored now.
    `override`: decide anyway over a later decision or another reviewer's lease; recorded in the history.
    `also_lock`: items `apply` reads, locked with the decided ones (in id order: no deadlocks), not decided.
    """
    with db.session() as session:
        current = {p.id: Status(p.status) for p in _items(session, ids)}
    seen = {i: (expected.get(i, s) if isinstance(expected, Mapping) else expected or s) for i, s in current.items()}
    with db.session() as session:
        decided = set(ids)
        posts = [p for p in lock_items(session, list(dict.fromkeys([*ids, *also_lock]))) if p.id in decided]
        missing = set(ids) - {p.id for p in posts}
        if missing:
            raise Refused(f"item #{min(missing)} was deleted meanwhile; list them with 'wlb queue --status all'",
                          item_id=min(missing), why="missing")
        overridden: dict[int, Refused] = {}
        for post in posts:
            shown = version.get(post.id) if isinstance(version, Mapping) else version
            conflict = _conflict(session, post, seen[post.id], lease_owner, shown)
            if conflict is not None and not override:
                raise conflict
            if conflict is not None:
                overridden[post.id] = conflict
            pub = claimed(session, post.id)
            if pub is not None:  # no override: the remote call may have happened; the next run settles it
                raise Refused(f"item #{post.id} is already being published to {pub.channel}; nothing changed "
                              f"(if no run is going on, 'wlb publish' finishes it)", item_id=post.id, why="publishing")
            check(post)
        for post in posts:
            if post.id in overridden:
                session.add(Decision(post_id=post.id, action="override", from_status=post.status,
                                     to_status=post.status, actor=actor, reason=_override_note(overridden[post.id])))
            apply(session, post)
            post.lease_owner = post.lease_until = None  # decided: the item leaves every reviewer's screen
            session.add(post)
        session.commit()
        return posts


def _check_targets(targets: Sequence[str], publish_channels: Sequence[str]) -> None:
    unknown = [t for t in targets if t not in publish_channels]
    if unknown:
        have = ", ".join(publish_channels) or "none; set publish = true on a channel"
        raise UsageError(f"--to {unknown[0]}: not a publishing channel (publishing channels: {have})")


def approve(db: Database, ids: Sequence[int], *, targets: Sequence[str], publish_channels: Sequence[str],
            caption: str | None = None, actor: str | None = None, reason: str = "",
            settings: Settings | None = None, force: bool = False, credit: str | None = None,
            expected: Expected = None, override: bool = False, lease_owner: str | None = None,
            version: Version = None, publish_at: datetime | None = None, publish_next: bool = False,
            now: datetime | None = None) -> list[Post]:
    """Approve items for publishing to the given channels (default: every publishing channel). Where a target's
    consent policy (or the photographer's account) asks first, the item awaits consent instead, and its request is
    written to the ledger in the same transaction (curation/asking.py); --force records permission given otherwise.

    `publish_at`: pin to that slot (a future slot of every target channel that has slots; core/slots.py);
    `publish_next`: the next free slot. Without either, an approval clears an earlier pin."""
    _check_targets(targets, publish_channels)
    if publish_at is not None and publish_next:
        raise UsageError("choose one of --at and --next")
    if publish_at is not None:
        if settings is None:
            raise UsageError("--at needs the settings (its time zone and slots)")
        problem = pin_problem(settings, list(targets) or list(publish_channels), publish_at, now or utcnow())
        if problem:
            raise UsageError(problem)
    if force and not reason.strip():
        raise UsageError("--force needs --reason: say how the photographer gave permission (it is recorded)")
    credits: dict[int, str] = {}  # checked per item: "@user" names an account on Instagram only
    asks: dict[int, str] = {}  # why each item asks the photographer first
    spoken = asking.languages(db, ids, settings, targets) if settings and not force else {}
    actor = actor or reviewer()

    def check(post: Post) -> None:
        if credit is not None:
            credits[post.id] = _valid_credit(credit, post.platform)
        if post.status not in APPROVABLE:
            raise Refused(f"item #{post.id} is {post.status}; only pending, rejected or duplicate items can be approved",
                          item_id=post.id, why="status", status=post.status)
        if post.status == Status.NO_ANSWER and not force:
            raise Refused(f"item #{post.id}: the photographer did not answer our request; record their answer with "
                          f"'wlb consent {post.id} --granted --proof ...', or approve with --force --reason 'how they "
                          f"agreed'", item_id=post.id, why="consent", status=post.status)
        why = why_ask(post, settings, targets) if settings and not force else None
        if why:
            asks[post.id] = why
        problem = licence_problem(post, settings, targets) if settings else None
        if problem and not force and not why:  # asking is how that permission is sought
            raise Refused(f"item #{post.id} needs permission: {problem}; ask the photographer, then approve "
                          f"with --force --reason 'how they agreed'", item_id=post.id, why="licence")
        if post.needs_credit and not (credit or post.credit):
            handle = "'@username'" if post.platform in BARE_HANDLES else "'@handle@host'"
            raise Refused(f"item #{post.id} needs credit: no author could be determined; open its link and "
                          f"approve it with --credit {handle} or --credit 'Their Name'", item_id=post.id, why="credit")

    def apply(session: Session, post: Post) -> None:
        post.targets = list(targets)  # empty: every publishing channel at publish time
        if caption is not None:
            post.caption = caption
        if credit is not None:
            session.add(Decision(post_id=post.id, action="credit", from_status=post.status, to_status=post.status,
                                 actor=actor, reason=credits[post.id]))
            post.credit = credits[post.id]
        post.publish_at, post.publish_next = publish_at, publish_next
        if publish_at is not None or publish_next:
            when = shown(publish_at, ZoneInfo(settings.timezone)) if publish_at else "the next free slot"
            session.add(Decision(post_id=post.id, action="pin", from_status=post.status, to_status=post.status,
                                 actor=actor, reason=when))
        if post.id in asks and not asking.granted(session, post.id):
            _ask(session, post, settings, actor=actor, reason=reason or asks[post.id], now=now,
                 language=spoken.get(post.id))
            return
        cancel_request(session, post.id)  # approved without asking (--force, or no target asks any more)
        transition(session, post, Status.APPROVED, actor=actor, action="approve-forced" if force else "approve",
                   reason=reason)

    return _decide(db, ids, expected, check, apply, actor=actor, override=override, lease_owner=lease_owner,
                   version=version)


def _ask(session: Session, post: Post, settings: Settings, *, actor: str, reason: str,
         now: datetime | None = None, language: str | None = None) -> None:
    """The item awaits the photographer's answer; its request is written (or kept) in the same transaction."""
    refused = asking.refusal(session, post, settings, now)
    if refused:
        raise Refused(f"item #{post.id} cannot be approved: {refused}", item_id=post.id, why="consent",
                      status=post.status)
    asking.ask(session, post, settings, actor=actor, now=now, language=language)
    transition(session, post, Status.AWAITING, actor=actor, action="approve", reason=reason)


def _valid_credit(text: str, platform: str | None = None) -> str:
    """A reviewer's credit, checked: "@user@host" (a fediverse handle), "@user" on Instagram, or a person's name."""
    try:
        return parse_credit(text, platform=platform)[0]
    except ValueError as exc:
        raise UsageError(f"--credit: {exc}") from None


def reject(db: Database, ids: Sequence[int], *, reason: str = "", actor: str | None = None,
           expected: Expected = None, override: bool = False, lease_owner: str | None = None,
           version: Version = None) -> list[Post]:
    """Reject items; they stay in the archive so re-posts of the same photo stay out of the queue."""
    actor = actor or reviewer()

    def check(post: Post) -> None:
        if post.status not in REJECTABLE:
            raise Refused(f"item #{post.id} is already {post.status}; it cannot be rejected",
                          item_id=post.id, why="status", status=post.status)

    def apply(session: Session, post: Post) -> None:
        cancel_request(session, post.id)
        transition(session, post, Status.REJECTED, actor=actor, action="reject", reason=reason or "rejected by reviewer")

    return _decide(db, ids, expected, check, apply, actor=actor, override=override, lease_owner=lease_owner,
                   version=version)


def mark_duplicate(db: Database, item_id: int, of: int, *, actor: str | None = None, reason: str = "",
                   expected: Expected = None, override: bool = False, lease_owner: str | None = None,
         version: Version = None) -> Post:
    """A reviewer's "same photo as #of": the item joins that one's duplicates and leaves the queue."""
    actor = actor or reviewer()
    with db.session() as session:
        other = session.get(Post, of)
        if other is None or of == item_id:
            raise Refused(f"no item #{of} to be a duplicate of" if other is None else "an item cannot duplicate itself",
                          item_id=item_id, why="missing")
        root = other.duplicate_of or of  # point at the original, not at another copy of it
    if root == item_id:
        raise Refused(f"#{of} is already a duplicate of #{item_id}; reject or approve #{item_id} instead",
                      item_id=item_id, why="status")

    def check(post: Post) -> None:
        if post.status not in REJECTABLE:
            raise Refused(f"item #{post.id} is {post.status}; it cannot be marked as a duplicate",
                          item_id=post.id, why="status", status=post.status)

    def apply(session: Session, post: Post) -> None:
        # Read again, locked: #of may have been marked a duplicate of this item since (two reviewers each marking
        # one of a pair), and following the earlier reading would leave both items duplicates of nothing.
        locked = session.get(Post, of)
        now_root = (locked.duplicate_of if locked else None) or of
        if now_root == post.id:
            raise Refused(f"#{of} was marked a duplicate of #{post.id} meanwhile; nothing changed",
                          item_id=post.id, why="status", status=post.status)
        session.exec(update(Post).where(Post.duplicate_of == post.id).values(duplicate_of=now_root))  # no chains
        post.duplicate_of = now_root
        cancel_request(session, post.id)
        transition(session, post, Status.DUPLICATE, actor=actor, action="duplicate",
                   reason=reason or f"same photo as #{now_root}")

    return _decide(db, [item_id], expected, check, apply, actor=actor, override=override, lease_owner=lease_owner,
                   version=version, also_lock=[of])[0]


def edit(db: Database, item_id: int, *, caption: str | None = None, targets: Sequence[str] | None = None,
         credit: str | None = None, publish_channels: Sequence[str] = (), actor: str | None = None,
         expected: Expected = None, override: bool = False, lease_owner: str | None = None,
         version: Version = None) -> Post:
    """Set an item's caption, targets or credit without deciding it (each change recorded)."""
    actor = actor or reviewer()
    if targets is not None:
        _check_targets(targets, publish_channels)
    if caption is not None and len(caption) > MAX_CAPTION:
        raise UsageError(f"the caption is {len(caption)} characters; at most {MAX_CAPTION}")
    credits: dict[int, str] = {}

    def check(post: Post) -> None:
        if post.status not in EDITABLE:
            raise Refused(f"item #{post.id} is {post.status}; it can no longer be changed",
                          item_id=post.id, why="status", status=post.status)
        if credit is not None:
            credits[post.id] = _valid_credit(credit, post.platform)

    def apply(session: Session, post: Post) -> None:
        changes = []
        if caption is not None:
            post.caption = caption or None  # empty: back to the original text
            changes.append(("caption", caption))
        if targets is not None:
            post.targets = list(targets)
            changes.append(("targets", ", ".join(targets) or "every publishing channel"))
        if credit is not None:
            post.credit = credits[post.id]
            changes.append(("credit", credits[post.id]))
        for action, value in changes:
            session.add(Decision(post_id=post.id, action=action, from_status=post.status, to_status=post.status,
                                 actor=actor, reason=value[:500]))
        session.add(post)

    posts = _decide(db, [item_id], expected, check, apply, actor=actor, override=override, lease_owner=lease_owner,
                   version=version)
    return posts[0]


def undo(db: Database, item_id: int, *, actor: str | None = None, lease_owner: str | None = None,
         settings: Settings | None = None) -> tuple[Post, Decision]:
    """Take back `actor`'s latest decision on an item, if nobody decided after it; the item and the undone decision.
    Back to "awaiting consent" reopens its request (`settings` needed); away from it cancels the request."""
    actor = actor or reviewer()
    with db.session() as session:
        last = session.exec(select(Decision).where(Decision.post_id == item_id, col(Decision.action).not_in(NOT_DECISIONS))
                            .order_by(col(Decision.id).desc())).first()
    if last is None or last.action not in UNDOABLE or last.actor != actor:
        what = f"the last decision on #{item_id} is {last.actor}'s {last.action}" if last else f"#{item_id} has no decision"
        raise Refused(f"nothing to undo: {what}", item_id=item_id, why="undo")
    back = Status(last.from_status)

    def check(post: Post) -> None:
        if back == Status.AWAITING and settings is None:
            raise UsageError("undoing back to awaiting consent needs the settings (to reopen the request)")

    def apply(session: Session, post: Post) -> None:
        if last.action == "duplicate" and back != Status.DUPLICATE:
            post.duplicate_of = None
        # The reason the undone decision added to the item's flags goes with it; one an older decision gave stays.
        older = select(Decision.id).where(Decision.post_id == post.id, Decision.id < last.id, Decision.reason == last.reason)
        if last.reason in post.reasons and session.exec(older).first() is None:
            post.reasons = [r for r in post.reasons if r != last.reason]
        if back == Status.AWAITING:
            asking.ask(session, post, settings, actor=actor)
        else:
            cancel_request(session, post.id)
        transition(session, post, back, actor=actor, action="undo", reason=f"undid {last.action}")

    posts = _decide(db, [item_id], Status(last.to_status), check, apply, actor=actor, lease_owner=lease_owner)
    return posts[0], last


@dataclass
class BulkResult:
    """A decision over many items: which were decided, and which were refused for what."""

    done: list[int] = field(default_factory=list)
    refused: dict[str, list[int]] = field(default_factory=dict)  # the refusal's `why` → item ids


def bulk(db: Database, items: Mapping[int, Status], decide: Callable[..., object],
         on_done: Callable[[int], None] | None = None, **kwargs: object) -> BulkResult:
    """Decide each item on its own against the status it had when listed: one refusal costs one item."""
    result = BulkResult()
    for item_id, seen in items.items():
        try:
            decide(db, [item_id], expected=seen, **kwargs)
            result.done.append(item_id)
        except Refused as exc:
            result.refused.setdefault(exc.why, []).append(item_id)
        if on_done:
            on_done(1)
    return result

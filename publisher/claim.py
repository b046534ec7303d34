"""Claiming one repost: the item's decision is re-read under its row lock in the transaction that claims it.

A decision (approve, reject) locks the same row, so it lands either before the claim (and the claim sees
it: not posted) or after (and is refused: "already being published"). The claim survives a crash as a
publication with attempts > 0 and state pending; the next run finishes it, never posting twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from core.db import Database
from core.models import Decision, Post, PubState, Publication, Status, utcnow
from core.settings import Settings
from core.slots import shown
from core.decisions import SYSTEM_ACTOR, licence_problem, lock_items, transition
from core.denylist import denied_photo
from core.optout import ask_first_hold, opted_out_hold


@dataclass(frozen=True)
class Claim:
    """A claimed publication row; `retry`: an earlier attempt may have posted already."""

    publication: Publication
    retry: bool


class Refused(Exception):
    """The item may not be reposted to this channel now; the message says why (a warning, not an error)."""


class Changed(Exception):
    """The approval changed since the request was built: build it again."""


def last_decision(session: Session, post_id: int) -> int:
    """The id of the item's newest decision: any approval, caption or credit change moves it."""
    return session.exec(select(Decision.id).where(Decision.post_id == post_id).order_by(col(Decision.id).desc())).first() or 0


def forced(session: Session, post_id: int) -> bool:
    """Whether a person approved this item past the licence gate (with a recorded reason)."""
    last = session.exec(select(Decision).where(Decision.post_id == post_id, col(Decision.action).like("approve%"))
                        .order_by(col(Decision.id).desc())).first()
    return last is not None and last.action == "approve-forced"


def publishable(session: Session, settings: Settings, post: Post, channel: str) -> str | None:
    """Why this item may not go to `channel` as it stands, or None: status, targets, licence, credit, opt-outs."""
    if post.status != Status.APPROVED:
        return f"it is {post.status} now"
    wanted = post.targets or settings.publishing_channels()
    if channel not in wanted:
        return "it is no longer approved for this channel"
    problem = licence_problem(post, settings, [channel]) if post.license else None
    if problem and not forced(session, post.id):
        return f"needs permission ({problem})"
    if post.needs_credit and not post.credit:
        return f"needs credit; approve it with --credit '@handle@host' or --credit 'Name' ('wlb show {post.id}')"
    if denied_photo(session, post.id, phash_limit=settings.dedup.phash_distance,
                    dhash_limit=settings.dedup.dhash_distance):  # curation only checks what arrives after a forget
        return "it is a photo a photographer asked us to forget ('wlb forget'), posted by another account"
    # The photographer's wish, if it changed since approval: opted out, or their account now asks to be asked.
    return opted_out_hold(session, post) or (None if forced(session, post.id) else ask_first_hold(session, post))


def claim(db: Database, settings: Settings, post_id: int, channel: str, *, key: str, text: str, decided: int,
          now: datetime | None = None) -> Claim:
    """Lock the item, check its decision is still what the request was built from, and count an attempt."""
    with db.session() as session:
        (post,) = lock_items(session, [post_id])
        why = publishable(session, settings, post, channel)
        if why:
            raise Refused(why)
        if post.publish_at is not None and post.publish_at > (now or utcnow()):  # pinned later since the plan was made
            raise Refused(f"it is pinned to {shown(post.publish_at, ZoneInfo(settings.timezone))} now")
        if last_decision(session, post_id) != decided:
            raise Changed
        pub = session.exec(select(Publication).where(Publication.post_id == post_id,
                                                     Publication.channel == channel)).first()
        if pub is None:
            pub = Publication(post_id=post_id, channel=channel, idempotency_key=key, text=text)
        elif pub.state != PubState.PENDING:
            raise Refused(f"already {pub.state} there")
        retry = pub.attempts > 0
        if not retry:  # the first attempt, or the next after one that sent nothing: caps and slots count it now
            pub.text, pub.created_at = text, utcnow()
        pub.attempts += 1
        session.add(pub)
        session.commit()
        return Claim(pub, retry)


def record(db: Database, settings: Settings, pub: Publication, *, remote_id: str | None = None,
           url: str | None = None, error: str | None = None, give_up: bool = False,
           not_created: bool = False) -> None:
    """Write an attempt's outcome; the item is published once every channel it was approved for has it."""
    with db.session() as session:
        (post,) = lock_items(session, [pub.post_id])
        row = session.get(Publication, pub.id)
        if error is not None:
            row.error, row.state = error, PubState.FAILED if give_up else PubState.PENDING
            if not_created and not give_up:
                # Nothing went out: no attempt is in doubt, so the item is free for a reviewer's later decision.
                row.attempts = 0
        else:
            row.state, row.remote_id, row.remote_url, row.published_at, row.error = (
                PubState.PUBLISHED, remote_id, url, utcnow(), None)
        session.add(row)
        session.flush()
        published = set(session.exec(select(Publication.channel).where(
            Publication.post_id == post.id, Publication.state == PubState.PUBLISHED)))
        wanted = set(post.targets or settings.publishing_channels())
        if error is None and post.status == Status.APPROVED and wanted <= published:
            transition(session, post, Status.PUBLISHED, actor=SYSTEM_ACTOR, action="publish", reason=url or "")
        session.commit()


def checkpoint(db: Database, pub: Publication, progress: str) -> None:
    """Save a platform's intermediate id (an Instagram container) on the still pending row, committed."""
    with db.session() as session:
        row = session.get(Publication, pub.id)
        if row is not None and row.state == PubState.PENDING:
            row.remote_id = progress
            session.add(row)
            session.commit()


def system_decision(db: Database, post_id: int, to: Status, *, action: str, reason: str) -> bool:
    """wlb's own decision (deleted at source, origin disagrees), only if the item is still approved."""
    with db.session() as session:
        (post,) = lock_items(session, [post_id])
        if post.status != Status.APPROVED:
            return False
        for pub in session.exec(select(Publication).where(Publication.post_id == post_id,
                                                          Publication.state == PubState.PENDING)):
            if pub.attempts:  # an interrupted attempt: the run looked for it on the target first, not found
                pub.state, pub.error = PubState.FAILED, reason
                session.add(pub)
        transition(session, post, to, actor=SYSTEM_ACTOR, action=action, reason=reason)
        if to == Status.PENDING and reason not in post.reasons:
            post.reasons = [*post.reasons, reason]
        session.commit()
        return True

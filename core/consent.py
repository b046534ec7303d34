"""Consent: when an approval must ask the photographer first, and the ledger's state changes that a reply and a
person's record both make (each one a compare-and-set on the item and its request, in one transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from core.decisions import lock_items, transition
from core.licenses import needs_permission
from core.models import ConsentRequest, ConsentState, Post, Status, utcnow
from core.settings import Settings

SIGNALS = ("nobot", "noindex", "not_discoverable", "no_unauthenticated", "no_repost", "not_indexable")  # [consent]
OPEN = (ConsentState.PLANNED, ConsentState.SENDING, ConsentState.SENT, ConsentState.MANUAL, ConsentState.UNCLEAR)
ANSWERABLE = (ConsentState.SENT, ConsentState.MANUAL, ConsentState.UNCLEAR, ConsentState.EXPIRED)
MAX_WORDS = 2000  # a photographer's answer, as recorded (and as a rejection reason)


def no_bots(ask_first: Sequence[str]) -> bool:
    """Their account says #nobot (collector/signals.py writes "#nobot in their bio"): no automated reply, a person asks."""
    return any(reason.lower().startswith(("#nobot ", "#nobots ")) for reason in ask_first)


def asking_channels(post: Post, settings: Settings, targets: Sequence[str]) -> list[str]:
    """The target channels whose consent policy asks before this item is reposted there."""
    channels = list(targets) or settings.publishing_channels()
    asking = []
    for name in channels:
        channel = settings.channels.get(name)
        if channel is None or channel.consent == "none":
            continue
        allowed = needs_permission(post.license, settings.licenses.allowed, non_commercial=channel.non_commercial) is None
        if channel.consent == "ask-always" or not (allowed and post.license):
            asking.append(name)
    return asking


def why_ask(post: Post, settings: Settings, targets: Sequence[str]) -> str | None:
    """Why approving this item for these targets asks the photographer first, or None to approve outright."""
    if post.ask_first:
        return "the photographer's account asks to be asked first (" + "; ".join(post.ask_first) + ")"
    channels = asking_channels(post, settings, targets)
    if channels:
        return f"{', '.join(channels)} asks the photographer before reposting"
    return None


def refused_before(session: Session, author_id: int | None, settings: Settings,
                   now: datetime | None = None) -> ConsentRequest | None:
    """This photographer's latest "no" within [consent] refused_months: their photos are not asked again."""
    if author_id is None or settings.consent.refused_months == 0:
        return None
    since = (now or utcnow()) - timedelta(days=30 * settings.consent.refused_months)
    return session.exec(select(ConsentRequest).where(ConsentRequest.author_id == author_id,
                                                     ConsentRequest.state == ConsentState.REFUSED,
                                                     col(ConsentRequest.answered_at) >= since)
                        .order_by(col(ConsentRequest.answered_at).desc())).first()


def _locked(session: Session, request_id: int) -> tuple[ConsentRequest | None, list[Post]]:
    """The request, read again once its item's row is locked (the compare half of a compare-and-set)."""
    request = session.get(ConsentRequest, request_id)
    if request is None:
        return None, []
    posts = lock_items(session, [request.post_id])
    return session.exec(select(ConsentRequest).where(ConsentRequest.id == request_id)
                        .execution_options(populate_existing=True)).one(), posts


def settle(session: Session, request_id: int, granted: bool, *, words: str, by: str, url: str | None = None,
           remote_id: str | None = None, proof: str | None = None, at: datetime | None = None,
           expected: Sequence[ConsentState] = ANSWERABLE) -> Post | None:
    """Record the photographer's answer and move the item: granted → approved (its targets and pin kept),
    refused → rejected with their words as the reason. Commits. None if the item or the request moved meanwhile
    (rejected by a reviewer, answered already): nothing changes then.

    `by`: "reply" for an answer read from the platform, else the reviewer who recorded it."""
    request, posts = _locked(session, request_id)
    if request is None:
        return None
    if not posts or request.state not in expected or posts[0].status not in (Status.AWAITING, Status.NO_ANSWER):
        session.rollback()
        return None
    post, words = posts[0], words.strip()[:MAX_WORDS]
    request.state = ConsentState.GRANTED if granted else ConsentState.REFUSED
    request.answer_text, request.answer_url, request.answer_remote_id = words, url, remote_id
    request.answered_at, request.decided_by, request.proof = at or utcnow(), by, proof
    actor = "photographer" if by == "reply" else by
    if granted:
        transition(session, post, Status.APPROVED, actor=actor, action="consent", reason=words or "granted")
    else:
        transition(session, post, Status.REJECTED, actor=actor, action="consent-refused",
                   reason=f"the photographer said no: {words}" if words else "the photographer said no")
        post.publish_at, post.publish_next = None, False
    session.add(request)
    session.commit()
    return post


def mark_unclear(session: Session, request_id: int, *, words: str, url: str | None, remote_id: str | None,
                 at: datetime | None = None) -> bool:
    """The photographer answered neither yes nor no: keep the words for a person to read. Commits. A compare-and-set
    under the item's lock, like settle: a reviewer who rejected the item meanwhile keeps its request cancelled."""
    request, posts = _locked(session, request_id)
    if request is None:
        return False
    if request.state not in (ConsentState.SENT, ConsentState.UNCLEAR) or not posts \
            or posts[0].status != Status.AWAITING \
            or (request.state == ConsentState.UNCLEAR and request.answer_remote_id == remote_id):
        session.rollback()
        return False
    request.state, request.answer_text = ConsentState.UNCLEAR, words.strip()[:MAX_WORDS]
    request.answer_url, request.answer_remote_id, request.answered_at = url, remote_id, at or utcnow()
    session.add(request)
    session.commit()
    return True


def expire_due(session: Session, now: datetime | None = None) -> list[int]:
    """Requests sent and unanswered past their expiry: the items move to "consent expired". Commits; their ids."""
    now = now or utcnow()
    due = session.exec(select(ConsentRequest.id).where(ConsentRequest.state == ConsentState.SENT,
                                                       col(ConsentRequest.expires_at) <= now)).all()
    expired = []
    for request_id in due:
        request = session.get(ConsentRequest, request_id)
        posts = lock_items(session, [request.post_id])
        session.refresh(request)
        if request.state != ConsentState.SENT or not posts or posts[0].status != Status.AWAITING:
            session.rollback()
            continue
        request.state = ConsentState.EXPIRED
        transition(session, posts[0], Status.NO_ANSWER, actor="wlb", action="consent-expired",
                   reason=f"no answer since {request.sent_at:%Y-%m-%d}")
        session.add(request)
        session.commit()
        expired.append(posts[0].id)
    return expired


def cancel_request(session: Session, post_id: int) -> ConsentRequest | None:
    """Close the item's open request (rejected, undone, taken down, approved another way); the row stays. No commit."""
    request = session.exec(select(ConsentRequest).where(ConsentRequest.post_id == post_id)).first()
    if request is None or request.state not in OPEN:
        return None
    request.state = ConsentState.CANCELLED
    session.add(request)
    return request


def forget_ledger(session: Session, post_ids: Sequence[int]) -> int:
    """`wlb forget`: these items' requests keep only the audit record (ids, channel, platform, state, times, who
    decided); the words, links, the photographer and the proof go, and an open request is cancelled. No commit."""
    rows = session.exec(select(ConsentRequest).where(col(ConsentRequest.post_id).in_(list(post_ids)))).all() \
        if post_ids else []
    for request in rows:
        if request.state in OPEN:
            request.state = ConsentState.CANCELLED
        request.author_id, request.target_url, request.request_text, request.request_url = None, "", "", None
        request.answer_text = request.answer_url = request.answer_remote_id = request.proof = request.error = None
        session.add(request)
    return len(rows)

"""The consent stage: send the planned permission requests, read the answers to those sent, expire the silent ones.

Sending is idempotent like publishing: the ledger row becomes SENDING, committed, before the remote call; a rerun
that finds a SENDING row first looks for our reply on the platform (Asker.find_sent), then sends again with the
same idempotency key, so neither a crash nor a lost answer makes a second reply. Only the photographer's own
reply counts (Reply.by_author); yes → core.consent.settle(granted), no → settle(refused, their words), anything
else → mark_unclear for a person. One bad request or reply costs that request, never the run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from consent.answers import parse_answer
from consent.base import Asker, AskRequest, Reply, Sent
from core.consent import expire_due, mark_unclear, refused_before, settle
from core.db import Database
from core.decisions import lock_items
from core.errors import NotCreated, NotFound, PlatformError, WlbError
from core.models import Author, ConsentRequest, ConsentState, Post, Status, utcnow
from core.report import ConsentReport
from core.safe_text import one_line
from core.settings import Settings

MAX_ATTEMPTS = 3  # sends whose outcome stayed unknown (timeouts, 5xx) before a request is marked failed
# Errors that say for certain nothing was posted and retrying will not help: the post is gone, replies are closed,
# the server refused the request (4xx). Anything else (a timeout, a 5xx) may have posted: find it before retrying.
DEFINITE = (NotCreated, NotFound)


def ask_and_listen(db: Database, settings: Settings, askers: dict[str, Asker], report: ConsentReport, *,
                   now: datetime | None = None, on_step: Callable[[], None] | None = None) -> ConsentReport:
    """(a) read the answers; (b) send what is planned, within [consent] per_hour per asking channel; (c) expire.
    Answers first: a photographer's "no" read tonight stops tonight's request about her other photo."""
    now = now or utcnow()
    with db.session() as session:
        for channel, asker in askers.items():
            _listen(session, settings, channel, asker, report, on_step=on_step)
        for channel, asker in askers.items():
            _send(session, settings, channel, asker, report, now=now, on_step=on_step)
        report.expired += len(expire_due(session, now))
    return report


def open_request_channels(db: Database) -> list[str]:
    """The channels with requests to send or answers to read."""
    with db.session() as session:
        return sorted(session.exec(select(ConsentRequest.channel).distinct().where(col(ConsentRequest.state).in_(
            [ConsentState.PLANNED, ConsentState.SENDING, ConsentState.SENT, ConsentState.UNCLEAR]))).all())


# ---- (a) sending ---------------------------------------------------------------------------------------------------

def _send(session: Session, settings: Settings, channel: str, asker: Asker, report: ConsentReport, *,
          now: datetime, on_step: Callable[[], None] | None) -> None:
    rows = session.exec(select(ConsentRequest.id).where(
        ConsentRequest.channel == channel,
        col(ConsentRequest.state).in_([ConsentState.SENDING, ConsentState.PLANNED]))
        .order_by(col(ConsentRequest.state).desc(), ConsentRequest.created_at, ConsentRequest.id)).all()
    budget = settings.consent.per_hour - sent_within_hour(session, channel, now)
    for request_id in rows:  # SENDING first ("sending" > "planned"): an interrupted request is finished first
        if budget <= 0:
            report.throttled += 1
            continue
        try:
            if _send_one(session, settings, request_id, asker, report, now=now):
                budget -= 1
        except WlbError as exc:
            session.rollback()
            report.errors.append(f"request #{request_id} ({channel}): {one_line(exc, 300)}")
        if on_step:
            on_step()


def sent_within_hour(session: Session, channel: str, now: datetime) -> int:
    """Requests this channel sent in the hour before `now` (the throttle counts them, this run's included)."""
    return session.exec(select(func.count()).select_from(ConsentRequest).where(
        ConsentRequest.channel == channel, col(ConsentRequest.sent_at) > now - timedelta(hours=1))).one()


def _send_one(session: Session, settings: Settings, request_id: int, asker: Asker, report: ConsentReport, *,
              now: datetime) -> bool:
    """One request: claimed (SENDING, committed), sent or found, recorded. True if it used the hour's budget."""
    row = session.get(ConsentRequest, request_id)
    request = ask_request(session, settings, row)
    refused = refused_before(session, row.author_id, settings, now) if row.attempts == 0 else None
    if refused is not None:  # approved before she said no to another photo: she is not asked again
        _move(session, request_id, (ConsentState.PLANNED,), ConsentState.FAILED,
              error=f"not sent: the photographer said no on {refused.answered_at:%Y-%m-%d} (item #{refused.post_id}); "
                    f"their photos are not asked about for {settings.consent.refused_months} months")
        report.failed += 1
        report.errors.append(f"request #{request_id}: not sent: the photographer said no to item #{refused.post_id}")
        return False
    if not asker.can_reply(request.post_key, request.post_url):
        _move(session, request_id, (ConsentState.PLANNED,), ConsentState.MANUAL,
              error="this platform does not let us reply to that post: ask by hand")
        return False
    # An attempt on record may have posted (SENDING left by a crash, or reopened by a re-approval after a cancel or a
    # failure): past the platform's Idempotency-Key window only finding our reply keeps it from a second one.
    interrupted = row.state == ConsentState.SENDING or row.attempts > 0
    if not _claim(session, request_id):
        return False
    found = asker.find_sent(request) if interrupted else None
    if found is not None:
        report.found_sent += 1
        return _record_sent(session, request_id, found, settings, now)
    try:
        sent = asker.ask(request)
    except DEFINITE as exc:
        report.failed += 1
        _move(session, request_id, (ConsentState.SENDING,), ConsentState.FAILED, error=one_line(exc, 500))
        report.errors.append(f"request #{request_id}: not sent: {one_line(exc, 300)}")
        return False
    except PlatformError as exc:  # the answer was lost: a later run looks for our reply before sending again
        attempts = session.get(ConsentRequest, request_id).attempts
        final = attempts >= MAX_ATTEMPTS
        _move(session, request_id, (ConsentState.SENDING,),
              ConsentState.FAILED if final else ConsentState.SENDING, error=one_line(exc, 500))
        report.failed += final
        report.errors.append(f"request #{request_id}: {'gave up' if final else 'will retry'}: {one_line(exc, 300)}")
        return True
    report.sent += 1
    return _record_sent(session, request_id, sent, settings, now)


def ask_request(session: Session, settings: Settings, row: ConsentRequest) -> AskRequest:
    """The ledger row as an asker needs it: the post, whom to mention, the exact text, the channel's visibility."""
    post = session.get(Post, row.post_id)
    author = session.get(Author, row.author_id if row.author_id is not None else post.author_id)
    if post is None or author is None:
        raise WlbError("its item or author is no longer in the archive")
    channel = settings.channels.get(row.channel)
    return AskRequest(text=row.request_text, post_url=post.url, post_remote_id=post.remote_id, post_key=post.key,
                      author_handle=author.handle, author_uid=author.uid, idempotency_key=row.idempotency_key,
                      visibility=channel.consent_visibility if channel else "direct", language=row.language,
                      planned_at=row.created_at)


def _claim(session: Session, request_id: int) -> bool:
    """PLANNED/SENDING → SENDING with one more attempt, committed before the call; only while the item still waits."""
    row = session.get(ConsentRequest, request_id)
    posts = lock_items(session, [row.post_id])
    row = _fresh(session, request_id)
    if row.state not in (ConsentState.PLANNED, ConsentState.SENDING) or not posts \
            or posts[0].status != Status.AWAITING:
        session.rollback()
        return False
    row.state, row.attempts = ConsentState.SENDING, row.attempts + 1
    session.add(row)
    session.commit()
    return True


def _record_sent(session: Session, request_id: int, sent: Sent, settings: Settings, now: datetime) -> bool:
    """SENDING → SENT with our reply's id and link. A request a reviewer cancelled meanwhile stays cancelled, but
    learns that our reply exists (the ledger then says where it is, to delete it by hand if they wish)."""
    session.rollback()
    row = session.get(ConsentRequest, request_id)
    lock_items(session, [row.post_id])
    row = _fresh(session, request_id)
    if row.state == ConsentState.SENDING:
        row.state, row.error = ConsentState.SENT, None
        row.expires_at = now + timedelta(days=settings.consent.expire_days)
    row.request_remote_id, row.request_url, row.sent_at = sent.remote_id[:512], sent.url[:2048], now
    session.add(row)
    session.commit()
    return True


def _move(session: Session, request_id: int, expected: tuple[str, ...], state: str, *, error: str | None) -> bool:
    """Compare-and-set of the request's state alone (the item does not move: it stays awaiting, the error visible)."""
    session.rollback()
    row = session.get(ConsentRequest, request_id)
    lock_items(session, [row.post_id])
    row = _fresh(session, request_id)
    if row.state not in expected:
        session.rollback()
        return False
    row.state, row.error = state, error
    session.add(row)
    session.commit()
    return True


def _fresh(session: Session, request_id: int) -> ConsentRequest:
    return session.exec(select(ConsentRequest).where(ConsentRequest.id == request_id)
                        .execution_options(populate_existing=True)).one()


# ---- (b) listening -------------------------------------------------------------------------------------------------

def _listen(session: Session, settings: Settings, channel: str, asker: Asker, report: ConsentReport, *,
            on_step: Callable[[], None] | None) -> None:
    rows = session.exec(select(ConsentRequest.id).where(
        ConsentRequest.channel == channel,
        col(ConsentRequest.state).in_([ConsentState.SENT, ConsentState.UNCLEAR]),
        col(ConsentRequest.request_remote_id).is_not(None)).order_by(ConsentRequest.sent_at)).all()
    for request_id in rows:
        try:
            _listen_one(session, settings, request_id, asker, report)
        except WlbError as exc:
            session.rollback()
            report.errors.append(f"request #{request_id} ({channel}): answers not read: {one_line(exc, 300)}")
        if on_step:
            on_step()


def _listen_one(session: Session, settings: Settings, request_id: int, asker: Asker, report: ConsentReport) -> None:
    row = session.get(ConsentRequest, request_id)
    request = ask_request(session, settings, row)
    replies = asker.replies(Sent(row.request_remote_id, row.request_url or ""), request)
    theirs = [r for r in replies if r.by_author]
    report.not_author += len(replies) - len(theirs)
    if not theirs:
        return
    verdict, reply = decide(theirs, row.request_text)
    expected = (row.state,)
    session.rollback()  # settle and mark_unclear open their own transactions
    if verdict is None:
        report.unclear += mark_unclear(session, request_id, words=reply.text, url=reply.url,
                                       remote_id=reply.remote_id, at=reply.created_at)
        return
    moved = settle(session, request_id, verdict == "yes", words=reply.text, by="reply", url=reply.url,
                   remote_id=reply.remote_id, at=reply.created_at, expected=expected)
    if moved is not None:
        report.granted += verdict == "yes"
        report.refused += verdict == "no"


def decide(replies: list[Reply], ours: str) -> tuple[str | None, Reply]:
    """The photographer's answer over all their replies: one meaning only counts; both, or neither, is for a person.
    A yes or no she gave someone else in the thread (Reply.to_us false) decides nothing, and makes it a person's.

    Returns the answer and the reply whose words are recorded (the last that said it, or the last of all)."""
    said = [(parse_answer(r.text, ours=ours), r) for r in replies]
    meanings = Counter(answer if r.to_us else "aside" for answer, r in said if answer is not None)
    if len(meanings) == 1 and (answer := next(iter(meanings))) != "aside":
        return answer, [r for a, r in said if a == answer][-1]
    return None, replies[-1]

"""An approval that asks the photographer first: the ledger row it writes (which channel asks, in which words),
and what rejecting or undoing it does to that row. Called inside the queue's decision transactions."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session, select

from core.consent import OPEN, no_bots, refused_before, why_ask
from core.db import Database
from core.consent_text import TooLong, choose_language, render
from core.models import Author, ConsentRequest, ConsentState, Post, utcnow
from core.settings import Settings
from platforms.registry import PLATFORMS



def request_for(session: Session, post_id: int) -> ConsentRequest | None:
    return session.exec(select(ConsentRequest).where(ConsentRequest.post_id == post_id)).first()


def network_of(post: Post, author: Author | None = None) -> str:
    row = PLATFORMS.get(post.platform)
    return row.network if row else (author.network if author else post.platform)


def asking_channel(settings: Settings, network: str, collected_by: str) -> str | None:
    """Our channel that can reply on `network`: [consent] ask_from's first, else the one that collected the post,
    else any; None when no channel there can reply (Instagram: replies to found posts are not allowed)."""
    def can_ask(name: str) -> bool:
        channel = settings.channels.get(name)
        row = PLATFORMS.get(channel.kind) if channel else None
        return bool(row and row.asker and row.network == network and channel.token_env)

    for name in [*settings.consent.ask_from, collected_by, *settings.channels]:
        if can_ask(name):
            return name
    return None


def item_link(settings: Settings, post: Post) -> str:
    """The photographer's own post: which photo we mean. Not a page of ours: `wlb export-site` writes an item's page
    only once it is published, and a preview page before they agree would itself be showing it without consent."""
    return post.url


def mention(post: Post, author: Author | None) -> str:
    handle = (author.handle if author and not (author.uid or "").startswith("uncredited:") else "") or post.credit or ""
    handle = handle.strip().lstrip("@")
    return "@" + handle if handle and " " not in handle else handle


def refusal(session: Session, post: Post, settings: Settings, now: datetime | None = None) -> str | None:
    """Why this item may not be asked for: the photographer said no (to it, or lately to another photo), or was
    asked already and never answered (never twice to the same post). None: ask."""
    request = request_for(session, post.id)
    if request is not None and request.state == ConsentState.REFUSED:
        return f"the photographer said no to this photo on {request.answered_at:%Y-%m-%d}"
    if request is not None and request.state == ConsentState.EXPIRED:
        return (f"the photographer was asked on {request.sent_at or request.created_at:%Y-%m-%d} and did not answer; "
                f"record an answer with 'wlb consent {post.id} --granted --proof ...', or approve with --force --reason")
    earlier = refused_before(session, post.author_id, settings, now)
    if earlier is not None:
        return (f"the photographer said no on {earlier.answered_at:%Y-%m-%d} (item #{earlier.post_id}); their photos "
                f"are not asked again for {settings.consent.refused_months} months")
    return None


def languages(db: Database, ids: Sequence[int], settings: Settings, targets: Sequence[str]) -> dict[int, str]:
    """The requests' languages, chosen before the decision's transaction: loading the detector takes seconds, and
    the items' rows (SQLite: the whole database) stay locked while a decision is made."""
    with db.session() as session:
        posts = [p for p in (session.get(Post, i) for i in ids) if p is not None and why_ask(p, settings, targets)]
        return {p.id: choose_language(p.language, p.text, settings.consent.default_language) for p in posts}


def ask(session: Session, post: Post, settings: Settings, *, actor: str, now: datetime | None = None,
        language: str | None = None) -> ConsentRequest:
    """The item's request, open: kept if it is, reopened if an earlier one was cancelled or failed (the same
    idempotency key and, once attempted, the same words: a rerun finds the reply instead of sending another), or
    written: PLANNED when one of our channels can reply on the post's network, else MANUAL."""
    now = now or utcnow()
    request = request_for(session, post.id)
    if request is not None and request.state in OPEN:
        return request
    if request is not None and request.request_remote_id:  # our reply is out there: listen to it again
        request.state, request.error = ConsentState.SENT, None
        request.expires_at = now + timedelta(days=settings.consent.expire_days)
        session.add(request)
        return request
    author = session.get(Author, post.author_id)
    network = network_of(post, author)
    # A #nobot account asked for no automated replies: a person asks them instead.
    channel = None if no_bots(post.ask_first) else asking_channel(settings, network, post.channel)
    if request is None:
        request = ConsentRequest(post_id=post.id, idempotency_key=secrets.token_urlsafe(24), channel="", platform="",
                                 asked_by=actor)
    if request.attempts == 0:  # never tried: written afresh, in today's words
        language = language or choose_language(post.language, post.text, settings.consent.default_language)
        link, to = item_link(settings, post), mention(post, author)
        request.error = None
        try:
            text = render(language, mention=to, link=link, network=network, overrides=settings.consent.templates,
                          by_hand=channel is None)
        except TooLong as exc:  # a person sends it where the platform allows longer messages
            channel, request.error = None, str(exc)
            text = render(language, mention=to, link=link, network=network, overrides=settings.consent.templates,
                          by_hand=True)
        request.language, request.request_text, request.target_url = language, text, post.url
        request.created_at, request.channel, request.asked_by = now, channel or post.channel, actor
        request.state = ConsentState.PLANNED if channel else ConsentState.MANUAL
    else:  # a send was attempted (then cancelled): the same channel finds or finishes it, never a second reply
        request.state = ConsentState.PLANNED
    request.platform, request.author_id = post.platform, post.author_id
    session.add(request)
    return request


def note(request: ConsentRequest | None) -> str | None:
    """What a reviewer should know about a request after deciding an item: where it stands, what to do."""
    if request is None:
        return None
    if request.state == ConsentState.PLANNED:
        return f"#{request.post_id} awaits the photographer's consent: the next run asks them from {request.channel}"
    if request.state == ConsentState.MANUAL:
        return (f"#{request.post_id} awaits the photographer's consent: ask them yourself ('wlb consent "
                f"{request.post_id}' shows the message), then record their answer with --granted or --refused")
    if request.state in (ConsentState.SENT, ConsentState.SENDING, ConsentState.UNCLEAR):
        return f"#{request.post_id} awaits the photographer's answer to our request ({request.state})"
    if request.state == ConsentState.CANCELLED and (request.request_remote_id or request.attempts):
        where = request.request_url or f"on {request.platform}"
        sent = "was sent" if request.request_remote_id else "may have been sent"
        return (f"#{request.post_id}: the request is cancelled, but our reply {sent} and stays {where}; delete it "
                f"there if you wish")
    return None


def granted(session: Session, post_id: int) -> bool:
    """The photographer already said yes to this item (an approval after a reject or an undo needs no new ask)."""
    request = request_for(session, post_id)
    return request is not None and request.state == ConsentState.GRANTED


def consent_notes(db: Database, ids: Sequence[int]) -> list[str]:
    """After a decision: where each item's request stands, for the reviewer who made it."""
    with db.session() as session:
        return [line for i in ids if (line := note(request_for(session, i)))]


def consent_summary(session: Session, post_id: int) -> dict | None:
    """The item's request in a line, for `wlb show` and the web view."""
    request = request_for(session, post_id)
    if request is None:
        return None
    words = {ConsentState.PLANNED: f"request planned from {request.channel}",
             ConsentState.SENDING: f"request being sent from {request.channel}",
             ConsentState.SENT: f"asked from {request.channel}, waiting for their answer",
             ConsentState.MANUAL: "ask them yourself: the platform allows no reply",
             ConsentState.UNCLEAR: "they answered something that is neither yes nor no: read it",
             ConsentState.EXPIRED: "asked, no answer in time"}
    return {"state": request.state, "channel": request.channel, "language": request.language,
            "summary": words.get(request.state, request.state)}

"""`wlb consent`: the consent ledger for people. One item's request (and the message to send by hand), a
photographer's requests, the open ones with their age; and an answer a person recorded (core.consent.settle)."""

from __future__ import annotations

from datetime import datetime

from rich.table import Table
from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from app.output import Output, inert, problem_line
from app.workspace import Workspace
from core.consent import ANSWERABLE, MAX_WORDS, OPEN, settle
from core.consent_text import render
from core.decisions import reviewer
from core.errors import UsageError
from core.models import Author, ConsentRequest, ConsentState, Post, Status, utcnow
from curation.asking import item_link, mention, network_of, request_for

LISTED = (*OPEN, ConsentState.EXPIRED)  # `wlb consent` alone: what still needs someone
BY_HAND = (ConsentState.MANUAL, ConsentState.UNCLEAR)  # a person asks, or reads the answer and asks again
STATE_STYLE = {"planned": "cyan", "sending": "cyan", "sent": "blue", "manual": "yellow", "unclear": "yellow",
               "granted": "green", "refused": "red", "expired": "dark_orange", "cancelled": "dim", "failed": "red"}
MAX_PROOF = 2000


def consent(ws: Workspace, *, item: int | None = None, granted: bool = False, refused: bool = False,
            proof: str | None = None, author: str | None = None, actor: str | None = None) -> dict:
    """What `wlb consent` was asked for: {"entry": ...}, {"recorded": ...} or {"requests": [...], "title": ...}."""
    if granted and refused:
        raise UsageError("choose one of --granted and --refused")
    if (granted or refused) and item is None:
        raise UsageError("say which item the answer is for: wlb consent ID --granted --proof 'how they said it'")
    if proof is not None and not (granted or refused):
        raise UsageError("--proof goes with --granted or --refused")
    if item is not None and author:
        raise UsageError("give an item id or --author, not both")
    if granted or refused:
        return {"recorded": record(ws, item, granted=granted, proof=proof or "", actor=actor or reviewer())}
    with ws.db.session() as session:
        if item is not None:
            return {"entry": entry(session, ws, item)}
        if author:
            rows = _by_author(session, author)
            return {"requests": [_row(session, r) for r in rows], "title": f"requests to @{author.strip().lstrip('@')}"}
        # A request that could not be sent needs someone too, while its item still waits on it.
        failed = (ConsentRequest.state == ConsentState.FAILED) & (Post.status == Status.AWAITING)
        rows = session.exec(select(ConsentRequest).join(Post, Post.id == ConsentRequest.post_id)
                            .where(col(ConsentRequest.state).in_(LISTED) | failed)
                            .order_by(ConsentRequest.created_at, ConsentRequest.id)).all()
        return {"requests": [_row(session, r) for r in rows], "title": "open requests"}


def entry(session: Session, ws: Workspace, item: int) -> dict:
    """One item's request: every column a person may need, and the message to send by hand where one is needed."""
    post = session.get(Post, item)
    if post is None:
        raise UsageError(f"no item #{item}; list them with 'wlb queue --status all'")
    request = request_for(session, item)
    if request is None:
        raise UsageError(f"item #{item} has no consent request: only an approval for a channel with consent = "
                         f"\"ask\" or \"ask-always\" makes one")
    view = _row(session, request) | {
        "item_status": post.status, "post_url": post.url, "channel": request.channel, "platform": request.platform,
        "asked_by": request.asked_by, "language": request.language, "request": request.request_text,
        "request_url": request.request_url, "sent_at": _iso(request.sent_at), "expires_at": _iso(request.expires_at),
        "attempts": request.attempts, "error": request.error, "answer": request.answer_text,
        "answer_url": request.answer_url, "answered_at": _iso(request.answered_at), "decided_by": request.decided_by,
        "proof": request.proof, "message": None}
    if request.state in BY_HAND:
        view["message"] = _message(session, ws, post, request)
    return view


def _message(session: Session, ws: Workspace, post: Post, request: ConsentRequest) -> str:
    """The ready-to-copy message: what a person sends in a direct message or a comment (no reply to read)."""
    if request.state == ConsentState.MANUAL:
        return request.request_text
    author = session.get(Author, post.author_id) if post.author_id else None
    return render(request.language, mention=mention(post, author), link=item_link(ws.settings, post),
                  network=network_of(post, author), overrides=ws.settings.consent.templates, by_hand=True)


def record(ws: Workspace, item: int, *, granted: bool, proof: str, actor: str) -> dict:
    """A person's record of the photographer's answer: the item approved for its targets, or rejected."""
    proof = " ".join(proof.split())
    if not proof:
        raise UsageError("--proof is required: say how and when the photographer answered, e.g. "
                         "--proof 'Instagram DM of 3 Dec: \"oui, avec plaisir\"'")
    if len(proof) > MAX_PROOF:
        raise UsageError(f"--proof is {len(proof)} characters; at most {MAX_PROOF}")
    with ws.db.session() as session:
        request = request_for(session, item)
        if session.get(Post, item) is None:
            raise UsageError(f"no item #{item}; list them with 'wlb queue --status all'")
        if request is None:
            raise UsageError(f"item #{item} has no consent request; approve it with --force --reason to record a "
                             f"permission given before anyone asked")
        request_id = request.id
    with ws.db.session() as session:
        post = settle(session, request_id, granted, words=proof[:MAX_WORDS], by=actor, proof=proof,
                      expected=(*ANSWERABLE, ConsentState.PLANNED))
    if post is None:
        with ws.db.session() as session:
            request, post = session.get(ConsentRequest, request_id), session.get(Post, item)
            why = (f"its request is {request.state}" if request.state not in (*ANSWERABLE, ConsentState.PLANNED)
                   else f"the item is {post.status}")
        raise UsageError(f"item #{item}: {why}; nothing recorded (see 'wlb consent {item}')")
    return {"item": item, "status": post.status, "state": "granted" if granted else "refused", "by": actor}


def _by_author(session: Session, handle: str) -> list[ConsentRequest]:
    """Every request to this photographer: "dirk" finds dirk@any.host too, as the queue's --author does."""
    handle = handle.strip().lstrip("@").lower()
    if not handle:
        raise UsageError("--author needs a handle, e.g. --author dirk@mastodon.social")
    authors = select(Author.id).where(or_(func.lower(Author.handle) == handle,
                                          func.lower(Author.handle).startswith(handle + "@", autoescape=True)))
    return list(session.exec(select(ConsentRequest).where(col(ConsentRequest.author_id).in_(authors))
                             .order_by(ConsentRequest.created_at, ConsentRequest.id)))


def _row(session: Session, request: ConsentRequest) -> dict:
    author = session.get(Author, request.author_id) if request.author_id else None
    return {"item": request.post_id, "state": request.state, "author": author.handle if author else None,
            "channel": request.channel, "created_at": _iso(request.created_at), "sent_at": _iso(request.sent_at),
            "age_hours": round((utcnow() - request.created_at).total_seconds() / 3600, 1),
            "target_url": request.target_url, "answer": request.answer_text}


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _age(hours: float) -> str:
    return f"{hours:.0f}h" if hours < 48 else f"{hours / 24:.0f}d"


def consent_output(out: Output, result: dict) -> None:
    """Rich for people (remote text inert), JSON for scripts."""
    if out.json_mode:
        return out.json(next(iter(v for k, v in result.items() if k != "title")))
    if "recorded" in result:
        done = result["recorded"]
        what = "approved for its targets" if done["state"] == "granted" else "rejected with their words"
        return out.message(f"✓ #{done['item']}: the photographer {done['state']} (recorded by {done['by']}); {what}")
    if "entry" in result:
        return _entry_output(out, result["entry"])
    rows = result["requests"]
    if not rows:
        return out.message(f"no {result['title']}", "dim")
    table = Table(title=result["title"], title_justify="left")
    for name in ("item", "state", "age", "photographer", "asks from", "answer"):
        table.add_column(name, overflow="fold")
    for r in rows:
        table.add_row(f"#{r['item']}", inert(r["state"], STATE_STYLE.get(r["state"], "")), _age(r["age_hours"]),
                      inert(r["author"] or "(forgotten)"), inert(_asker(r)), inert(_short(r["answer"])))
    out.console.print(table)


def _entry_output(out: Output, e: dict) -> None:
    out.console.print(inert(f"#{e['item']} ({e['item_status']}): request {e['state']}", "bold"), soft_wrap=True)
    facts = [("photographer", e["author"]), ("their post", e["target_url"]), ("asks from", _asker(e)),
             ("approved by", e["asked_by"]), ("planned", _when(e["created_at"])), ("sent", _when(e["sent_at"])),
             ("our reply", e["request_url"]), ("expires", _when(e["expires_at"])), ("language", e["language"]),
             ("answered", _when(e["answered_at"])), ("their answer", e["answer_url"]),
             ("recorded by", e["decided_by"]), ("proof", e["proof"]), ("problem", e["error"])]
    for label, value in facts:
        if value:
            out.console.print(inert(f"  {label + ':':<14}{value}"), soft_wrap=True)
    if e["answer"]:
        out.console.print(inert("  their words:", "bold"), inert(e["answer"], multiline=True), soft_wrap=True)
    if e["message"] is None:
        out.console.print(inert("  request:", "bold"), inert(e["request"], multiline=True), soft_wrap=True)
        return
    out.console.print(problem_line("Ask them yourself (a direct message or a comment); copy this message:", "yellow"))
    out.console.print(inert(e["message"], multiline=True), soft_wrap=True)
    out.console.print(inert(f"then: wlb consent {e['item']} --granted --proof '...'  (or --refused)", "dim"))


def _asker(row: dict) -> str:
    """Our account that replies, or "by hand" (the channel then only names where the post was found)."""
    replies = row["sent_at"] or row["state"] in (ConsentState.PLANNED, ConsentState.SENDING, ConsentState.FAILED)
    return row["channel"] if replies else "by hand"


def _when(iso: str | None) -> str | None:
    return iso[:16].replace("T", " ") + " UTC" if iso else None


def _short(text: str | None, n: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


"""`wlb optout`: a photographer who asked to stop is never collected again, on any of their linked handles; what
of theirs waits in the queue is rejected at once, and `--forget` applies `wlb forget` to their past items."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.workspace import Workspace
from core.decisions import reviewer
from core.errors import UsageError
from core.models import Author, OptOut, Post, Status
from core.optout import REJECTED, Handle, identities, parse_handle
from curation.queue import bulk, reject

MAX_REASON = 2000
# What `optout add` rejects at once: everything of theirs that could still be reposted.
WAITING = (Status.NEW, Status.PENDING, Status.APPROVED, Status.AWAITING, Status.NO_ANSWER)


def add(ws: Workspace, handles: Sequence[str], *, reason: str, forget: bool = False, actor: str | None = None) -> dict:
    """Opt these handles (one person) out; reject what of theirs waits; with `forget`, forget their past items."""
    reason = " ".join(reason.split())
    if not reason:
        raise UsageError("say why with --reason (who asked, how); it is kept with the opt-out")
    if len(reason) > MAX_REASON:
        raise UsageError(f"--reason is {len(reason)} characters; at most {MAX_REASON}")
    wanted = list(dict.fromkeys(parse_handle(h) for h in handles))
    actor = actor or reviewer()
    person = _record(ws, wanted, reason=reason, actor=actor)
    result = _apply(ws, person, actor=actor)
    if forget:
        result["forget"] = _forget(ws, result.pop("authors"), reason=reason, actor=actor)
    return result


def link(ws: Workspace, handle: str, other: str, *, actor: str | None = None) -> dict:
    """`other` is the same person as the opted-out `handle`: it is opted out too (two persons become one)."""
    first, second = parse_handle(handle), parse_handle(other)
    with ws.db.session() as session:
        row = _row(session, first)
        if row is None:
            raise UsageError(f"{first} has not opted out; 'wlb optout add {first} --reason TEXT' first")
        reason = row.reason
    actor = actor or reviewer()
    person = _record(ws, [first, second], reason=reason, actor=actor)
    return _apply(ws, person, actor=actor)


def remove(ws: Workspace, handle: str, *, only: bool = False) -> dict:
    """The photographer changed their mind: every handle of theirs is collected again (`only`: this account, by its
    handle and the stable id the archive knows for it, which would otherwise keep it out)."""
    wanted = parse_handle(handle)
    with ws.db.session() as session:
        same = [r for h in dict.fromkeys([wanted, *_known_ids(session, wanted)]) if (r := _row(session, h)) is not None]
        if not same:
            raise UsageError(f"{wanted} has not opted out; 'wlb optout list' shows who has")
        row = same[0]
        rows = [r for r in same if r.person == row.person] if only else list(
            session.exec(select(OptOut).where(OptOut.person == row.person)))
        gone = sorted(str(Handle(r.network, r.handle)) for r in rows)
        session.exec(delete(OptOut).where(col(OptOut.id).in_([r.id for r in rows])))
        session.commit()
    return {"person": row.person, "removed": gone}


def listing(ws: Workspace) -> list[dict]:
    """Every person who opted out: their handles, why, who recorded it and when."""
    with ws.db.session() as session:
        rows = list(session.exec(select(OptOut).order_by(OptOut.person, OptOut.id)))
    people: dict[int, dict] = {}
    for r in rows:
        entry = people.setdefault(r.person, {"person": r.person, "handles": [], "reason": r.reason,
                                             "actor": r.actor, "at": r.at.isoformat()})
        entry["handles"].append(str(Handle(r.network, r.handle)))
    return list(people.values())


def _row(session: Session, handle: Handle) -> OptOut | None:
    return session.exec(select(OptOut).where(OptOut.network == handle.network, OptOut.handle == handle.handle)).first()


def _record(ws: Workspace, handles: list[Handle], *, reason: str, actor: str) -> int:
    """Write the handles as one person (joining, and merging, persons some of them already belong to), with the
    stable ids the archive knows for them (a Bluesky handle's DID, an X username's id); the person's id."""
    with ws.db.session() as session:
        handles = list(dict.fromkeys([*handles, *(k for h in handles for k in _known_ids(session, h))]))
        rows = [r for h in handles if (r := _row(session, h)) is not None]
        persons = sorted({r.person for r in rows})
        have = {(r.network, r.handle) for r in rows}
        new = [OptOut(person=persons[0] if persons else 0, network=h.network, handle=h.handle, reason=reason,
                      actor=actor) for h in handles if (h.network, h.handle) not in have]
        session.add_all(new)
        try:
            session.flush()
        except IntegrityError:
            raise UsageError("someone recorded one of these handles at the same moment; run the command again") from None
        person = persons[0] if persons else new[0].id
        for r in new:
            r.person = person
        if len(persons) > 1:  # two people turn out to be one
            session.exec(update(OptOut).where(col(OptOut.person).in_(persons[1:])).values(person=person))
        session.commit()
    return person


def _known_ids(session: Session, handle: Handle) -> list[Handle]:
    """The other identities the archive knows for an account (its stable id, its current handle)."""
    authors = session.exec(select(Author).where(Author.network == handle.network, or_(
        func.lower(Author.handle) == handle.handle, func.lower(Author.uid) == handle.handle.removeprefix("id:"))))
    found = []
    for a in authors:
        if handle.handle in identities(a.network, a.handle, a.uid):
            found += [Handle(a.network, i) for i in identities(a.network, a.handle, a.uid)]
    return [h for h in found if _valid(h)]


def _valid(handle: Handle) -> bool:
    """Only an identity that reads back as a handle is stored: the archive holds what remote servers sent."""
    try:
        return parse_handle(str(handle)) == handle
    except UsageError:
        return False


def _authors(session: Session, person: int) -> list[Author]:
    """The archive's accounts of this person."""
    rows = list(session.exec(select(OptOut.network, OptOut.handle).where(OptOut.person == person)))
    ids = {h.removeprefix("id:") for _, h in rows}
    candidates = session.exec(select(Author).where(col(Author.network).in_(sorted({n for n, _ in rows})), or_(
        func.lower(Author.handle).in_(sorted(ids)), func.lower(Author.uid).in_(sorted(ids)))))
    return [a for a in candidates if any((a.network, i) in set(rows) for i in identities(a.network, a.handle, a.uid))]


def _apply(ws: Workspace, person: int, *, actor: str) -> dict:
    """Reject what of theirs waits (each a compare-and-set; one being published is reported, not stopped)."""
    with ws.db.session() as session:
        authors = _authors(session, person)
        handles = sorted(str(Handle(r.network, r.handle)) for r in session.exec(
            select(OptOut).where(OptOut.person == person)))
        items = list(session.exec(select(Post.id, Post.status, Post.url).where(
            col(Post.author_id).in_([a.id for a in authors])).order_by(Post.id))) if authors else []
    waiting = {pid: Status(status) for pid, status, _ in items if status in WAITING}
    done = bulk(ws.db, waiting, reject, reason=REJECTED, actor=actor, override=True)
    urls = {pid: url for pid, _, url in items}
    return {"person": person, "handles": handles, "authors": [a.key for a in authors],
            "rejected": [{"id": i, "url": urls[i]} for i in done.done],
            "not_stopped": [{"id": i, "url": urls[i], "why": why} for why, ids in done.refused.items() for i in ids],
            "published": [{"id": pid, "url": url} for pid, status, url in items if status == Status.PUBLISHED]}


def _forget(ws: Workspace, authors: list[str], *, reason: str, actor: str) -> list[dict]:
    """`wlb forget` for each of their accounts in the archive: reposts taken down, files and personal data gone."""
    from app.pipeline import Pipeline
    from app.takedown import forget

    if not isinstance(ws, Pipeline):
        raise TypeError("forgetting needs the pipeline (its publishers take reposts down)")
    return [forget(ws, author=key, reason=f"opted out: {reason}", actor=actor) for key in authors]

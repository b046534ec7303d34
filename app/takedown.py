"""Taking things down: `wlb unpublish` (our reposts of an item) and `wlb forget` (a photographer's request to be
forgotten: their reposts, files and personal fields go; a deny-list and an audit record stay)."""

from __future__ import annotations

from contextlib import suppress
from functools import partial

from sqlmodel import Session, col, func, select

from app.lock import run_lock
from app.pipeline import Pipeline, publisher_for
from core.consent import forget_ledger
from core.decisions import lock_items, reviewer, transition
from core.denylist import FORGOTTEN, author_digest
from core.errors import UsageError
from core.models import Author, Decision, Denied, ForgetRequest, Media, MediaState, Post, Publication, Status, utcnow
from publisher.unpublish import Takedown, take_down, withdraw

PLACEHOLDER = "forgotten"


def unpublish(pipeline: Pipeline, item: int, *, reason: str, channel: str | None = None,
              actor: str | None = None) -> Takedown:
    """Take our reposts of `item` down (every channel, or one) and keep it out of future runs; rerun to finish."""
    if channel is not None and channel not in pipeline.settings.channels:
        raise UsageError(f"--channel {channel}: no such channel in config.toml")
    report = Takedown()
    with run_lock(pipeline.settings):  # a publish run in flight must not record a post we are taking down
        _unpublish_one(pipeline, item, reason=reason, channel=channel, actor=actor or reviewer(), report=report,
                       built={})
    return report


def _unpublish_one(pipeline: Pipeline, item: int, *, reason: str, channel: str | None, actor: str,
                   report: Takedown, built: dict) -> None:
    if withdraw(pipeline.db, item, actor=actor, reason=reason, channel=channel, publishing=pipeline.publish_channels()):
        report.decided.append(item)
    builders = {name: partial(_built, pipeline, built, name) for name in pipeline.publish_channels()}
    take_down(pipeline.db, item, builders, report, channel=channel)


def _built(pipeline: Pipeline, built: dict, name: str):
    """One publisher per channel and command, built when a repost there is first taken down."""
    if name not in built:
        built[name] = publisher_for(pipeline.settings.channels[name], pipeline.settings, pipeline.http)
    return built[name]


def forget(pipeline: Pipeline, *, author: str | None = None, item: int | None = None, reason: str,
           actor: str | None = None) -> dict:
    """Unpublish everything of theirs, delete their files and personal fields, deny their photos and accounts."""
    if (author is None) == (item is None):
        raise UsageError("give --author HANDLE or --item ID, not " + ("both" if author else "neither"))
    if not reason.strip():
        raise UsageError("say why with --reason (kept in the audit record)")
    actor = actor or reviewer()
    report = Takedown()
    with run_lock(pipeline.settings):
        with pipeline.db.session() as session:
            authors, posts = _scope(session, author, item)
        built: dict = {}
        for post_id in posts:
            _unpublish_one(pipeline, post_id, reason=FORGOTTEN, channel=None, actor=actor, report=report, built=built)
        audit = _erase(pipeline, authors if author else [], posts, actor=actor, reason=reason,
                       scope="author" if author else "item", report=report)
    return {"forget": audit, "removals": [r.__dict__ for r in report.removals], "ok": not report.failed}


def _scope(session: Session, handle: str | None, item: int | None) -> tuple[list[int], list[int]]:
    """The authors and items a request covers: one author (by handle or key) and all their items, or one item."""
    if item is not None:
        post = session.get(Post, item)
        if post is None:
            raise UsageError(f"no item #{item}; 'wlb queue --status all' lists them")
        return [post.author_id], [item]
    wanted = handle.strip().lstrip("@").lower()
    found = list(session.exec(select(Author).where((func.lower(Author.handle) == wanted) | (Author.key == handle),
                                                   col(Author.key).not_like(f"{PLACEHOLDER}:%"))))
    if not found:
        raise UsageError(f"no author @{wanted} in the archive; 'wlb queue --status all --author {wanted}' lists theirs")
    if len(found) > 1:
        networks = ", ".join(sorted(a.network for a in found))
        raise UsageError(f"@{wanted} names {len(found)} accounts ({networks}); forget each item with --item ID")
    posts = list(session.exec(select(Post.id).where(Post.author_id == found[0].id).order_by(Post.id)))
    return [found[0].id], posts


def _erase(pipeline: Pipeline, authors: list[int], posts: list[int], *, actor: str, reason: str, scope: str,
           report: Takedown) -> dict:
    """Deny-list, audit and erasure in one transaction; files are deleted first (a rerun finds the rows again)."""
    db, store = pipeline.db, pipeline.store
    with db.session() as session:
        media = list(session.exec(select(Media).where(col(Media.post_id).in_(posts)))) if posts else []
        paths = {m.path for m in media if m.path}
        shared = set(session.exec(select(Media.path).where(col(Media.path).in_(list(paths)),
                                                           col(Media.post_id).not_in(posts)))) if paths else set()
    deleted = 0
    for rel in paths - shared:  # the same bytes stored for another account's copy stay with that copy
        with suppress(FileNotFoundError):
            store.path(rel).unlink()
            deleted += 1
    with db.session() as session:
        locked = lock_items(session, posts)
        audit = ForgetRequest(actor=actor, reason=reason, scope=scope, items=posts, media_files=deleted,
                              reposts=_counts(report))
        session.add(audit)
        session.flush()
        for m in session.exec(select(Media).where(col(Media.post_id).in_(posts))) if posts else []:
            if m.phash is not None or m.sha256:
                session.add(Denied(forget_id=audit.id, phash=m.phash, dhash=m.dhash, sha256=m.sha256))
            m.url, m.remote_url, m.alt_text, m.path, m.sha256 = "", None, None, None, None
            m.phash = m.dhash = m.hash_set = m.hash_version = None
            m.state, m.refused_reason = MediaState.REFUSED, FORGOTTEN
            session.add(m)
        for post in locked:
            _erase_post(session, post, actor)
        forget_ledger(session, posts)  # the consent ledger keeps its audit columns only
        for author_id in authors:
            person = session.get(Author, author_id)
            for value in {person.key, person.uid} - {None, ""}:
                session.add(Denied(forget_id=audit.id, author_digest=author_digest(value)))
            person.key, person.handle, person.name = f"{PLACEHOLDER}:{person.id}", PLACEHOLDER, ""
            person.profile_url, person.uid = "", None
            session.add(person)
        audit.authors, audit.done_at = len(authors), utcnow()
        session.add(audit)
        session.commit()
        return {"id": audit.id, "scope": scope, "items": posts, "authors": len(authors), "media_files": deleted,
                "reposts": audit.reposts, "at": audit.at.isoformat()}


def _erase_post(session: Session, post: Post, actor: str) -> None:
    """The item stays as an id and its history's who and when; everything it said of the photographer goes."""
    if post.status != Status.REJECTED:
        transition(session, post, Status.REJECTED, actor=actor, action="forget", reason=FORGOTTEN)
    post.key, post.remote_id, post.url = f"{PLACEHOLDER}:{post.id}", "", ""
    post.text, post.spoiler_text, post.caption, post.title, post.credit = "", "", None, None, None
    post.reasons, post.lease_owner, post.lease_until = [FORGOTTEN], None, None
    session.add(post)
    for decision in session.exec(select(Decision).where(Decision.post_id == post.id, Decision.reason != FORGOTTEN)):
        decision.reason = ""  # a credit or a caption may have named them
        session.add(decision)
    for pub in session.exec(select(Publication).where(Publication.post_id == post.id)):
        pub.text = ""  # our repost's text credited them; its id and URL stay until it is gone
        session.add(pub)


def _counts(report: Takedown) -> dict:
    counts: dict[str, int] = {}
    for removal in report.removals:
        if removal.result in ("deleted", "already gone"):
            counts[removal.channel] = counts.get(removal.channel, 0) + 1
    return counts

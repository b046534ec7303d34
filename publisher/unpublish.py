"""Taking our reposts down: every channel (or one) an item went to, exactly once, whatever crashes.

Two steps, like publishing:
- withdraw, under the item's row lock: the item leaves future runs (rejected, or the channel dropped from its
  targets) with a Decision("unpublish"), and each repost to take down is marked `deleting`, committed;
- delete, per repost: the platform's delete, then compare-and-set `deleting` → `deleted`. A rerun after a crash
  finds the `deleting` rows and finishes them; platforms answer a second delete with "not found" (Mastodon,
  X, Facebook) or success (Bluesky), which is what "gone" means. One channel failing keeps its row `deleting`
  and costs that channel only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import update
from sqlmodel import col, select

from core.consent import cancel_request
from core.db import Database
from core.decisions import lock_items, transition
from core.errors import PlatformError, UsageError
from core.models import Post, PubState, Publication, Status, utcnow
from core.redact import redact
from publisher.base import PublishRequest, Published


class ByHand(PlatformError):
    """The platform's API cannot delete the post: a person must, where the message says."""


class Unpublisher(Protocol):
    """What taking a repost down needs of a publisher adapter."""

    def unpublish(self, remote_id: str) -> bool:
        """Delete our post; True if deleted now, False if it was already gone. ByHand if the API cannot."""
        ...

    def find_existing(self, request: PublishRequest) -> Published | None:
        ...


@dataclass
class Removal:
    """What became of one repost: deleted, already gone, by hand, withdrawn, not found, or failed."""

    item: int
    channel: str
    result: str
    url: str | None = None
    detail: str = ""


@dataclass
class Takedown:
    removals: list[Removal] = field(default_factory=list)
    decided: list[int] = field(default_factory=list)  # items whose decision this run recorded

    @property
    def failed(self) -> bool:
        return any(r.result == "failed" for r in self.removals)

    def to_dict(self) -> dict:
        return {"removals": [r.__dict__ for r in self.removals], "decided": self.decided, "ok": not self.failed}


def withdraw(db: Database, post_id: int, *, actor: str, reason: str, channel: str | None = None,
             publishing: list[str] | None = None) -> bool:
    """Under the item's lock: keep it out of future runs, mark its reposts `deleting`; whether a decision was recorded."""
    if not reason.strip():
        raise UsageError("say why with --reason (recorded in the item's history)")
    with db.session() as session:
        found = lock_items(session, [post_id])
        if not found:
            raise UsageError(f"no item #{post_id}; 'wlb queue --status all' lists them")
        (post,) = found
        query = select(Publication).where(Publication.post_id == post_id)
        if channel is not None:
            query = query.where(Publication.channel == channel)
        for pub in session.exec(query):
            # An interrupted attempt (pending, attempts > 0) may have posted: look for it, then delete. A row never
            # sent stays as it is: the decision below stops every later claim (publisher/claim.publishable).
            if pub.state == PubState.PUBLISHED or (pub.state == PubState.PENDING and pub.attempts):
                pub.state = PubState.DELETING
                session.add(pub)
        decided = _decide(session, post, actor=actor, reason=reason, channel=channel, publishing=publishing or [])
        if post.status == Status.REJECTED:
            cancel_request(session, post_id)  # it may have awaited the photographer's consent: nobody waits now
        session.commit()
        return decided


def _decide(session, post: Post, *, actor: str, reason: str, channel: str | None, publishing: list[str]) -> bool:
    """The item's record: rejected with the reason (every channel), or the channel dropped from its targets."""
    if channel is None:
        if post.status == Status.REJECTED:
            return False  # a rerun: decided already
        transition(session, post, Status.REJECTED, actor=actor, action="unpublish", reason=reason)
        return True
    targets = post.targets or publishing
    if post.status == Status.REJECTED or (channel not in targets and session.exec(select(Publication.id).where(
            Publication.post_id == post.id, Publication.channel == channel,
            col(Publication.state).in_([PubState.DELETED, PubState.BY_HAND, PubState.DELETING]))).first()):
        return False
    left = [c for c in targets if c != channel]
    if left:
        post.targets = left
        transition(session, post, Status(post.status), actor=actor, action="unpublish", reason=f"{channel}: {reason}")
    else:  # no targets reads "every channel": an item left with none is out of future runs altogether
        transition(session, post, Status.REJECTED, actor=actor, action="unpublish", reason=f"{channel}: {reason}")
    return True


def take_down(db: Database, post_id: int, unpublishers: Mapping[str, Callable[[], Unpublisher]],
              report: Takedown, *, channel: str | None = None) -> None:
    """Delete every repost of this item marked `deleting` (on one channel, or all); each channel on its own."""
    with db.session() as session:
        post = session.get(Post, post_id)
        query = select(Publication).where(Publication.post_id == post_id, Publication.state == PubState.DELETING)
        if channel is not None:
            query = query.where(Publication.channel == channel)
        rows = list(session.exec(query.order_by(Publication.id)))
        original = post.url if post else ""
    for pub in rows:
        report.removals.append(_one(db, pub, original, unpublishers.get(pub.channel)))


def _one(db: Database, pub: Publication, original: str, build: Callable[[], Unpublisher] | None) -> Removal:
    """Take one repost down and record it; a failure leaves it `deleting` for the next run."""
    removal = Removal(pub.post_id, pub.channel, "failed", pub.remote_url)
    if build is None:
        removal.detail = f"channel {pub.channel!r} is not configured for publishing any more; add it back to delete"
        return _note(db, pub, removal)
    try:
        publisher = build()
        remote_id = pub.remote_id if pub.state == PubState.DELETING and pub.published_at else None
        if remote_id is None:  # an interrupted attempt: did it post? Ask the channel, as a publish rerun does
            found = publisher.find_existing(PublishRequest(text=pub.text, images=[], idempotency_key=pub.idempotency_key,
                                                           original_url=original, planned_at=pub.created_at,
                                                           saved=pub.remote_id))
            if found is None:
                removal.result, removal.detail = "not found", ("an interrupted attempt left no post we can find; "
                                                              "check the channel by hand")
                return _finish(db, pub, removal, PubState.FAILED, error=removal.detail)
            remote_id, removal.url = found.remote_id, found.url
        gone_now = publisher.unpublish(remote_id)
    except ByHand as exc:
        removal.result, removal.detail = "by hand", f"{exc}: {pub.remote_url or 'our profile'}"
        return _finish(db, pub, removal, PubState.BY_HAND, error=removal.detail)
    except (PlatformError, ValueError, OSError) as exc:
        removal.detail = redact(str(exc))
        return _note(db, pub, removal)
    removal.result = "deleted" if gone_now else "already gone"
    return _finish(db, pub, removal, PubState.DELETED)


def _finish(db: Database, pub: Publication, removal: Removal, state: PubState, *, error: str | None = None) -> Removal:
    """Compare-and-set: `deleting` → the outcome, only if no other run recorded it first."""
    with db.session() as session:
        done = session.execute(update(Publication).where(Publication.id == pub.id, Publication.state == PubState.DELETING)
                            .values(state=state, deleted_at=utcnow() if state == PubState.DELETED else None,
                                    error=error))
        session.commit()
    if done.rowcount == 0 and removal.result != "failed":
        removal.detail = (removal.detail + "; " if removal.detail else "") + "another run recorded it first"
    return removal


def _note(db: Database, pub: Publication, removal: Removal) -> Removal:
    """A failed delete: the row stays `deleting` with the reason, for the next run."""
    with db.session() as session:
        session.execute(update(Publication).where(Publication.id == pub.id, Publication.state == PubState.DELETING)
                        .values(error=removal.detail[:2000]))
        session.commit()
    return removal

"""The publish stage: approved items → reposts, never twice, never against a later decision.

Per item and channel, in three steps:
- gate: may it go now? The plan (publisher.slots: slots, daily cap, rotation, pins), its status, targets,
  licence and credit (publisher.claim.publishable), its origin's verdict (publisher.origin);
- plan: the text, images and idempotency key (publisher.plan), and the publication row so far;
- send: claim the publication (publisher.claim: re-reads the decision under the item's row lock and
  counts the attempt, committed), call the platform, record the remote id.
A rerun that finds an attempted row first looks for the repost on our own timeline, then retries with
the same Idempotency-Key, so neither a crash nor a lost answer makes a second post.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from datetime import datetime

from sqlmodel import Session

from core.db import Database
from core.errors import NotCreated, PlatformError
from core.http import Http
from core.images import RefusedImage
from core.media import MediaStore
from core.models import Post, Status, utcnow
from core.posts import OriginSource
from core.report import RunReport
from core.settings import Settings
from publisher.base import Publisher
from publisher.claim import Changed, Refused, checkpoint, claim, publishable, record, system_decision
from publisher.origin import Verdict, check_origin
from publisher.plan import Plan, Planned, Plans, plan as plan_request
from publisher.slots import Sent, load, plan, without

MAX_ATTEMPTS = 3


def publish(db: Database, settings: Settings, store: MediaStore, publishers: dict[str, Publisher],
            origins: dict[str, OriginSource], report: RunReport, *, dry_run: bool = False,
            on_item: Callable[[Planned], None] | None = None, http: Http | None = None, now: datetime | None = None,
            until: datetime | None = None, runs: Sequence[datetime] = ()) -> Plans:
    """Publish what the plan (publisher.slots) says is due at `now`, in its order; the same walk with --dry-run.

    An item dropped on the way (its origin disagrees, a reviewer changed it) frees its place: the plan is made
    again without it, so the next item takes that slot, in a dry run as in a real one."""
    now = now or utcnow()
    run = _Run(db, settings, store, origins, report, http, dry_run, now)
    channels = list(publishers)
    with db.session() as session:
        candidates, history = load(session, settings, channels, now)
    whose = {c.item: c.photographer for c in candidates}
    handled: set[tuple[int, str]] = set()
    sent: list[Sent] = []
    plans = Plans()
    while due := plan(settings, without(candidates, handled), [*history, *sent], now, now, channels=channels).due():
        slot = due[0]
        handled.add((slot.item, slot.channel))
        planned = run.one(publishers[slot.channel], slot.item, slot.channel)
        if planned is None:
            continue
        planned.at, planned.why = slot.at.isoformat(), slot.why
        plans.append(planned)
        if slot.why != "retry":  # an interrupted attempt was counted when it was claimed
            sent.append(Sent(slot.channel, now, whose[slot.item]))
        if on_item:
            on_item(planned)
    final = plan(settings, without(candidates, handled), [*history, *sent], now, until or now, channels=channels,
                 runs=runs)
    plans.held = final.waiting()
    for h in plans.held:
        if h.reason in ("licence", "credit", "gate"):  # a reviewer must act: said as before the plan existed
            report.warnings.append(f"item #{h.item} → {h.channel}: {h.why}; not reposted")
    for channel in channels:
        cap = settings.channels[channel].daily_cap
        cap = settings.publish.daily_cap if cap is None else cap
        if any(h.channel == channel and h.reason == "cap" and h.why.startswith("daily cap") for h in plans.held):
            report.warnings.append(f"{channel}: daily cap of {cap} reached; the rest waits for tomorrow")
    return plans


@dataclass
class _Run:
    """What every item of one publish run needs."""

    db: Database
    settings: Settings
    store: MediaStore
    origins: dict[str, OriginSource]
    report: RunReport
    http: Http | None
    dry_run: bool
    now: datetime
    # The origin's answer per item, asked once a run: an item approved for two channels is one post there.
    verdicts: dict[int, Verdict] = field(default_factory=dict)

    def one(self, publisher: Publisher, post_id: int, channel: str) -> Planned | None:
        """Check, claim and post one item to one channel; a changed approval is read again (a few times)."""
        for _ in range(3):
            try:
                return self._attempt(publisher, post_id, channel)
            except Refused as why:
                self.report.warnings.append(f"item #{post_id} → {channel}: {why}; not reposted")
                return None
            except Changed:
                continue
        self.report.channel(channel).errors.append(f"item #{post_id} → {channel}: its approval kept changing "
                                                   f"during the run; it goes next run")
        return None

    def _attempt(self, publisher: Publisher, post_id: int, channel: str) -> Planned | None:
        """Gate, plan and send one item to one channel; an error costs this item only."""
        self.report.channel(channel)  # in the run's report from its first attempt, whatever becomes of the item
        try:
            with self.db.session() as session:
                item = plan_request(session, self.settings, self.store, publisher, self._gate(session, post_id, channel),
                            channel)
            found = self._recover(publisher, item)
            if found is not None:
                return found
            if not self._origin_agrees(item.post, channel):
                return None
        except (PlatformError, RefusedImage, ValueError, OSError) as exc:
            self.report.channel(channel).errors.append(
                f"item #{post_id} → {channel}: {getattr(exc, 'reason', None) or exc}")
            return None
        return item.planned() if self.dry_run else self._send(publisher, item)

    def _gate(self, session: Session, post_id: int, channel: str) -> Post:
        """Gate: the item, if its status, targets, licence and credit let it go to `channel`; else Refused."""
        post = session.get(Post, post_id)
        why = publishable(session, self.settings, post, channel)
        if why:
            raise Refused(why)
        return post

    def _origin_agrees(self, post: Post, channel: str) -> bool:
        """Gate: ask the origin; act on deleted (reject) and disagreement (back to review); unconfirmed waits a run."""
        verdict = self.verdicts.get(post.id)
        if verdict is None:
            with self.db.session() as session:
                verdict = check_origin(session, self.settings, self.store, self.http,
                                       self.origins.get(post.channel), post)
            self.verdicts[post.id] = verdict
        if verdict.deleted:
            self.report.warnings.append(f"item #{post.id}: the original was deleted at its source; not reposted")
            if not self.dry_run:
                system_decision(self.db, post.id, Status.REJECTED, action="auto-reject",
                                reason="deleted at its source before we reposted it")
        elif verdict.problem:
            reason = f"origin disagrees: {verdict.problem}"
            self.report.warnings.append(f"item #{post.id}: {reason}; not reposted, back in review")
            if not self.dry_run:
                system_decision(self.db, post.id, Status.PENDING, action="origin-check", reason=reason)
        elif verdict.unconfirmed:
            self.report.channel(channel).errors.append(
                f"item #{post.id} → {channel}: {verdict.unconfirmed}; not reposted, tried again next run")
        return not (verdict.deleted or verdict.problem or verdict.unconfirmed)

    def _recover(self, publisher: Publisher, item: Plan) -> Planned | None:
        """Send, after a crash: the post an interrupted attempt made, found on the target and recorded; else None."""
        pub = item.publication
        if not (pub and pub.attempts) or self.dry_run:
            return None
        found = publisher.find_existing(replace(item.request, planned_at=pub.created_at, saved=pub.remote_id))
        if found is None:
            return None
        record(self.db, self.settings, pub, remote_id=found.remote_id, url=found.url)
        self.report.channel(item.channel).published += 1
        return item.planned("published", found.url)

    def _send(self, publisher: Publisher, item: Plan) -> Planned:
        """Send: claim the publication (its decision re-read under lock), post it once, record the outcome."""
        stats = self.report.channel(item.channel)
        taken = claim(self.db, self.settings, item.post.id, item.channel, key=item.request.idempotency_key,
                      text=item.request.text, decided=item.decided, now=self.now)
        request = replace(item.request, planned_at=taken.publication.created_at, saved=taken.publication.remote_id,
                          save=partial(checkpoint, self.db, taken.publication))
        try:
            result = (publisher.find_existing(request) if taken.retry else None) or publisher.publish(request)
        except PlatformError as exc:
            record(self.db, self.settings, taken.publication, error=str(exc),
                   give_up=taken.publication.attempts >= MAX_ATTEMPTS, not_created=isinstance(exc, NotCreated))
            stats.errors.append(f"item #{item.post.id} → {item.channel}: {exc}")
            return item.planned("failed")
        record(self.db, self.settings, taken.publication, remote_id=result.remote_id, url=result.url)
        stats.published += 1
        return item.planned("published", result.url)

"""The publish stage: approved items → reposts, never twice, never against a later decision.

Order per item and channel: ask the origin (publisher.origin); build the request; claim the
publication (publisher.claim: re-reads the decision under the item's row lock and counts the
attempt, committed); call the platform; record the remote id. A rerun that finds an attempted row
first looks for the repost on our own timeline, then retries with the same Idempotency-Key, so
neither a crash nor a lost answer makes a second post.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from core.posts import OriginSource
from core.media import MediaStore
from core.db import Database
from core.errors import NotCreated, PlatformError
from core.http import Http
from core.images import RefusedImage, image_size, prepare_for_upload
from core.models import Author, Media, MediaState, Post, PubState, Publication, Status
from core.report import RunReport
from core.settings import Settings
from publisher.base import Publisher, PublishRequest, UploadImage
from publisher.claim import Changed, Refused, claim, last_decision, publishable, record, system_decision
from publisher.credit import CreditAuthor, CreditInput, compose, credit_line, reviewer_credit
from core.licenses import attribution
from publisher.origin import Verdict, check_origin

MAX_ATTEMPTS = 3


def idempotency_key(post: Post, channel: str) -> str:
    """Stable per item and channel, so every retry sends the same key."""
    return hashlib.sha256(f"wlb|{post.key}|{channel}".encode()).hexdigest()[:40]


@dataclass
class Planned:
    """What is (or would be, with --dry-run) sent for one item to one channel."""

    item: int
    channel: str
    text: str
    images: list[dict] = field(default_factory=list)
    idempotency_key: str = ""
    result: str = "planned"
    url: str | None = None


def _used_today(session: Session, channel: str, tz: ZoneInfo) -> int:
    start = datetime.combine(datetime.now(tz).date(), time(), tz)
    return session.exec(select(func.count()).select_from(Publication).where(
        Publication.channel == channel, Publication.created_at >= start, Publication.state != PubState.FAILED,
        Publication.attempts > 0)).one()


def _due(session: Session, channel: str) -> list[int]:
    """Ids only: each item is read again, locked, when its publication is claimed."""
    done = select(Publication.post_id).where(Publication.channel == channel, Publication.state != PubState.PENDING)
    posts = session.exec(select(Post).where(Post.status == Status.APPROVED, col(Post.id).not_in(done)).order_by(Post.id))
    return [p.id for p in posts if not p.targets or channel in p.targets]


def _request(session: Session, settings: Settings, store: MediaStore, publisher: Publisher, post: Post,
             channel: str) -> PublishRequest:
    author = session.get(Author, post.author_id)
    source = settings.channels.get(post.channel)
    credited = CreditAuthor(network=author.network, handle=author.handle, name=author.name, uid=author.uid)
    name = author.name
    if post.credit:  # a reviewer's: the collector could not tell who took the photo
        given = reviewer_credit(post.credit)
        credited, credit = given.author, given.line(publisher.network)
        name = "" if given.author else given.text
    elif post.needs_credit:
        raise ValueError("no credit: approve it with --credit")  # publishable() refuses earlier; never post uncredited
    else:
        credit = credit_line(credited, publisher.network, source_host=source.host if source else "")
    # X charges ~13x for a post with a link: there the original is linked only with link_original = true.
    links = getattr(publisher, "link_original", True)
    if post.license:  # licensed work (Flickr): the licence's attribution (title, author, licence), the link follows
        credit = attribution(post.title, name or credit, None, post.license, post.license_url if links else None)
    template = settings.channels[channel].template or settings.publish.template
    limits = publisher.limits()
    text = compose(template, CreditInput(caption=post.caption if post.caption is not None else post.text,
                                         credit=credit, url=post.url if links else "", hashtags=settings.hashtags,
                                         author_name=name), limits)
    max_bytes, max_pixels = publisher.image_limits()
    images = []
    media = session.exec(select(Media).where(Media.post_id == post.id, Media.state == MediaState.OK).order_by(Media.position))
    for m in list(media)[: limits.max_media]:
        data, mime = prepare_for_upload(store.read(m.path), max_bytes=max_bytes, max_pixels=max_pixels)
        width, height = image_size(data)
        images.append(UploadImage(data=data, mime=mime, alt=(m.alt_text or "").strip() or settings.publish.alt_fallback,
                                  width=width, height=height))
    return PublishRequest(text=text, images=images, idempotency_key=idempotency_key(post, channel),
                          original_url=post.url, sensitive=post.sensitive, spoiler_text=post.spoiler_text,
                          language=post.language, visibility=settings.publish.visibility, author=credited)


def publish(db: Database, settings: Settings, store: MediaStore, publishers: dict[str, Publisher],
            origins: dict[str, OriginSource], report: RunReport, *, dry_run: bool = False,
            on_item: Callable[[Planned], None] | None = None, http: Http | None = None) -> list[Planned]:
    """Publish every due approved item to each of its channels, within each channel's daily cap."""
    tz = ZoneInfo(settings.timezone)
    plans: list[Planned] = []
    run = _Run(db, settings, store, origins, report, http, dry_run)
    for channel, publisher in publishers.items():
        cap = settings.channels[channel].daily_cap
        cap = settings.publish.daily_cap if cap is None else cap
        with db.session() as session:
            due = _due(session, channel)
        for post_id in due:
            with db.session() as session:
                if _used_today(session, channel, tz) >= cap:
                    report.warnings.append(f"{channel}: daily cap of {cap} reached; the rest waits for tomorrow")
                    break
            plan = run.one(publisher, post_id, channel)
            if plan:
                plans.append(plan)
                if on_item:
                    on_item(plan)
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
        stats = self.report.channel(channel)
        try:
            with self.db.session() as session:
                post = session.get(Post, post_id)
                why = publishable(session, self.settings, post, channel)
                if why:
                    raise Refused(why)
                request = _request(session, self.settings, self.store, publisher, post, channel)
                decided = last_decision(session, post_id)
                pub = session.exec(select(Publication).where(Publication.post_id == post_id,
                                                             Publication.channel == channel)).first()
            if pub and pub.attempts and not self.dry_run:  # interrupted: posted already? then only record it
                found = publisher.find_existing(replace(request, planned_at=pub.created_at))
                if found:
                    record(self.db, self.settings, pub, remote_id=found.remote_id, url=found.url)
                    stats.published += 1
                    return _plan(request, post_id, channel, "published", found.url)
            if not self._origin_agrees(post, channel):
                return None
        except (PlatformError, RefusedImage, ValueError, OSError) as exc:
            stats.errors.append(f"item #{post_id} → {channel}: {getattr(exc, 'reason', None) or exc}")
            return None
        plan = _plan(request, post_id, channel)
        if self.dry_run:
            return plan
        taken = claim(self.db, self.settings, post_id, channel, key=request.idempotency_key, text=request.text,
                      decided=decided)
        request = replace(request, planned_at=taken.publication.created_at)
        try:
            result = (publisher.find_existing(request) if taken.retry else None) or publisher.publish(request)
        except PlatformError as exc:
            record(self.db, self.settings, taken.publication, error=str(exc),
                   give_up=taken.publication.attempts >= MAX_ATTEMPTS, not_created=isinstance(exc, NotCreated))
            stats.errors.append(f"item #{post_id} → {channel}: {exc}")
            plan.result = "failed"
            return plan
        record(self.db, self.settings, taken.publication, remote_id=result.remote_id, url=result.url)
        stats.published += 1
        plan.result, plan.url = "published", result.url
        return plan

    def _origin_agrees(self, post: Post, channel: str) -> bool:
        """Ask the origin; act on deleted (reject) and disagreement (back to review); unconfirmed waits a run."""
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


def _plan(request: PublishRequest, post_id: int, channel: str, result: str = "planned", url: str | None = None) -> Planned:
    return Planned(item=post_id, channel=channel, text=request.text, idempotency_key=request.idempotency_key,
                   images=[{"mime": i.mime, "bytes": len(i.data), "alt": i.alt} for i in request.images],
                   result=result, url=url)

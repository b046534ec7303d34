"""The publish stage: approved items → reposts, never twice, even if killed at any moment.

Order per item and channel: write the Publication row (with its idempotency key) and commit;
count the attempt and commit; call the platform; record the remote id and commit. A rerun that
finds an attempted row first looks for the repost on our own timeline, then retries with the
same Idempotency-Key, so neither a crash nor a lost answer makes a second post.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from collector.base import Collector, OriginClaim
from collector.media import MediaStore
from core.db import Database
from core.errors import PlatformError
from core.images import RefusedImage, image_size, prepare_for_upload
from core.models import Author, Decision, Media, MediaState, Post, PubState, Publication, Status, utcnow
from core.report import RunReport
from core.settings import Settings
from curation.queue import SYSTEM_ACTOR, licence_problem, transition
from publisher.base import Publisher, PublishRequest, UploadImage
from publisher.licenses import attribution
from publisher.credit import CreditAuthor, CreditInput, compose, credit_line

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


def _due(session: Session, channel: str) -> list[Post]:
    done = select(Publication.post_id).where(Publication.channel == channel, Publication.state != PubState.PENDING)
    posts = session.exec(select(Post).where(Post.status == Status.APPROVED, col(Post.id).not_in(done)).order_by(Post.id))
    return [p for p in posts if not p.targets or channel in p.targets]


def _request(session: Session, settings: Settings, store: MediaStore, publisher: Publisher, post: Post,
             channel: str) -> PublishRequest:
    author = session.get(Author, post.author_id)
    source = settings.channels.get(post.channel)
    credited = CreditAuthor(network=author.network, handle=author.handle, name=author.name, uid=author.uid)
    credit = credit_line(credited, publisher.network, source_host=source.host if source else "")
    if post.license:  # licensed work (Flickr): the licence's attribution (title, author, licence), the link follows
        credit = attribution(post.title, author.name or credit, None, post.license, post.license_url)
    template = settings.channels[channel].template or settings.publish.template
    limits = publisher.limits()
    text = compose(template, CreditInput(caption=post.caption if post.caption is not None else post.text,
                                         credit=credit, url=post.url, hashtags=settings.hashtags,
                                         author_name=author.name), limits)
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
            collectors: dict[str, Collector], report: RunReport, *, dry_run: bool = False,
            on_item: Callable[[Planned], None] | None = None) -> list[Planned]:
    """Publish every due approved item to each of its channels, within each channel's daily cap."""
    tz = ZoneInfo(settings.timezone)
    plans: list[Planned] = []
    for channel, publisher in publishers.items():
        cap = settings.channels[channel].daily_cap
        cap = settings.publish.daily_cap if cap is None else cap
        with db.session() as session:
            for post in _due(session, channel):
                if _used_today(session, channel, tz) >= cap:
                    report.warnings.append(f"{channel}: daily cap of {cap} reached; the rest waits for tomorrow")
                    break
                plan = _one(session, settings, store, publisher, collectors, post, channel, report, dry_run)
                if plan:
                    plans.append(plan)
                    if on_item:
                        on_item(plan)
    return plans


def _claim(session: Session, post: Post) -> OriginClaim:
    """What we are about to credit, as stored, for the origin to confirm."""
    author = session.get(Author, post.author_id)
    media = session.exec(select(Media).where(Media.post_id == post.id).order_by(Media.position))
    urls = tuple(u for m in media for u in (m.url, m.remote_url) if u)
    return OriginClaim(key=post.key, remote_id=post.remote_id, url=post.url, author_handle=author.handle,
                       author_uid=author.uid, media_urls=urls)


def _forced(session: Session, post: Post) -> bool:
    """Whether a person approved this item past the licence gate (with a recorded reason)."""
    last = session.exec(select(Decision).where(Decision.post_id == post.id, col(Decision.action).like("approve%"))
                        .order_by(col(Decision.at).desc(), col(Decision.id).desc())).first()
    return last is not None and last.action == "approve-forced"


def _one(session: Session, settings: Settings, store: MediaStore, publisher: Publisher,
         collectors: dict[str, Collector], post: Post, channel: str, report: RunReport, dry_run: bool) -> Planned | None:
    stats = report.channel(channel)
    problem = licence_problem(post, settings, [channel]) if post.license else None
    if problem and not _forced(session, post):  # approved for other channels, or the policy changed since
        report.warnings.append(f"item #{post.id} → {channel}: needs permission ({problem}); not reposted there")
        return None
    try:
        source = collectors.get(post.channel)
        if source is not None and source.verify(_claim(session, post)).deleted:
            report.warnings.append(f"item #{post.id}: the original was deleted at its source; not reposted")
            if not dry_run:
                transition(session, post, Status.REJECTED, actor=SYSTEM_ACTOR, action="auto-reject",
                           reason="deleted at its source before we reposted it")
                session.commit()
            return None
        request = _request(session, settings, store, publisher, post, channel)
    except (PlatformError, RefusedImage, ValueError, OSError) as exc:
        stats.errors.append(f"item #{post.id} → {channel}: {getattr(exc, 'reason', None) or exc}")
        return None
    plan = Planned(item=post.id, channel=channel, text=request.text, idempotency_key=request.idempotency_key,
                   images=[{"mime": i.mime, "bytes": len(i.data), "alt": i.alt} for i in request.images])
    if dry_run:
        return plan
    pub = session.exec(select(Publication).where(Publication.post_id == post.id, Publication.channel == channel)).first()
    if pub is None:
        pub = Publication(post_id=post.id, channel=channel, idempotency_key=request.idempotency_key, text=request.text)
        session.add(pub)
        session.commit()
    request = replace(request, planned_at=pub.created_at)
    try:
        found = publisher.find_existing(request) if pub.attempts else None
        pub.attempts += 1
        session.add(pub)
        session.commit()
        result = found or publisher.publish(request)
    except PlatformError as exc:
        pub.error = str(exc)
        pub.state = PubState.FAILED if pub.attempts >= MAX_ATTEMPTS else PubState.PENDING
        session.add(pub)
        session.commit()
        stats.errors.append(f"item #{post.id} → {channel}: {exc}")
        plan.result = "failed"
        return plan
    pub.state, pub.remote_id, pub.remote_url, pub.published_at, pub.error = (
        PubState.PUBLISHED, result.remote_id, result.url, utcnow(), None)
    session.add(pub)
    published = set(session.exec(select(Publication.channel).where(
        Publication.post_id == post.id, Publication.state == PubState.PUBLISHED)))
    wanted = set(post.targets) or {n for n, ch in settings.channels.items() if ch.publish}
    if wanted <= published:
        transition(session, post, Status.PUBLISHED, actor=SYSTEM_ACTOR, action="publish", reason=result.url)
    session.commit()
    stats.published += 1
    plan.result, plan.url = "published", result.url
    return plan

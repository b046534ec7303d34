"""The collect stage: pages from each channel into the database, then images into the media store."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy import delete, literal, or_
from sqlmodel import Session, col, select

from collector.base import Collector
from collector.media import Fetched, fetch_all
from collector.signals import account_asks, ask_first_for_stored, ask_first_new, decide
from core.media import MediaStore
from core.bounds import EARLIEST, Skip, bound_post, bound_watermark
from core.db import Database
from core.denylist import FORGOTTEN, denied_authors
from core.decisions import PERSON_ACTIONS, SYSTEM_ACTOR
from core.errors import PlatformError
from core.fingerprints import record_hashes
from core.http import Http
from core.models import Author, Cursor, Decision, ImageMatch, Media, MediaState, Post, Publication, Status, utcnow
from core.optout import OPTED_OUT, opted_out, remember_ids
from core.posts import Page, PostData
from core.redact import redact, secrets_of
from core.report import ChannelReport, RunReport
from core.settings import ConsentSettings, Settings
from platforms.registry import PLATFORMS

log = logging.getLogger(__name__)

MAX_DOWNLOAD_ATTEMPTS = 3
ERROR_MAX = 500  # characters of an unexpected exception's message kept in the report


def _own(settings: Settings, session: Session) -> tuple[set[str], set[str]]:
    """Our own accounts and the URLs of our own reposts, which must never become candidates."""
    handles = {h.lower().lstrip("@") for h in settings.rules.own_accounts}
    urls = set(session.exec(select(Publication.remote_url).where(col(Publication.remote_url).is_not(None))))
    return handles, urls


def _authors(session: Session, posts: list[PostData]) -> dict[str, Author]:
    """The authors of these posts, created or refreshed (names and profile URLs change)."""
    wanted = {d.author.key: d.author for d in posts}
    found = {a.key: a for a in session.exec(select(Author).where(col(Author.key).in_(list(wanted))))}
    for key, a in wanted.items():
        author = found.get(key)
        if author is None:
            found[key] = Author(key=key, network=a.network, handle=a.handle, name=a.name, profile_url=a.profile_url,
                                uid=a.uid)
            session.add(found[key])
        elif a.authoritative and (author.handle, author.name, author.profile_url) != (a.handle, a.name, a.profile_url):
            author.handle, author.name, author.profile_url = a.handle, a.name, a.profile_url
            session.add(author)
    session.flush()
    return found


def _columns(d: PostData, author_id: int) -> dict:
    """A post's columns as the platform describes it (everything but its key, channel and review state)."""
    return dict(remote_id=d.remote_id, url=d.url, author_id=author_id, text=d.text, language=d.language,
                sensitive=d.sensitive, spoiler_text=d.spoiler_text, license=d.license, license_url=d.license_url,
                title=d.title, created_at=d.created_at, needs_credit=d.needs_credit, reasons=list(d.flags))


def _media_rows(post_id: int, d: PostData) -> list[Media]:
    return [Media(post_id=post_id, position=position, url=m.url, remote_url=m.remote_url, alt_text=m.alt_text,
                  width=m.width, height=m.height) for position, m in enumerate(d.images)]


def _insert(session: Session, channel: str, platform: str, posts: list[PostData]) -> None:
    authors = _authors(session, posts)
    rows = [Post(key=d.key, channel=channel, platform=platform, **_columns(d, authors[d.author.key].id)) for d in posts]
    session.add_all(rows)
    session.flush()
    session.add_all(m for row, d in zip(rows, posts, strict=True) for m in _media_rows(row.id, d))
    session.flush()


def _prefer_origin(session: Session, channel: str, platform: str, data: PostData) -> str | None:
    """Replace the copy another channel stored first with the origin's, unless a person decided on it; its channel."""
    # Any instance can serve any uri under any acct (issue 8): its copy must not make the real post "already seen",
    # even once wlb itself queued, merged or rejected it (a forged copy with a tiny image is auto-rejected). Only a
    # copy from the author's own instance (AuthorData.authoritative) does this, and only if link, date or images differ.
    row = session.exec(select(Post).where(Post.key == data.key).with_for_update()).first()
    if row is None or row.channel == channel or row.status in (Status.APPROVED, Status.PUBLISHED):
        return None
    if session.exec(select(Decision.id).where(Decision.post_id == row.id,
                                              col(Decision.action).in_(PERSON_ACTIONS))).first() \
            or session.exec(select(Publication.id).where(Publication.post_id == row.id)).first():
        return None
    media = list(session.exec(select(Media).where(Media.post_id == row.id).order_by(col(Media.position))))
    if (row.url, row.created_at, [m.url for m in media]) == (data.url, data.created_at, [m.url for m in data.images]):
        return None
    previous = row.channel
    # Matches were computed against images the origin does not serve; the copy is curated again from new.
    session.exec(delete(ImageMatch).where(or_(col(ImageMatch.post_id) == row.id, col(ImageMatch.other_id) == row.id)))
    for m in media:
        session.delete(m)
    session.flush()
    reason = f"the copy channel {previous!r} served first differs from its origin's, which replaces it"
    session.add(Decision(post_id=row.id, action="origin-copy", from_status=row.status, to_status=Status.NEW,
                         actor=SYSTEM_ACTOR, reason=reason))
    for name, value in _columns(data, _authors(session, [data])[data.author.key].id).items():
        setattr(row, name, value)
    row.channel, row.platform, row.status, row.duplicate_of = channel, platform, Status.NEW, None
    row.reasons = [*row.reasons, reason]
    session.add(row)
    session.flush()
    session.add_all(_media_rows(row.id, data))
    session.flush()
    return previous


def _bounded(posts: list[PostData], platform: str, now: datetime, report: ChannelReport) -> list[PostData]:
    """The posts that fit the database, bounded (core.bounds); the others counted as skipped, with their reason."""
    kept, launched = [], PLATFORMS[platform].launched if platform in PLATFORMS else EARLIEST
    for data in posts:
        try:
            kept.append(bound_post(data, platform, now, launched=launched))
        except Skip as exc:
            report.skipped[str(exc)] += 1
    return kept


def _who(data: PostData) -> tuple[str, str, str | None]:
    return data.author.network, data.author.handle, data.author.uid


def store_page(session: Session, channel: str, tag: str, platform: str, page: Page,
               own: tuple[set[str], set[str]], report: ChannelReport, settings: Settings | None = None) -> None:
    """Insert the page's new posts and advance the watermark in the same transaction; then let the authors' opt-out
    signals reach what is stored of theirs (`settings`: the [consent] switches; None: the defaults)."""
    own_handles, own_urls = own
    consent = settings.consent if settings else ConsentSettings()
    fresh: dict[str, PostData] = {}
    asks: dict[str, list[str]] = {}
    posts = _bounded(page.posts, platform, utcnow(), report)
    forgotten = denied_authors(session, {v for d in posts for v in (d.author.key, d.author.uid) if v})
    stopped = opted_out(session, {_who(d) for d in posts})
    remember_ids(session, stopped, actor=SYSTEM_ACTOR)
    for data in posts:
        skip, ask = decide(data, consent)
        if data.author.handle.lower() in own_handles or data.url in own_urls or data.key in own_urls:
            report.skipped["own account or repost"] += 1
        elif forgotten and (data.author.key in forgotten or data.author.uid in forgotten):
            report.skipped[FORGOTTEN] += 1  # wlb forget: never stored again, on any platform
        elif _who(data) in stopped:
            report.skipped[OPTED_OUT] += 1  # wlb optout: never collected again, on any linked handle
        elif skip:
            report.skipped[skip] += 1
        else:
            fresh.setdefault(data.key, data)
            asks[data.key] = ask
    rows = session.exec(select(Post.key, Post.channel).where(col(Post.key).in_(list(fresh)))) if fresh else []
    known = {key: stored_by for key, stored_by in rows}
    new = [d for key, d in fresh.items() if key not in known]
    for data in (d for key, d in fresh.items() if known.get(key, channel) != channel and d.author.authoritative):
        with session.begin_nested():
            replaced = _prefer_origin(session, channel, platform, data)
        if replaced:
            del known[data.key]
            report.new_posts += 1
            report.warnings.append(f"{data.url}: channel {replaced!r} had served a copy its origin does not serve "
                                   f"(another link, date or image); the origin's copy replaces it")
    report.known_posts += sum(key in known for key in fresh)
    try:
        with session.begin_nested():
            _insert(session, channel, platform, new)
        report.new_posts += len(new)
        inserted = new
    except IntegrityError:  # another process stored some of them a moment ago: go one by one
        inserted = []
        for data in new:
            try:
                with session.begin_nested():
                    _insert(session, channel, platform, [data])
                report.new_posts += 1
                inserted.append(data)
            except IntegrityError:
                report.known_posts += 1
    ask_first_new(session, {d.key: asks[d.key] for d in inserted if asks.get(d.key)})
    watermark = bound_watermark(page.watermark)
    if page.watermark and not watermark:
        report.skipped["watermark not stored (too long or malformed)"] += 1
    if watermark:
        cursor = session.get(Cursor, (channel, tag)) or Cursor(channel=channel, hashtag=tag, watermark=watermark)
        cursor.watermark, cursor.updated_at = watermark, utcnow()
        session.add(cursor)
    session.commit()
    signalled = {d.author.key: whats for d in posts if _who(d) not in stopped and (whats := account_asks(d, consent))}
    if signalled:
        report.warnings.extend(ask_first_for_stored(session, signalled))


def collect_channel(db: Database, settings: Settings, name: str, collector: Collector, report: ChannelReport) -> None:
    """Collect every hashtag of one channel; any error stops this channel only, and is reported."""
    platform = settings.channels[name].kind
    cap = settings.collect.max_pages_per_run
    for tag in settings.channel_hashtags(name):
        with db.session() as session:
            own = _own(settings, session)
            cursor = session.get(Cursor, (name, tag))
            watermark = cursor.watermark if cursor else None
            pages = None
            try:
                pages = collector.pages(tag, watermark)
                for count, page in enumerate(pages, 1):
                    report.fetched += page.fetched
                    report.requests += page.requests
                    report.skipped.update(page.skipped)
                    report.cost += page.cost
                    report.warnings.extend(page.warnings)
                    store_page(session, name, tag, platform, page, own, report, settings)
                    if count >= cap:
                        report.warnings.append(f"#{tag}: stopped after {cap} pages (collect.max_pages_per_run); "
                                               f"the rest is collected on the next run")
                        break
            except PlatformError as exc:
                session.rollback()
                report.errors.append(redact(str(exc), secrets_of(settings)))
                return
            except Exception as exc:  # noqa: BLE001 - whatever one channel's server sends must not stop the run
                session.rollback()
                log.debug("channel %s failed", name, exc_info=True)
                message = " ".join(str(exc).split())[:ERROR_MAX]
                report.errors.append(redact(f"#{tag}: unexpected {type(exc).__name__}"
                                            + (f": {message}" if message else "")
                                            + "; the other channels went on; please report it", secrets_of(settings)))
                return
            finally:
                close = getattr(pages, "close", None)
                if close:
                    close()  # a generator stopped at the cap releases its connection now


COMMIT_EVERY = 64  # download results per transaction: fewer commits, and a kill loses at most a few downloads


def pending_media():
    """Every image still to download, with its item's channel: read through the partial index ix_media_pending."""
    # The state as a literal, not a parameter: a generic PostgreSQL plan cannot prove `state = $1` matches the index.
    return select(Media, Post.channel).join(Post).where(Media.state == literal(MediaState.PENDING.value, literal_execute=True))


def download_pending(db: Database, settings: Settings, http: Http, store: MediaStore, report: RunReport,
                     on_start: Callable[[int], None] | None = None,
                     on_done: Callable[[Fetched], None] | None = None) -> int:
    """Fetch every image still pending (new ones and earlier failures); return how many were tried."""
    net = settings.network
    with db.session() as session:
        rows = session.exec(pending_media()).all()
        media = {m.id: (m, channel) for m, channel in rows}
        jobs = [(m.id, [u for u in (m.url, m.remote_url) if u]) for m, _ in rows]
        if on_start:
            on_start(len(jobs))
        results = fetch_all(http, store, jobs, concurrency=net.download_concurrency, max_bytes=net.max_media_bytes,
                            max_pixels=net.max_pixels, on_done=on_done)
        for done, result in enumerate(results, 1):
            row, channel = media[result.media_id]
            _record(row, result, report.channel(channel))
            session.add(row)
            if done % COMMIT_EVERY == 0:
                session.commit()
        session.commit()
    return len(jobs)


def _record(media: Media, result: Fetched, report: ChannelReport) -> None:
    if result.sha256 and result.info:
        media.state, media.sha256, media.path = MediaState.OK, result.sha256, result.path
        media.width, media.height, media.format, media.bytes = (result.info.width, result.info.height,
                                                                result.info.format, result.size)
        if result.hashes:
            record_hashes(media, result.hashes)
        report.downloaded += 1
    elif result.refused:
        media.state, media.refused_reason = MediaState.REFUSED, result.refused
        report.refused.append(f"{media.url}: {result.refused}")
    else:
        media.attempts += 1
        if media.attempts >= MAX_DOWNLOAD_ATTEMPTS:
            media.state = MediaState.REFUSED
            media.refused_reason = f"could not download after {media.attempts} attempts: {result.failed}"
            report.refused.append(f"{media.url}: {media.refused_reason}")
        else:
            report.errors.append(f"download failed, will retry next run: {result.failed}")

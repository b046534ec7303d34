"""The collect stage: pages from each channel into the database, then images into the media store."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from collector.base import Collector
from collector.media import Fetched, MediaStore, fetch_all
from core.db import Database
from core.errors import PlatformError
from core.http import Http
from core.models import Author, Cursor, Media, MediaState, Post, Publication, utcnow
from core.posts import Page, PostData
from core.report import ChannelReport, RunReport
from core.settings import Settings

MAX_DOWNLOAD_ATTEMPTS = 3


def _own(settings: Settings, session: Session) -> tuple[set[str], set[str]]:
    """Our own accounts and the URLs of our own reposts, which must never become candidates."""
    handles = {h.lower().lstrip("@") for h in settings.rules.own_accounts}
    urls = set(session.exec(select(Publication.remote_url).where(col(Publication.remote_url).is_not(None))))
    return handles, urls


def _author(session: Session, data: PostData) -> Author:
    a = data.author
    found = session.exec(select(Author).where(Author.key == a.key)).first()
    if found:
        if (found.name, found.profile_url) != (a.name, a.profile_url):
            found.name, found.profile_url = a.name, a.profile_url
            session.add(found)
        return found
    author = Author(key=a.key, network=a.network, handle=a.handle, name=a.name, profile_url=a.profile_url)
    session.add(author)
    session.flush()
    return author


def store_page(session: Session, channel: str, tag: str, platform: str, page: Page,
               own: tuple[set[str], set[str]], report: ChannelReport) -> None:
    """Insert the page's new posts and advance the watermark in the same transaction."""
    own_handles, own_urls = own
    for data in page.posts:
        if data.author.handle.lower() in own_handles or data.url in own_urls or data.key in own_urls:
            report.skipped["own account or repost"] += 1
            continue
        if session.exec(select(Post.id).where(Post.key == data.key)).first():
            report.known_posts += 1
            continue
        try:
            with session.begin_nested():
                post = Post(key=data.key, channel=channel, platform=platform, remote_id=data.remote_id, url=data.url,
                            author_id=_author(session, data).id, text=data.text, language=data.language,
                            sensitive=data.sensitive, spoiler_text=data.spoiler_text, license=data.license,
                            created_at=data.created_at)
                session.add(post)
                session.flush()
                for position, m in enumerate(data.images):
                    session.add(Media(post_id=post.id, position=position, url=m.url, remote_url=m.remote_url,
                                      alt_text=m.alt_text, width=m.width, height=m.height))
            report.new_posts += 1
        except IntegrityError:  # another process stored the same post a moment ago
            report.known_posts += 1
    if page.watermark:
        cursor = session.get(Cursor, (channel, tag)) or Cursor(channel=channel, hashtag=tag, watermark=page.watermark)
        cursor.watermark, cursor.updated_at = page.watermark, utcnow()
        session.add(cursor)
    session.commit()


def collect_channel(db: Database, settings: Settings, name: str, collector: Collector, report: ChannelReport,
                    on_page: Callable[[Page], None] | None = None) -> None:
    """Collect every hashtag of one channel; a platform error stops this channel only."""
    platform = settings.channels[name].kind
    for tag in settings.channel_hashtags(name):
        with db.session() as session:
            own = _own(settings, session)
            cursor = session.get(Cursor, (name, tag))
            watermark = cursor.watermark if cursor else None
            try:
                for page in collector.pages(tag, watermark):
                    report.fetched += page.fetched
                    report.requests += page.requests
                    report.skipped.update(page.skipped)
                    store_page(session, name, tag, platform, page, own, report)
                    if on_page:
                        on_page(page)
            except PlatformError as exc:
                session.rollback()
                report.errors.append(str(exc))
                return


def download_pending(db: Database, settings: Settings, http: Http, store: MediaStore, report: RunReport,
                     on_start: Callable[[int], None] | None = None,
                     on_done: Callable[[Fetched], None] | None = None) -> int:
    """Fetch every image still pending (new ones and earlier failures); return how many were tried."""
    with db.session() as session:
        rows = session.exec(select(Media, Post.channel).join(Post).where(Media.state == MediaState.PENDING)).all()
        jobs = [(m.id, [u for u in (m.url, m.remote_url) if u]) for m, _ in rows]
        channel_of = {m.id: channel for m, channel in rows}
    if on_start:
        on_start(len(jobs))
    net = settings.network
    for result in fetch_all(http, store, jobs, concurrency=net.download_concurrency, max_bytes=net.max_media_bytes,
                            max_pixels=net.max_pixels, on_done=on_done):
        _record(db, result, report.channel(channel_of[result.media_id]))
    return len(jobs)


def _record(db: Database, result: Fetched, report: ChannelReport) -> None:
    with db.session() as session:
        media = session.get(Media, result.media_id)
        if result.sha256 and result.info:
            media.state, media.sha256, media.path = MediaState.OK, result.sha256, result.path
            media.width, media.height, media.format, media.bytes = (result.info.width, result.info.height,
                                                                    result.info.format, result.size)
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
        session.add(media)
        session.commit()

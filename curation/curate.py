"""The curate stage: hash new images, merge duplicates, apply the rules, queue the rest."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session, col, select

from collector.media import MediaStore
from core.db import Database
from core.images import RefusedImage
from core.models import Author, Media, MediaState, Post, Status
from core.report import RunReport
from core.settings import Settings
from curation.hashing import ImageHashes, hash_image
from curation.index import HashIndex
from curation.queue import SYSTEM_ACTOR, transition
from curation.rules import check_rules

COMMIT_EVERY = 100  # items per transaction; a kill leaves the rest `new`, and the next run curates them

# Items a person (or publishing) already decided on keep their status when an earlier copy shows up.
DECIDED = {Status.APPROVED, Status.PUBLISHED, Status.REJECTED}


def load_index(session: Session) -> HashIndex:
    """Every hashed image of every curated item, whatever its status (rejected and published included)."""
    index = HashIndex()
    rows = session.exec(
        select(Media.post_id, Media.id, Media.sha256, Media.phash, Media.dhash).join(Post)
        .where(col(Media.phash).is_not(None), Post.status != Status.NEW)
    )
    index.add_many(rows)
    return index


def _hashes(session: Session, store: MediaStore, media: Media) -> ImageHashes:
    if media.phash is None:
        computed = hash_image(store.read(media.path))
        media.phash, media.dhash = computed.phash, computed.dhash
        session.add(media)
    return ImageHashes(sha256=media.sha256, phash=media.phash, dhash=media.dhash)


def _root(session: Session, post: Post) -> Post:
    """Follow duplicate_of links to the canonical item."""
    seen = {post.id}
    while post.duplicate_of and post.duplicate_of not in seen:
        seen.add(post.duplicate_of)
        post = session.get(Post, post.duplicate_of)
    return post


def _candidates(session: Session, index: HashIndex, post: Post, hashes: list[ImageHashes], settings: Settings) -> list[Post]:
    """Canonical items that hold a match for every image of this post."""
    common: set[int] | None = None
    for h in hashes:
        found = {m.post_id for m in index.matches(h, phash_distance=settings.dedup.phash_distance,
                                                  dhash_distance=settings.dedup.dhash_distance)} - {post.id}
        common = found if common is None else common & found
    roots = {_root(session, session.get(Post, pid)).id for pid in common or ()}
    return sorted((session.get(Post, pid) for pid in roots - {post.id}), key=lambda p: (p.created_at, p.id))


def _merge(session: Session, post: Post, others: list[Post], report: RunReport) -> bool:
    """Link duplicates so the earliest-created copy is canonical; return whether `post` is a duplicate."""
    decided = [o for o in others if o.status in DECIDED]
    earliest = others[0]
    if decided and post.created_at < decided[0].created_at:
        target = decided[0]
        report.warnings.append(f"item #{post.id} is an earlier copy of #{target.id}, which is already {target.status}; "
                               f"check that #{target.id} credits the right photographer")
        transition(session, post, Status.DUPLICATE, actor=SYSTEM_ACTOR, action="auto-duplicate",
                   reason=f"earlier copy of #{target.id} (already {target.status})")
        post.duplicate_of = target.id
        return True
    if earliest.created_at <= post.created_at or decided:
        post.duplicate_of = earliest.id
        transition(session, post, Status.DUPLICATE, actor=SYSTEM_ACTOR, action="auto-duplicate",
                   reason=f"same photo as #{earliest.id}")
        return True
    for later in others:  # this post is older than every copy we had: it becomes canonical
        for child in session.exec(select(Post).where(Post.duplicate_of == later.id)):
            child.duplicate_of = post.id
            session.add(child)
        later.duplicate_of = post.id
        report.channel(later.channel).duplicates += 1
        transition(session, later, Status.DUPLICATE, actor=SYSTEM_ACTOR, action="auto-duplicate",
                   reason=f"same photo as #{post.id}, posted earlier")
    return False


def curate(db: Database, settings: Settings, store: MediaStore, report: RunReport,
           on_start: Callable[[int], None] | None = None, on_item: Callable[[Post], None] | None = None) -> int:
    """Decide every new item whose images are all downloaded or refused; return how many were decided."""
    with db.session() as session:
        waiting = select(Media.post_id).where(Media.state == MediaState.PENDING)
        posts = list(session.exec(select(Post).where(Post.status == Status.NEW, col(Post.id).not_in(waiting))
                                  .order_by(Post.created_at, Post.id)))
        index = load_index(session)
        if on_start:
            on_start(len(posts))
        for done, post in enumerate(posts, 1):
            _curate_one(session, store, index, post, settings, report)
            if done % COMMIT_EVERY == 0:
                session.commit()
            if on_item:
                on_item(post)
        session.commit()
        return len(posts)


def _usable(session: Session, store: MediaStore, media: list[Media]) -> list[tuple[Media, ImageHashes]]:
    """Downloaded images with their hashes; a stored file that went bad since download is refused."""
    usable = []
    for m in media:
        if m.state != MediaState.OK:
            continue
        try:
            usable.append((m, _hashes(session, store, m)))
        except (RefusedImage, OSError) as exc:
            m.state, m.refused_reason = MediaState.REFUSED, f"stored image unreadable: {getattr(exc, 'reason', exc)}"
            session.add(m)
    return usable


def _curate_one(session: Session, store: MediaStore, index: HashIndex, post: Post, settings: Settings,
                report: RunReport) -> None:
    channel = report.channel(post.channel)
    media = list(session.exec(select(Media).where(Media.post_id == post.id).order_by(Media.position)))
    usable = _usable(session, store, media)
    if not usable:
        why = "; ".join(m.refused_reason or "refused" for m in media) or "no images"
        transition(session, post, Status.REJECTED, actor=SYSTEM_ACTOR, action="auto-reject", reason=f"no usable image: {why}")
        channel.rejected += 1
        return
    others = _candidates(session, index, post, [h for _, h in usable], settings)
    for m, h in usable:
        index.add(post.id, m.id, h)
    if others and _merge(session, post, others, report):
        channel.duplicates += 1
        return
    author = session.get(Author, post.author_id)
    reasons = check_rules(settings.rules, author=author.handle, text=post.text, spoiler_text=post.spoiler_text,
                          sensitive=post.sensitive, language=post.language, sizes=[(m.width, m.height) for m, _ in usable])
    if reasons:
        transition(session, post, Status.REJECTED, actor=SYSTEM_ACTOR, action="auto-reject", reason="; ".join(reasons))
        channel.rejected += 1
    else:
        transition(session, post, Status.PENDING, actor=SYSTEM_ACTOR, action="queue")
        channel.pending += 1

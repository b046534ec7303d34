"""The curate stage: hash new images, merge duplicates, apply the rules, queue the rest."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, literal
from sqlmodel import Session, col, select

from core.media import MediaStore
from core.db import Database
from core.denylist import FORGOTTEN, denied_images, is_denied
from core.images import RefusedImage
from core.models import Author, ImageMatch, Media, MediaState, Post, Publication, Status, utcnow
from core.report import RunReport
from core.settings import DedupSettings, Settings
from core.fingerprints import HASH_VERSION, ImageHashes, hash_image, record_hashes, stored_hashes
from curation.index import AUTO, POSSIBLE, HashIndex, Match, Rules
from curation.index_store import StoredIndex
from curation.index_sync import open_index, save_index
from core.decisions import SYSTEM_ACTOR, transition
from curation.rules import check_rules

COMMIT_EVERY = 100  # items per transaction; a kill leaves the rest `new`, and the next run curates them

# Items a person (or publishing) already decided on keep their status when an earlier copy shows up.
DECIDED = {Status.APPROVED, Status.PUBLISHED, Status.REJECTED, Status.AWAITING, Status.NO_ANSWER}


def rules(dedup: DedupSettings) -> Rules:
    """The match rules for the configured distances."""
    return Rules(phash=dedup.phash_distance, dhash=dedup.dhash_distance, turned=dedup.mirror_distance,
                 possible_phash=dedup.possible_phash_distance, possible_dhash=dedup.possible_dhash_distance)


def load_index(session: Session) -> HashIndex:
    """Every hashed image of every curated item, whatever its status (rejected and published included)."""
    index = HashIndex()
    query = (select(Media.post_id, Media.id, Media.sha256, Media.hash_set, Media.phash, Media.dhash).join(Post)
             .where(col(Media.phash).is_not(None), Post.status != Status.NEW))
    # Plain rows in batches into numpy arrays: a million ORM objects would take seconds and gigabytes.
    result = session.connection().execute(query)
    while batch := result.fetchmany(20_000):
        index.add_many(batch)
    return index


def _hashes(session: Session, store: MediaStore, media: Media) -> ImageHashes:
    if media.hash_version != HASH_VERSION or media.phash is None:
        computed = hash_image(store.read(media.path))
        record_hashes(media, computed)
        session.add(media)
    return stored_hashes(media)


def _root(session: Session, post: Post) -> Post:
    """Follow duplicate_of links to the canonical item."""
    seen = {post.id}
    while post.duplicate_of and post.duplicate_of not in seen:
        seen.add(post.duplicate_of)
        post = session.get(Post, post.duplicate_of)
    return post


def _matches(index: HashIndex | StoredIndex, post: Post, hashes: list[ImageHashes], rules: Rules) -> list[dict[int, Match]]:
    """Per image of this post: the best match in each other item."""
    per_image = []
    for h in hashes:
        best: dict[int, Match] = {}
        for m in index.matches(h, rules):
            if m.post_id != post.id and m.post_id not in best:
                best[m.post_id] = m
        per_image.append(best)
    return per_image


def _published_on(session: Session, post: Post) -> datetime | None:
    return session.exec(select(func.max(Publication.published_at)).where(Publication.post_id == post.id)).one()


def _candidates(session: Session, post: Post, per_image: list[dict[int, Match]], settings: Settings,
                report: RunReport) -> tuple[list[Post], set[int]]:
    """Canonical items holding an automatic match for every image of this post; the ids of possible duplicates."""
    common = set.intersection(*({pid for pid, m in found.items() if m.tier == AUTO} for found in per_image))
    possible = {pid for found in per_image for pid in found} - common
    roots = {_root(session, session.get(Post, pid)).id for pid in common} - {post.id}
    others = sorted((session.get(Post, pid) for pid in roots), key=lambda p: (p.created_at, p.id))
    window = timedelta(days=30.44 * settings.dedup.republish_months)
    for other in list(others):
        published = _published_on(session, other) if other.status == Status.PUBLISHED else None
        if published and settings.dedup.republish_months and utcnow() - published > window:
            # Published long ago: reposting it again may be welcome, but a person decides.
            others.remove(other)
            possible.add(other.id)
            report.warnings.append(f"item #{post.id} is the same photo as #{other.id}, published on "
                                   f"{published:%Y-%m-%d}: queued for review as a possible duplicate")
    return others, possible


def _record(session: Session, post: Post, per_image: list[dict[int, Match]], media: list[Media],
            possible: set[int]) -> None:
    """One row per other item matched: the closest image pair, its rule and its tier."""
    def closeness(match: Match) -> tuple[bool, int]:
        return match.tier != AUTO, match.phash_distance + match.dhash_distance

    best: dict[int, tuple[Media, Match]] = {}
    for m, found in zip(media, per_image, strict=True):
        for pid, match in found.items():
            if pid not in best or closeness(match) < closeness(best[pid][1]):
                best[pid] = (m, match)
    for pid, (m, match) in best.items():
        tier = POSSIBLE if pid in possible else match.tier
        session.add(ImageMatch(post_id=post.id, other_id=pid, media_id=m.id, other_media_id=match.media_id,
                               rule=match.rule, tier=tier, phash_distance=match.phash_distance,
                               dhash_distance=match.dhash_distance))


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


def ready_posts():
    """New items none of whose images is still pending, oldest first (the partial index ix_media_pending)."""
    # The state as a literal, not a parameter: a generic PostgreSQL plan cannot prove `state = $1` matches the index.
    waiting = select(Media.post_id).where(Media.state == literal(MediaState.PENDING.value, literal_execute=True))
    return select(Post).where(Post.status == Status.NEW, col(Post.id).not_in(waiting)).order_by(Post.created_at, Post.id)


def curate(db: Database, settings: Settings, store: MediaStore, report: RunReport,
           on_start: Callable[[int], None] | None = None, on_item: Callable[[Post], None] | None = None) -> int:
    """Decide every new item whose images are all downloaded or refused; return how many were decided."""
    with db.session() as session:
        posts = list(session.exec(ready_posts()))
        index = open_index(session, settings.data_dir)  # the archive's hashes, memory-mapped, not reloaded
        match_rules = rules(settings.dedup)
        denied = denied_images(session)
        if on_start:
            on_start(len(posts))
        for done, post in enumerate(posts, 1):
            if not (denied and _forgotten(session, store, post, denied, settings, report)):
                _curate_one(session, store, index, match_rules, post, settings, report)
            if done % COMMIT_EVERY == 0:
                session.commit()
            if on_item:
                on_item(post)
        session.commit()
        save_index(session, index, settings.data_dir, [post.id for post in posts])
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


def _forgotten(session: Session, store: MediaStore, post: Post, denied: list, settings: Settings,
               report: RunReport) -> bool:
    """A photo on the deny-list `wlb forget` left (within the merge distance): rejected, whoever posts it again."""
    media = list(session.exec(select(Media).where(Media.post_id == post.id)))
    hit = any(is_denied(denied, h.phash, h.dhash, m.sha256, phash_limit=settings.dedup.phash_distance,
                        dhash_limit=settings.dedup.dhash_distance) for m, h in _usable(session, store, media))
    if hit:
        transition(session, post, Status.REJECTED, actor=SYSTEM_ACTOR, action="auto-reject", reason=FORGOTTEN)
        report.channel(post.channel).rejected += 1
        report.channel(post.channel).skipped[FORGOTTEN] += 1
    return hit


def _curate_one(session: Session, store: MediaStore, index: HashIndex | StoredIndex, match_rules: Rules, post: Post,
                settings: Settings, report: RunReport) -> None:
    channel = report.channel(post.channel)
    media = list(session.exec(select(Media).where(Media.post_id == post.id).order_by(Media.position)))
    usable = _usable(session, store, media)
    if not usable:
        why = "; ".join(m.refused_reason or "refused" for m in media) or "no images"
        transition(session, post, Status.REJECTED, actor=SYSTEM_ACTOR, action="auto-reject", reason=f"no usable image: {why}")
        channel.rejected += 1
        return
    per_image = _matches(index, post, [h for _, h in usable], match_rules)
    others, possible = _candidates(session, post, per_image, settings, report)
    _record(session, post, per_image, [m for m, _ in usable], possible)
    for m, h in usable:
        index.add(post.id, m.id, h)
    if others and _merge(session, post, others, report):
        channel.duplicates += 1
        return
    author = session.get(Author, post.author_id)
    text = f"{post.title}\n{post.text}" if post.title else post.text  # Flickr and feed titles are words too
    reasons = check_rules(settings.rules, author=author.handle, text=text, spoiler_text=post.spoiler_text,
                          sensitive=post.sensitive, language=post.language, sizes=[(m.width, m.height) for m, _ in usable])
    if reasons:
        transition(session, post, Status.REJECTED, actor=SYSTEM_ACTOR, action="auto-reject", reason="; ".join(reasons))
        channel.rejected += 1
    else:
        transition(session, post, Status.PENDING, actor=SYSTEM_ACTOR, action="queue")
        channel.pending += 1

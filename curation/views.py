"""Read-only views of queue items, as plain dicts for tables and --json."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime

from sqlalchemy import tuple_
from sqlmodel import Session, col, func, select

from core.media import MediaStore
from core.db import Database
from core.errors import UsageError
from core.settings import Settings
from core.models import POSSIBLE, Author, ImageMatch, Media, Post, Publication, Status
from core.hashbits import hash_hex
from core.credit import BARE_HANDLES, MAX_CREDIT
from core.decisions import history, licence_problem
from curation.asking import consent_summary
from curation.filters import ItemFilter, where
from platforms.registry import NETWORK_NAMES

PENDING = ItemFilter()  # every pending item
PAGE = 50  # `wlb queue` shows this many unless asked (--limit), newest first
_IN_CHUNK = 500  # ids per IN (...) list: SQLite allows 32,766 parameters in one statement
BATCH = 500  # items read, rendered and handed on at a time: memory stays flat however many match


# What a view shows of an image: plain rows of these columns, not ORM objects (or the hash blobs) per image.
_MEDIA_COLUMNS = (Media.id, Media.post_id, Media.url, Media.path, Media.state, Media.refused_reason, Media.width,
                  Media.height, Media.format, Media.bytes, Media.alt_text, Media.sha256, Media.phash, Media.dhash)


def _media(store: MediaStore, m) -> dict:
    """One image of a view, from a Media row or a row of _MEDIA_COLUMNS."""
    return {
        "id": m.id, "url": m.url, "path": str(store.path(m.path)) if m.path else None, "state": m.state,
        "refused_reason": m.refused_reason, "width": m.width, "height": m.height, "format": m.format,
        "bytes": m.bytes, "alt_text": m.alt_text, "sha256": m.sha256,
        "phash": hash_hex(m.phash) if m.phash is not None else None,
        "dhash": hash_hex(m.dhash) if m.dhash is not None else None,
    }


# How a duplicate rule reads in a sentence: "looks like #18 by @dirk, same photo, slightly cropped".
RULE_WORDS = {"same photo": "same photo", "framed": "same photo, framed differently",
              "edges edited": "same photo, edges edited (a watermark or sticker?)", "cropped": "same photo, slightly cropped",
              "mirrored": "same photo, mirrored", "rotated": "same photo, rotated", "same file": "the very same file"}


def match_note(other_id: int, handle: str, rule: str, tier: str, earlier: bool) -> str:
    """One duplicate relation in words, from the item's side."""
    words = RULE_WORDS.get(rule, rule)
    if tier == POSSIBLE:
        return f"looks like #{other_id} by @{handle}, {words}" + ("" if earlier else " (it came later)")
    return f"{'duplicate of' if earlier else 'has a re-post:'} #{other_id} by @{handle}, {words}"


def _posts_and_authors(session: Session, ids: Iterable[int]) -> dict[int, tuple[Post, Author]]:
    """Posts with their authors, read in one query per chunk of ids."""
    found = {}
    for chunk in _chunks(ids):
        rows = session.exec(select(Post, Author).join(Author, Author.id == Post.author_id).where(col(Post.id).in_(chunk)))
        found.update((p.id, (p, a)) for p, a in rows)
    return found


def _matches(session: Session, post: Post) -> list[dict]:
    """The items this one was matched with, either way round: rule, tier, distances, and the relation in words."""
    rows = list(session.exec(select(ImageMatch).where((ImageMatch.post_id == post.id) | (ImageMatch.other_id == post.id))
                             .order_by(ImageMatch.id)))
    others = _posts_and_authors(session, {r.other_id if r.post_id == post.id else r.post_id for r in rows})
    out = []
    for r in rows:
        other, author = others[r.other_id if r.post_id == post.id else r.post_id]
        earlier = r.post_id == post.id
        out.append({"id": other.id, "status": other.status, "rule": r.rule, "tier": r.tier,
                    "phash_distance": r.phash_distance, "dhash_distance": r.dhash_distance,
                    "earlier": earlier, "author": author.handle,
                    "note": match_note(other.id, author.handle, r.rule, r.tier, earlier)})
    return out


class _Loaded:
    """What item_view reads besides the post, fetched for many posts in a few queries instead of three per item."""

    def __init__(self) -> None:
        self.authors: dict[int, Author] = {}
        self.media: dict[int, list] = defaultdict(list)  # rows of _MEDIA_COLUMNS
        self.possible: dict[int, list[int]] = defaultdict(list)


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ids = list(ids)
    return (ids[i:i + _IN_CHUNK] for i in range(0, len(ids), _IN_CHUNK))


def _load(session: Session, posts: list[Post]) -> _Loaded:
    loaded = _Loaded()
    for ids in _chunks({p.author_id for p in posts}):
        loaded.authors.update((a.id, a) for a in session.exec(select(Author).where(col(Author.id).in_(ids))))
    for ids in _chunks(p.id for p in posts):
        for m in session.exec(select(*_MEDIA_COLUMNS).where(col(Media.post_id).in_(ids)).order_by(Media.post_id, Media.position)):
            loaded.media[m.post_id].append(m)
        for post_id, other_id in session.exec(select(ImageMatch.post_id, ImageMatch.other_id)
                                              .where(col(ImageMatch.post_id).in_(ids), ImageMatch.tier == POSSIBLE)
                                              .order_by(ImageMatch.post_id, ImageMatch.other_id)):
            loaded.possible[post_id].append(other_id)
    return loaded


def _as_credit(author: Author, platform: str) -> str | None:
    """How `wlb approve --credit` names this author for an item of `platform`, or None (no author known)."""
    handle = author.handle.strip().lstrip("@")
    if not handle or (author.uid or "").startswith("uncredited:"):
        return None
    if author.network == "fediverse" and "@" in handle:
        return f"@{handle}"
    if author.network == platform and platform in BARE_HANDLES:
        return f"@{handle}"
    where = NETWORK_NAMES.get(author.network, author.network)
    name = " ".join(author.name.split())
    text = f"{name} ({handle} on {where})" if name and name.lower() != handle.lower() else f"{handle} on {where}"
    return text.replace("@", " at ")[:MAX_CREDIT]  # a name carries no '@': a credit with one reads as a handle


def suggested_credits(session: Session, post: Post) -> list[dict]:
    """For an item no source could credit: the known authors of the copies it was matched with, for a person to
    confirm (a re-poster is not always the photographer)."""
    linked = {m.other_id if m.post_id == post.id else m.post_id for m in session.exec(
        select(ImageMatch).where((ImageMatch.post_id == post.id) | (ImageMatch.other_id == post.id)))}
    linked |= set(session.exec(select(Post.id).where(Post.duplicate_of == post.id)))
    linked |= {post.duplicate_of} if post.duplicate_of else set()
    found, rows = [], _posts_and_authors(session, linked - {post.id})
    for other in sorted(rows):
        row, author = rows[other]
        credit = _as_credit(author, post.platform) if not row.needs_credit else None
        if credit and credit not in (f["credit"] for f in found):
            found.append({"credit": credit, "from": other, "platform": row.platform, "url": row.url})
    return found


def item_view(session: Session, store: MediaStore, post: Post, *, full: bool = False,
              settings: Settings | None = None, loaded: _Loaded | None = None) -> dict:
    """One item as a dict; `loaded` holds its author, images and possible duplicates read for a whole page."""
    loaded = loaded or _load(session, [post])
    author = loaded.authors[post.author_id]
    media = loaded.media[post.id]
    view = {
        "id": post.id, "status": post.status, "channel": post.channel, "platform": post.platform,
        "post_url": post.url, "created_at": post.created_at.isoformat(), "collected_at": post.collected_at.isoformat(),
        "author": {"handle": author.handle, "name": author.name, "profile_url": author.profile_url},
        "text": post.text, "language": post.language, "sensitive": post.sensitive, "spoiler_text": post.spoiler_text,
        "license": post.license, "license_url": post.license_url, "title": post.title,
        "needs_permission": licence_problem(post, settings, post.targets) if settings and post.license else None,
        "media": [_media(store, m) for m in media], "duplicate_of": post.duplicate_of,
        "reasons": list(post.reasons), "targets": list(post.targets), "caption": post.caption,
        "needs_credit": post.needs_credit and not post.credit, "credit": post.credit,
        "possible_duplicate_of": list(loaded.possible[post.id]),
    }
    if full and post.needs_credit and not post.credit:  # show and review, not every row of a queue page
        view["suggested_credits"] = suggested_credits(session, post)
    if full:
        view["duplicates"] = [p.id for p in session.exec(select(Post).where(Post.duplicate_of == post.id).order_by(Post.id))]
        view["matches"] = _matches(session, post)
        view["publications"] = [
            {"channel": p.channel, "state": p.state, "url": p.remote_url, "attempts": p.attempts, "error": p.error,
             "published_at": p.published_at.isoformat() if p.published_at else None}
            for p in session.exec(select(Publication).where(Publication.post_id == post.id))]
        view["consent"] = consent_summary(session, post.id)
        decisions = history(session, post.id)
        view["history"] = [{"at": d.at.isoformat(), "action": d.action, "from": d.from_status, "to": d.to_status,
                            "actor": d.actor, "reason": d.reason} for d in decisions]
        # What a decision made from this view expects: any later decision or edit (caption, targets, credit) refuses it.
        view["version"] = max((d.id for d in decisions), default=0)
    return view


def _newest_first(query):
    return query.order_by(col(Post.created_at).desc(), col(Post.id).desc())


def _past(session: Session, after: int | None):
    """The keyset condition "older than item `after` in the queue's order", or None; a clear error if it is unknown."""
    if after is None:
        return None
    created: datetime | None = session.exec(select(Post.created_at).where(Post.id == after)).first()
    if created is None:
        raise UsageError(f"--after {after}: no item #{after}; use an id from the last page of 'wlb queue'")
    # A row value compare is one range on the (status, created_at, id) index on SQLite and PostgreSQL alike.
    return tuple_(col(Post.created_at), col(Post.id)) < tuple_(created, after)


def iter_items(db: Database, store: MediaStore, flt: ItemFilter = PENDING, *, limit: int | None = None,
               offset: int = 0, after: int | None = None, settings: Settings | None = None) -> Iterator[dict]:
    """Items newest first (past item `after`), read BATCH at a time as they are consumed: any number in flat memory."""
    with db.session() as session:
        query = _newest_first(where(select(Post), flt, session, settings))
        if (past := _past(session, after)) is not None:
            query = query.where(past)
        if offset:
            query = query.offset(offset)
        if limit:
            query = query.limit(limit)
        # yield_per streams: a server-side cursor on PostgreSQL (else psycopg buffers every row), batches on SQLite.
        for posts in session.exec(query.execution_options(yield_per=BATCH)).partitions():
            loaded = _load(session, posts)
            for post in posts:
                yield item_view(session, store, post, settings=settings, loaded=loaded)


def list_items(db: Database, store: MediaStore, flt: ItemFilter = PENDING, *,
               limit: int | None = None, offset: int = 0, settings: Settings | None = None) -> list[dict]:
    """Items newest first (an index on status, created_at, id keeps a page fast on a large archive)."""
    return list(iter_items(db, store, flt, limit=limit, offset=offset, settings=settings))


def queue_page(db: Database, store: MediaStore, flt: ItemFilter = PENDING, *, limit: int | None = PAGE,
               offset: int = 0, settings: Settings | None = None) -> tuple[list[dict], int]:
    """One page of items and how many items match in all (counted only when the page may not be the last)."""
    items = list_items(db, store, flt, limit=limit, offset=offset, settings=settings)
    if limit is None or (len(items) < limit and (items or not offset)):
        return items, offset + len(items)
    return items, count_items(db, flt, settings=settings)


class QueuePage:
    """`wlb queue`'s page: its items as they are read (iterate once), then `more()`, how many match past it."""

    def __init__(self, db: Database, store: MediaStore, flt: ItemFilter, *, limit: int | None, offset: int = 0,
                 after: int | None = None, settings: Settings | None = None):
        self.db, self.store, self.flt, self.settings = db, store, flt, settings
        self.limit, self.offset, self.after = limit, offset, after
        self.shown = 0

    def __iter__(self) -> Iterator[dict]:
        for item in iter_items(self.db, self.store, self.flt, limit=self.limit, offset=self.offset, after=self.after,
                               settings=self.settings):
            self.shown += 1
            yield item

    def more(self) -> int:
        """Matching items after this page (counted only when the page may not be the last)."""
        if self.limit is None or (self.shown < self.limit and (self.shown or not self.offset)):
            return 0
        return max(0, count_items(self.db, self.flt, settings=self.settings, after=self.after) - self.offset - self.shown)


def count_items(db: Database, flt: ItemFilter, *, settings: Settings | None = None, after: int | None = None) -> int:
    with db.session() as session:
        query = where(select(func.count()).select_from(Post), flt, session, settings)
        if (past := _past(session, after)) is not None:
            query = query.where(past)
        return session.exec(query).one()


def matching_ids(db: Database, flt: ItemFilter, *, settings: Settings | None = None) -> dict[int, Status]:
    """Every matching item's id and the status it has now, in the queue's order: what a bulk decision is based on."""
    with db.session() as session:
        query = where(select(Post.id, Post.status), flt, session, settings)
        rows = session.exec(_newest_first(query))
        return {item_id: Status(status) for item_id, status in rows}


def get_item(db: Database, store: MediaStore, item_id: int, settings: Settings | None = None) -> dict:
    with db.session() as session:
        post = session.get(Post, item_id)
        if post is None:
            raise UsageError(f"no item #{item_id}; list them with 'wlb queue --status all'")
        return item_view(session, store, post, full=True, settings=settings)

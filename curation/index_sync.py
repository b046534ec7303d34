"""Keep the duplicate index on disk equal to the database: a stamp checked at open, a rebuild when it differs.

The stamp is read in a few index lookups, whatever the archive's size. `index_state.generation` is bumped by
database triggers (migration 12) whenever an indexed image is deleted, loses or changes its hashes, or its item
goes back to `new` (`wlb rehash`, `wlb forget`, an origin's copy replacing another, hand-written SQL); every
save and rebuild bumps it too, so a restored backup holds an older one. Images that joined the index since it
was written are found by id: a media row above the last one seen, or a decision moving an item out of `new`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from core.fingerprints import HASH_VERSION
from core.models import Decision, IndexState, Media, Post, Status
from curation.index import HashIndex
from curation.index_store import (NO_INDEX, TAIL_MAX, IndexUnusable, StoredIndex, layout, open_stored, write_main, write_manifest,
                                  write_tail)

log = logging.getLogger("wlb.index")
BATCH = 20_000


def _indexed():
    """Which rows the index holds: hashed images of every curated item, whatever its status."""
    return col(Media.phash).is_not(None), Post.status != Status.NEW


def database_stamp(session: Session) -> dict[str, int]:
    """The generation, the newest decision and the newest media row: three lookups by primary key."""
    generation = session.exec(select(IndexState.generation).where(IndexState.id == 1)).first()
    decision = session.exec(select(func.max(Decision.id))).one()
    media = session.exec(select(func.max(Media.id))).one()
    return {"generation": -1 if generation is None else int(generation), "decision": int(decision or 0),
            "media": int(media or 0)}


def _bump(session: Session) -> None:
    """Advance the generation: files written now are told apart from any state of the database before."""
    session.execute(update(IndexState).where(IndexState.id == 1).values(generation=IndexState.generation + 1))
    session.commit()


def joined_since(session: Session, stamp: dict[str, int]) -> set[int]:
    """Items whose images joined the index after `stamp`: curated (a decision out of `new`) or added as curated."""
    decided = session.exec(select(Decision.post_id).where(Decision.id > stamp["decision"],
                                                          Decision.from_status == Status.NEW)).all()
    added = session.exec(select(Media.post_id).join(Post).where(Media.id > stamp["media"], *_indexed())).all()
    return set(decided) | set(added)


def stale(session: Session, stamp: object) -> tuple[str | None, set[int]]:
    """Why the index written at `stamp` no longer equals the database (or None), and the items curated since."""
    now = database_stamp(session)
    if not isinstance(stamp, dict) or set(stamp) != set(now) or not all(isinstance(v, int) for v in stamp.values()):
        return "stamp unreadable", set()
    if now["generation"] != stamp["generation"]:
        return "indexed images changed since the index was written", set()
    if now["decision"] < stamp["decision"] or now["media"] < stamp["media"]:
        return "the database is older than the index (a restored backup?)", set()
    # Nothing the index holds changed, so what was curated since (a run that died before saving) is simply missing.
    return None, joined_since(session, stamp)


def _identity(session: Session) -> str:
    url = session.get_bind().url.render_as_string(hide_password=True)
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _expect(session: Session) -> dict:
    return layout() | {"database": _identity(session), "hash_version": HASH_VERSION}


def _rows(session: Session, post_ids: Iterable[int] | None = None):
    """Indexed rows, all or those of some posts, in batches."""
    query = (select(Media.post_id, Media.id, Media.sha256, Media.hash_set, Media.phash, Media.dhash, Media.hash_version)
             .join(Post).where(*_indexed()).order_by(Media.id))
    if post_ids is None:
        result = session.connection().execute(query)
        while batch := result.fetchmany(BATCH):
            yield batch
        return
    ids = sorted(set(post_ids))
    for start in range(0, len(ids), 500):
        batch = session.connection().execute(query.where(col(Media.post_id).in_(ids[start:start + 500]))).fetchall()
        if batch:
            yield batch


def open_index(session: Session, data_dir: Path) -> StoredIndex:
    """The index in data_dir/index/, rebuilt from the database when missing, unreadable or stale."""
    folder = Path(data_dir) / "index"
    expect = _expect(session)
    try:
        index = open_stored(folder, expect)
        reason, joined = stale(session, index.manifest.get("stamp"))
        if reason:
            raise IndexUnusable(reason)
        if joined:
            log.info("duplicate index caught up with %d items curated since it was written", len(joined))
            for batch in _rows(session, joined):
                index.fresh.add_many([row[:6] for row in batch])
            index.caught_up = joined
        return index
    except IndexUnusable as exc:  # the first run has no index: not worth a warning
        log.log(logging.INFO if exc.args == (NO_INDEX,) else logging.WARNING,
                "duplicate index rebuilt from the database: %s", exc)
    try:
        return rebuild(session, folder, expect)
    except OSError as exc:  # a read-only or full disk: this run works from memory, as before the index had files
        log.warning("duplicate index kept in memory only: cannot write %s (%s)", folder, exc.strerror or exc)
        index = HashIndex()
        for batch in _rows(session):
            index.add_many([row[:6] for row in batch])
        return StoredIndex(None, index, {})


def rebuild(session: Session, folder: Path, expect: dict) -> StoredIndex:
    """Read every indexed row, write a new main part and manifest, and open them."""
    _bump(session)
    stamp, index = database_stamp(session), HashIndex()  # read before the rows: a change during the read shows next time
    for batch in _rows(session):
        index.add_many([row[:6] for row in batch])
    post, media, sha, columns = index.export()
    main = write_main(folder, post, media, sha, columns.get)
    manifest = expect | {"stamp": stamp, "main": main, "tail": None, "images": len(index)}
    write_manifest(folder, manifest)
    return open_stored(folder, manifest)


def save_index(session: Session, index: StoredIndex, data_dir: Path, post_ids: Iterable[int]) -> None:
    """Persist the indexed rows of the posts curated this run (as the database holds them) and the new stamp."""
    folder = Path(data_dir) / "index"
    ours = set(post_ids) | index.caught_up
    if not ours or not index.manifest:  # nothing new, or an index that could not be written
        return
    opened, now = index.manifest["stamp"], database_stamp(session)
    if joined_since(session, opened) - ours:  # another process curated meanwhile: the next open rebuilds
        return
    # compare-and-set: if anything changed an indexed image since the open, keep the old manifest (now stale)
    won = session.execute(update(IndexState).where(IndexState.id == 1, IndexState.generation == opened["generation"])
                          .values(generation=IndexState.generation + 1)).rowcount
    session.commit()
    if won != 1:
        return
    rows = [row for batch in _rows(session, ours) for row in batch]
    tail = index.tail
    post, media, sha, columns = tail.export()
    grown = HashIndex.from_arrays(post, media, sha, columns)
    grown.add_many([row[:6] for row in rows])
    manifest = dict(index.manifest) | {"stamp": now | {"generation": opened["generation"] + 1}}
    manifest["images"] = manifest["images"] + len(rows)
    if len(grown) > TAIL_MAX and index.main is not None:
        manifest |= {"main": _merge(folder, index, grown), "tail": None}
    else:
        manifest["tail"] = write_tail(folder, grown)
    write_manifest(folder, manifest)


def _merge(folder: Path, index: StoredIndex, tail: HashIndex) -> str:
    """A new main part holding the old main part and the tail."""
    main, n = index.main, len(index.main)
    post, media, sha, tail_columns = tail.export()

    def column(kind: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        parts = [c for c in (main.column(kind), tail_columns.get(kind)) if c is not None]
        if kind in tail_columns:
            p, d, i = parts.pop()
            parts.append((p, d, np.asarray(i) + n))
        return tuple(np.concatenate(x) for x in zip(*parts, strict=True)) if parts else None  # type: ignore[return-value]
    return write_main(folder, np.concatenate([main.post, post]), np.concatenate([main.media, media]),
                      np.concatenate([main.unsorted_sha(), sha]), column)

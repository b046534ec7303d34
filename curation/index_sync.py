"""Keep the duplicate index on disk equal to the database: a stamp checked at open, a rebuild when it differs.

The stamp sums what identifies the indexed rows (count, ids, low bits of both hashes, hash versions, hash set
sizes). Curation adds rows and updates the stamp by the same sums; anything else that adds, removes or changes
an indexed row (`wlb rehash`, `wlb forget`, a deleted row, a restored backup) changes the database's sums, so the
next open sees a different stamp and rebuilds instead of answering from stale hashes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from sqlalchemy import func
from sqlmodel import Session, col, select

from core.fingerprints import HASH_VERSION
from core.models import Media, Post, Status
from curation.index import HashIndex
from curation.index_store import (NO_INDEX, TAIL_MAX, IndexUnusable, StoredIndex, layout, open_stored, write_main, write_manifest,
                                  write_tail)

log = logging.getLogger("wlb.index")
LOW = 0xFFFFF  # low 20 bits of each hash: sums of 10 M rows stay far from 64-bit overflow on SQLite
FIELDS = ("rows", "max_id", "sum_id", "sum_phash", "sum_dhash", "sum_version", "sum_bytes")
BATCH = 20_000


def _indexed():
    """Which rows the index holds: hashed images of every curated item, whatever its status."""
    return col(Media.phash).is_not(None), Post.status != Status.NEW


def database_stamp(session: Session) -> dict[str, int]:
    """The sums over every indexed row, as the database has them now."""
    row = session.execute(select(
        func.count(Media.id), func.max(Media.id), func.sum(Media.id), func.sum(Media.phash.op("&")(LOW)),
        func.sum(Media.dhash.op("&")(LOW)), func.sum(func.coalesce(Media.hash_version, 0)),
        func.sum(func.coalesce(func.length(Media.hash_set), 0))).join(Post).where(*_indexed())).one()
    return {k: int(v or 0) for k, v in zip(FIELDS, row, strict=True)}


def _add_to_stamp(stamp: dict[str, int], rows: Sequence[tuple]) -> dict[str, int]:
    """The stamp once these (post, id, sha, hash_set, phash, dhash, hash_version) rows are indexed too."""
    out = dict(stamp)
    for _, media_id, _, blob, phash, dhash, version in rows:
        out["rows"] += 1
        out["max_id"] = max(out["max_id"], media_id)
        out["sum_id"] += media_id
        out["sum_phash"] += phash & LOW
        out["sum_dhash"] += dhash & LOW
        out["sum_version"] += version or 0
        out["sum_bytes"] += len(blob or b"")
    return out


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
        return open_stored(folder, expect | {"stamp": database_stamp(session)})
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
    index, stamp = HashIndex(), dict.fromkeys(FIELDS, 0)
    for batch in _rows(session):
        index.add_many([row[:6] for row in batch])
        stamp = _add_to_stamp(stamp, batch)
    post, media, sha, columns = index.export()
    main = write_main(folder, post, media, sha, columns.get)
    manifest = expect | {"stamp": stamp, "main": main, "tail": None, "images": len(index)}
    write_manifest(folder, manifest)
    return open_stored(folder, manifest)


def save_index(session: Session, index: StoredIndex, data_dir: Path, post_ids: Iterable[int]) -> None:
    """Persist the indexed rows of the posts curated this run (as the database holds them) and the new stamp."""
    folder = Path(data_dir) / "index"
    rows = [row for batch in _rows(session, post_ids) for row in batch]
    if not rows or not index.manifest:  # nothing new, or an index that could not be written
        return
    tail = index.tail
    post, media, sha, columns = tail.export()
    grown = HashIndex.from_arrays(post, media, sha, columns)
    grown.add_many([row[:6] for row in rows])
    manifest = dict(index.manifest) | {"stamp": _add_to_stamp(index.manifest["stamp"], rows)}
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

"""`wlb rehash`: recompute the hash sets that are out of date, on every core, committing as it goes."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import col, or_, select

from core.media import MediaStore
from core.db import Database
from core.models import Media, MediaState

from curation.files import hash_file
from core.fingerprints import HASH_VERSION, record_hashes
from curation.pool import hashing_pool

BATCH = 256  # images per transaction: a kill loses at most this much work, and the next run skips what is done


@dataclass
class RehashReport:
    hashed: int = 0
    failed: list[str] = field(default_factory=list)
    version: int = HASH_VERSION


def _outdated():
    return (select(Media.id, Media.path)
            .where(Media.state == MediaState.OK, col(Media.path).is_not(None),
                   or_(col(Media.hash_version).is_(None), Media.hash_version != HASH_VERSION))
            .order_by(Media.id))


def rehash(db: Database, store: MediaStore, *, everything: bool = False,
           on_start: Callable[[int], None] | None = None, on_done: Callable[[int], None] | None = None) -> RehashReport:
    """Hash again every downloaded image whose hash set is older than this wlb (`everything`: all of them)."""
    report = RehashReport()
    with db.session() as session:
        if everything:  # forget versions first, so an interrupted run resumes instead of starting over
            session.execute(sa.update(Media).where(Media.state == MediaState.OK).values(hash_version=None))
            session.commit()
        todo = session.exec(_outdated()).all()
    if on_start:
        on_start(len(todo))
    workers = os.cpu_count() or 1
    with hashing_pool(workers) if workers > 1 and len(todo) > BATCH // 4 else _Inline() as pool:
        for start in range(0, len(todo), BATCH):
            batch = todo[start:start + BATCH]
            results = list(pool.map(hash_file, [store.path(path) for _, path in batch], chunksize=8))
            with db.session() as session:
                for (media_id, path), result in zip(batch, results, strict=True):
                    if isinstance(result, str):
                        report.failed.append(f"{path}: {result}")
                        continue
                    media = session.get(Media, media_id)
                    record_hashes(media, result)
                    session.add(media)
                    report.hashed += 1
                session.commit()
            if on_done:
                on_done(len(batch))
    return report


class _Inline:
    """The executor interface, in this process: a pool costs more than a few images."""

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map(self, fn, items, chunksize: int = 1):  # noqa: ANN001, ANN201 - mirrors Executor.map
        return map(fn, items)

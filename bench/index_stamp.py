"""The duplicate index's consistency check at open, on a SQLite archive of many curated photos.

Baseline in the same run: the check it replaced (sums over every indexed row: count, ids, low hash bits, versions,
hash-set sizes). Generates the database once in /tmp (posts with one hashed image each) and reuses it.

    .venv/bin/python bench/index_stamp.py --photos 1000000
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from core.db import Database  # noqa: E402
from core.models import Media, Post, Status  # noqa: E402
from curation.index_sync import _indexed, database_stamp, stale  # noqa: E402

LOW = 0xFFFFF


def old_stamp(session) -> tuple:
    """The check before this one: one pass over every indexed row."""
    return session.execute(select(
        func.count(Media.id), func.max(Media.id), func.sum(Media.id), func.sum(Media.phash.op("&")(LOW)),
        func.sum(Media.dhash.op("&")(LOW)), func.sum(func.coalesce(Media.hash_version, 0)),
        func.sum(func.coalesce(func.length(Media.hash_set), 0))).join(Post).where(*_indexed())).one()


def generate(path: Path, photos: int) -> None:
    Database(f"sqlite:///{path}").dispose()  # the schema, triggers included
    rng = np.random.default_rng(1)
    con = sqlite3.connect(path)
    con.execute("INSERT INTO author (id, key, network, handle, name, profile_url) VALUES (1, 'a', 'x', 'a', '', '')")
    blob = bytes(119)  # 7 records of 17 bytes, as a real hash set
    for start in range(1, photos + 1, 100_000):
        ids = range(start, min(start + 100_000, photos + 1))
        hashes = rng.integers(-2**63, 2**63 - 1, size=(len(ids), 2), dtype=np.int64).tolist()
        con.executemany("INSERT INTO post (id, key, channel, platform, remote_id, url, author_id, text, sensitive, "
                        "spoiler_text, created_at, collected_at, status, reasons, targets) VALUES "
                        "(?, ?, 'c', 'mastodon', ?, 'u', 1, '', 0, '', '2026-01-01', '2026-01-01', ?, '[]', '[]')",
                        [(i, f"p{i}", str(i), Status.PENDING.value) for i in ids])
        con.executemany("INSERT INTO media (id, post_id, position, url, state, attempts, phash, dhash, hash_version, "
                        "hash_set) VALUES (?, ?, 0, 'u', 'ok', 0, ?, ?, 3, ?)",
                        [(i, i, p, d, blob) for i, (p, d) in zip(ids, hashes, strict=True)])
        con.commit()
    con.close()


def timed(fn, runs: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    path = Path(f"/tmp/wlb-index-stamp-{args.photos}.db")
    if not path.exists():
        t = time.perf_counter()
        generate(path.with_suffix(".tmp"), args.photos)
        os.replace(path.with_suffix(".tmp"), path)
        print(f"generated {args.photos:,} curated photos in {time.perf_counter() - t:.0f} s ({path})")
    db = Database(f"sqlite:///{path}")
    with db.session() as s:
        stamp = database_stamp(s)
        assert stale(s, stamp) is None
        new_wall, new_cpu = timed(lambda: stale(s, stamp), args.runs)
        old_wall, old_cpu = timed(lambda: old_stamp(s), args.runs)
    print(f"load average: {os.getloadavg()[0]:.2f}")
    print(f"{args.photos:,} photos: check at open, median of {args.runs}")
    print(f"  sums over every indexed row (before): {old_wall * 1e3:9.1f} ms wall, {old_cpu * 1e3:9.1f} ms CPU")
    print(f"  generation + newest ids (now):        {new_wall * 1e3:9.3f} ms wall, {new_cpu * 1e3:9.3f} ms CPU")
    print(f"  ratio: {old_wall / new_wall:,.0f}x")


if __name__ == "__main__":
    main()

"""`wlb dedup PATH...`: group local image files into clusters of the same photo and look them up in the archive."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from sqlmodel import col, select

from core.db import Database
from core.images import RefusedImage
from core.models import Post
from core.settings import Settings
from curation.curate import rules
from core.fingerprints import ImageHashes, hash_image
from curation.index import AUTO, HashIndex, Rules
from curation.index_store import StoredIndex
from curation.index_sync import open_index
from curation.pool import hashing_pool

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
POOL_FROM = 16  # fewer files hash faster in this process than a pool starts


def expand(paths: Iterable[Path]) -> tuple[list[Path], list[dict]]:
    """Files as given, folders walked for image files (sorted); what does not exist is an error."""
    files, errors = [], []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.exists():
            files.append(path)
        else:
            errors.append({"path": str(path), "reason": "no such file or folder"})
    return list(dict.fromkeys(files)), errors


def hash_file(path: Path) -> ImageHashes | str:
    """The file's hashes, or why it cannot be read as an image."""
    try:
        if not path.is_file():  # a FIFO or /dev/zero would block or read forever
            return "not a regular file"
        return hash_image(path.read_bytes())
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    except RefusedImage as exc:
        return exc.reason


def hash_files(files: list[Path]) -> list[ImageHashes | str]:
    """Hash files on every core when there are enough of them."""
    workers = os.cpu_count() or 1
    if len(files) < POOL_FROM or workers == 1:
        return [hash_file(f) for f in files]
    with hashing_pool(workers) as pool:
        return list(pool.map(hash_file, files, chunksize=8))


def _find(parent: list[int], i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def cluster(hashes: list[ImageHashes], match_rules: Rules) -> tuple[list[list[int]], list[tuple[int, int, int]]]:
    """Clusters (lists of positions) by the automatic rule, and (a, b, pHash distance) pairs only possibly alike."""
    index, parent, possible = HashIndex(), list(range(len(hashes))), []
    for i, h in enumerate(hashes):
        for m in index.matches(h, match_rules):
            if m.tier == AUTO:
                parent[_find(parent, i)] = _find(parent, m.post_id)
            else:
                possible.append((m.post_id, i, m.phash_distance))
        index.add(i, i, h)
    groups: dict[int, list[int]] = {}
    for i in range(len(hashes)):
        groups.setdefault(_find(parent, i), []).append(i)
    clusters = sorted(groups.values())
    possible = [(a, b, d) for a, b, d in possible if _find(parent, a) != _find(parent, b)]
    return clusters, possible


def archive(settings: Settings | None) -> tuple[StoredIndex | None, Database | None]:
    """The archive's stored index (as curate opens it), or None without a config or before the first run."""
    if settings is None:
        return None, None
    url = settings.database
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None, None
    db = Database(url)
    with db.session() as session:
        return open_index(session, settings.data_dir), db


def dedup(paths: list[Path], settings: Settings | None) -> dict:
    """Clusters of the same photo among files, each with the archive items it matches automatically."""
    files, errors = expand(paths)
    results = hash_files(files)
    readable = [(f, h) for f, h in zip(files, results, strict=True) if not isinstance(h, str)]
    errors += [{"path": str(f), "reason": h} for f, h in zip(files, results, strict=True) if isinstance(h, str)]
    match_rules = rules(settings.dedup) if settings else Rules()
    hashes = [h for _, h in readable]
    clusters, possible = cluster(hashes, match_rules)
    index, db = archive(settings)
    out = []
    for members in clusters:
        found: dict[int, str] = {}
        for i in members:
            for m in index.matches(hashes[i], match_rules) if index else []:
                if m.tier == AUTO:
                    found.setdefault(m.post_id, m.rule)
        out.append({"files": [str(readable[i][0]) for i in members], "archive_matches": sorted(found),
                    "archive_items": _describe(db, found)})
    if db:
        db.dispose()
    return {"clusters": out, "possible": [{"files": [str(readable[a][0]), str(readable[b][0])], "distance": d}
                                          for a, b, d in possible], "errors": errors}


def _describe(db: Database | None, found: dict[int, str]) -> list[dict]:
    if not found or db is None:
        return []
    with db.session() as session:
        status = dict(session.exec(select(Post.id, Post.status).where(col(Post.id).in_(list(found)))).all())
    return [{"id": pid, "status": status.get(pid), "rule": rule} for pid, rule in sorted(found.items())]

"""The duplicate index on disk: a memory-mapped multi-index main part, a small tail, and a manifest naming both.

Files live in data_dir/index/. Each part is a folder of .npy files written under a temporary name, fsynced and
renamed; the manifest (written the same way) names the parts and the stamp of the database they hold, so a
reader sees the old index or the new one, never half of one. Anything unreadable raises IndexUnusable.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.fingerprints import ImageHashes
from curation import mih
from curation.index import PAIRS, STORED, HashIndex, Match, Rules, query_hashes, ranked, sha_key

FORMAT = 1
MANIFEST = "manifest.json"
NO_INDEX = "no index yet"
TAIL_MAX = 100_000  # images scanned linearly before they are merged into the multi-index part


class IndexUnusable(Exception):
    """The files on disk cannot be trusted: missing, truncated, another layout or another database."""


@lru_cache(maxsize=64)
def dhash_limit(rules: Rules, rule: str) -> int:
    """The largest dHash distance any tier of `rule` accepts within its pHash scan limit (-1: none)."""
    limit = min(rules.scan_limit(rule), 64)
    return max((d for d in range(65) for p in range(limit + 1) if rules.tier(rule, p, d)), default=-1)


class Main:
    """The multi-index part, memory-mapped: per image (post, media, sha key), per stored kind the mih tables."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.arrays = {f.stem: _load(f) for f in folder.glob("*.npy")}
        try:
            self.post, self.media, self.sha, self.sha_order = (self.arrays[k] for k in ("post", "media", "sha", "sha_order"))
            self.tables = {g: {f"{c}.{field}": self.arrays[f"g{g}.{c}.{field}"] for c in range(len(mih.LAYOUT))
                               for field in mih.FIELDS} for g in range(len(groups())) if f"g{g}.0.phash" in self.arrays}
        except KeyError as exc:
            raise IndexUnusable(f"{folder.name} lacks {exc}") from None
        for g, table in self.tables.items():
            for c, (_, bits) in enumerate(mih.LAYOUT):
                offsets = table[f"{c}.offsets"]
                if len(offsets) != (1 << bits) + 1 or int(offsets[-1]) != len(table[f"{c}.phash"]) \
                        or any(len(table[f"{c}.{f}"]) != len(table[f"{c}.phash"]) for f in ("dhash", "image", "kind")):
                    raise IndexUnusable(f"{folder.name}: group {g} table {c} is inconsistent")
        if not len(self.post) == len(self.media) == len(self.sha) == len(self.sha_order):
            raise IndexUnusable(f"{folder.name}: image columns differ in length")

    def __len__(self) -> int:
        return len(self.post)

    def candidates(self, hashes: ImageHashes, rules: Rules) -> tuple[list[tuple[int, str, int, int]], list[int]]:
        """The same candidates as HashIndex.candidates, read from the tables instead of scanned."""
        query = query_hashes(hashes)
        hits: list[tuple[int, str, int, int]] = []
        for g, table in self.tables.items():
            pairs = [(q, s, rule) for (q, s), rule in PAIRS.items() if s in groups()[g] and q in query]
            qkinds = sorted({q for q, _, _ in pairs})
            if not qkinds:
                continue
            # per (query kind, stored kind): the rule and its limits; the table is probed with the widest
            rule_of, plim, dlim = {}, np.full((len(qkinds), 256), -1), np.full((len(qkinds), 256), -1)
            for q, s, rule in pairs:
                rule_of[qkinds.index(q), s] = rule
                plim[qkinds.index(q), s] = min(rules.scan_limit(rule), 64)
                dlim[qkinds.index(q), s] = dhash_limit(rules, rule)
            qp = np.array([query[q][0] for q in qkinds], dtype=np.uint64)
            qd = np.array([query[q][1] for q in qkinds], dtype=np.uint64)
            who, image, kind, p, d = mih.search(table, qp, qd, plim.max(axis=1), dlim.max(axis=1))
            ok = (p <= plim[who, kind]) & (d <= dlim[who, kind])
            hits += [(i, rule_of[w, k], dp, dd) for w, i, k, dp, dd in zip(
                who[ok].tolist(), image[ok].tolist(), kind[ok].tolist(), p[ok].tolist(), d[ok].tolist(), strict=True)]
        same: list[int] = []
        if hashes.sha256:
            key = sha_key(hashes)
            lo, hi = np.searchsorted(self.sha, key, "left"), np.searchsorted(self.sha, key, "right")
            same = self.sha_order[lo:hi].tolist()
        return hits, same

    def owner(self, row: int) -> tuple[int, int]:
        return int(self.post[row]), int(self.media[row])

    def column(self, kind: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """A stored kind's (pHash, dHash, image row), in table order."""
        for g, table in self.tables.items():
            if kind in groups()[g]:
                mine = np.flatnonzero(table["0.kind"] == kind)
                return table["0.phash"][mine], table["0.dhash"][mine], table["0.image"][mine]
        return None

    def unsorted_sha(self) -> np.ndarray:
        """The sha keys in image order."""
        sha = np.empty(len(self), dtype=np.uint64)
        sha[np.asarray(self.sha_order)] = self.sha
        return sha


class StoredIndex:
    """Main part + tail (from disk) + this run's additions, answering exactly like one HashIndex of all of them."""

    def __init__(self, main: Main | None, tail: HashIndex, manifest: dict):
        self.main, self.tail, self.fresh, self.manifest = main, tail, HashIndex(), manifest
        self.caught_up: set[int] = set()  # items curated since the files were written, read into `fresh` at open

    def __len__(self) -> int:
        return (len(self.main) if self.main else 0) + len(self.tail) + len(self.fresh)

    def add(self, post_id: int, media_id: int, hashes: ImageHashes) -> None:
        """Store one image's hashes for the rest of this run (`save_tail` persists what the database holds)."""
        self.fresh.add(post_id, media_id, hashes)

    def matches(self, hashes: ImageHashes, rules: Rules) -> list[Match]:
        """The best match per stored image: exact bytes, AUTO or POSSIBLE; surest and closest first."""
        n_main = len(self.main) if self.main else 0
        n_tail = len(self.tail)
        hits, same = self.main.candidates(hashes, rules) if self.main else ([], [])
        for part, base in ((self.tail, n_main), (self.fresh, n_main + n_tail)):
            more_hits, more_same = part.candidates(hashes, rules, base)
            hits += more_hits
            same += more_same

        def owner(row: int) -> tuple[int, int]:
            if row < n_main:
                return self.main.owner(row)
            return self.tail.owner(row - n_main) if row < n_main + n_tail else self.fresh.owner(row - n_main - n_tail)
        return ranked(hits, same, rules, owner)


@lru_cache(maxsize=1)
def groups() -> tuple[tuple[int, ...], ...]:
    """Stored kinds that the same query kinds meet share one table, so one probe serves them all."""
    by_queries: dict[frozenset[int], list[int]] = {}
    for kind in STORED:
        queries = frozenset(q for q, s in PAIRS if s == kind)
        if queries:  # a kind no pair reads is never looked up
            by_queries.setdefault(queries, []).append(kind)
    return tuple(tuple(kinds) for kinds in by_queries.values())


def layout() -> dict:
    """What a reader must agree with to use the files: format, stored kinds and their tables, substrings."""
    return {"format": FORMAT, "stored": list(STORED), "groups": [list(g) for g in groups()],
            "chunks": [list(c) for c in mih.LAYOUT]}


def open_stored(folder: Path, expect: dict) -> StoredIndex:
    """The index in `folder` if its manifest matches `expect` (layout, database, stamp); else IndexUnusable."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise IndexUnusable(NO_INDEX) from None
    except (OSError, ValueError) as exc:
        raise IndexUnusable(f"{MANIFEST} unreadable ({exc})") from None
    if not isinstance(manifest, dict):
        raise IndexUnusable(f"{MANIFEST} is not an object")
    for key, value in expect.items():
        if manifest.get(key) != value:
            raise IndexUnusable(f"{key} changed since the index was written")
    try:
        main = Main(folder / manifest["main"]) if manifest.get("main") else None
        tail = _tail(folder / manifest["tail"]) if manifest.get("tail") else HashIndex()
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexUnusable(f"index files unreadable ({exc})") from None
    if (len(main) if main else 0) + len(tail) != manifest.get("images"):
        raise IndexUnusable("index files hold another number of images than the manifest says")
    return StoredIndex(main, tail, manifest)


def write_main(folder: Path, post: np.ndarray, media: np.ndarray, sha: np.ndarray,
               column: Callable[[int], tuple[np.ndarray, np.ndarray, np.ndarray] | None]) -> str:
    """A new multi-index part; `column(kind)` gives a stored kind's (pHash, dHash, image row). Its folder name."""
    name = f"main-{secrets.token_hex(6)}"
    tmp = _fresh_dir(folder, name)
    order = np.argsort(sha, kind="stable")
    _save(tmp, {"post": np.asarray(post, np.int64), "media": np.asarray(media, np.int64),
                "sha": np.asarray(sha, np.uint64)[order], "sha_order": order.astype(np.int32)})
    for g, kinds in enumerate(groups()):
        parts = [(kind, c) for kind in kinds if (c := column(kind)) is not None and len(c[0])]
        if parts:
            phash, dhash, image = (np.concatenate(x) for x in zip(*(c for _, c in parts), strict=True))
            kind = np.repeat(np.array([k for k, _ in parts], dtype=np.uint8), [len(c[0]) for _, c in parts])
            del parts
            for key, array in mih.build(phash, dhash, image, kind):
                _save(tmp, {f"g{g}.{key}": array})
    _publish(tmp, folder / name)
    return name


def write_tail(folder: Path, tail: HashIndex) -> str:
    """The tail as a new folder; its name."""
    name = f"tail-{secrets.token_hex(6)}"
    tmp = _fresh_dir(folder, name)
    post, media, sha, columns = tail.export()
    arrays = {"post": post, "media": media, "sha": sha}
    for kind, (phash, dhash, image) in columns.items():
        arrays |= {f"k{kind}.phash": phash, f"k{kind}.dhash": dhash, f"k{kind}.image": image}
    _save(tmp, arrays)
    _publish(tmp, folder / name)
    return name


def write_manifest(folder: Path, manifest: dict) -> None:
    """Replace the manifest atomically, then remove the parts it no longer names."""
    tmp = folder / f"{MANIFEST}.tmp"
    with open(tmp, "w") as f:
        json.dump(manifest, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / MANIFEST)
    _sync_dir(folder)
    keep = {manifest.get("main"), manifest.get("tail"), MANIFEST}
    for entry in folder.iterdir():
        if entry.name not in keep and entry.is_dir() and entry.name.startswith(("main-", "tail-")):
            shutil.rmtree(entry, ignore_errors=True)


def _tail(folder: Path) -> HashIndex:
    arrays = {f.stem: _load(f) for f in folder.glob("*.npy")}
    columns = {kind: (arrays[f"k{kind}.phash"], arrays[f"k{kind}.dhash"], arrays[f"k{kind}.image"])
               for kind in STORED if f"k{kind}.phash" in arrays}
    n = len(arrays["post"])
    for phash, dhash, image in columns.values():
        if not len(phash) == len(dhash) == len(image) or (len(image) and (image.min() < 0 or image.max() >= n)):
            raise ValueError(f"{folder.name}: a column is inconsistent")
    return HashIndex.from_arrays(arrays["post"], arrays["media"], arrays["sha"], columns)


def _load(path: Path) -> np.ndarray:
    # a plain ndarray over the mapping: np.memmap's own indexing costs microseconds per call
    return np.load(path, mmap_mode="r", allow_pickle=False).view(np.ndarray)


def _fresh_dir(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def _save(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    for key, array in arrays.items():
        with open(folder / f"{key}.npy", "wb") as f:
            np.save(f, np.ascontiguousarray(array), allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())


def _publish(tmp: Path, final: Path) -> None:
    _sync_dir(tmp)
    os.rename(tmp, final)
    _sync_dir(final.parent)


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

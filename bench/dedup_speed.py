"""Hashing throughput (simple vs wlb, one core and all cores) and index lookup and load at 10k-1M stored hashes.

Baselines are what a good engineer would write in an afternoon: JPEG draft decode + imagehash's pHash and dHash
for hashing, a numpy XOR + popcount scan for lookup. bench/index_scale.py measures the index at 10 M photos.

.venv/bin/python bench/dedup_speed.py [--images N] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/dedup_speed.py` from anywhere

import imagehash  # noqa: E402
import numpy as np  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from PIL import Image  # noqa: E402

from core.db import Database  # noqa: E402
from curation.curate import load_index  # noqa: E402
from core.fingerprints import RECORD, ImageHashes, hash_image  # noqa: E402
from curation.index import HashIndex, Rules  # noqa: E402
from curation.index_store import layout, open_stored, write_main, write_manifest  # noqa: E402
from curation.index_sync import database_stamp, open_index  # noqa: E402
from core.signals import KINDS  # noqa: E402
from tests.fakes import images  # noqa: E402

SIZE = (1080, 1350)
STORED = [k.id for k in KINDS if k.stored and not k.whole]  # 7 per photo without a frame


def make(seed: int, fmt: str = "JPEG") -> bytes:
    img = images.photo(seed, (SIZE[0] // 4, SIZE[1] // 4)).resize(SIZE, Image.Resampling.BICUBIC)
    out = io.BytesIO()
    options = {"quality": 85, "progressive": True} if fmt == "PROGRESSIVE" else {"quality": 85} if fmt == "JPEG" else {}
    img.save(out, "JPEG" if fmt == "PROGRESSIVE" else fmt, **options)
    return out.getvalue()


def simple(data: bytes) -> tuple[str, str]:
    """The simple alternative: open, decode a JPEG at reduced scale (draft) in grey, imagehash pHash and dHash."""
    with Image.open(io.BytesIO(data)) as img:
        img.draft("L", (img.width // 8, img.height // 8))  # as wlb: the 32x32 reduction needs no full-size pixels
        img.load()
        return str(imagehash.phash(img)), str(imagehash.dhash(img))


def ours(data: bytes) -> ImageHashes:
    return hash_image(data)


def _hash_all(fn, batch: list[bytes]) -> int:
    for data in batch:
        fn(data)
    return len(batch)


def throughput(fn, data: list[bytes], workers: int) -> float:
    """Images per second: in this process for one worker, else split over a process pool."""
    if workers == 1:
        start = time.perf_counter()
        _hash_all(fn, data)
        return len(data) / (time.perf_counter() - start)
    chunks = [data[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_hash_all, [fn] * workers, [chunks[0][:2]] * workers))  # start the workers first
        start = time.perf_counter()
        list(pool.map(_hash_all, [fn] * workers, chunks))
        return len(data) / (time.perf_counter() - start)


def _records(rng: np.random.Generator, n: int, kinds: list[int]) -> np.ndarray:
    rec = np.empty((n, len(kinds)), dtype=RECORD)
    rec["kind"] = kinds
    rec["phash"] = rng.integers(0, 2**64, (n, len(kinds)), dtype=np.uint64)
    rec["dhash"] = rng.integers(0, 2**64, (n, len(kinds)), dtype=np.uint64)
    return rec


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def lookups(total: int, rng: np.random.Generator) -> dict:
    """Median ms per query: one hash by a plain numpy scan and by wlb's scan; one image (every query kind) by
    wlb's exact scan and by its stored multi-index."""
    photos = total // len(STORED)
    blobs = _records(rng, photos, STORED)
    index = HashIndex()
    index.add_many([(i, i, None, blobs[i].tobytes(), 0, 0) for i in range(photos)])
    single = HashIndex()
    flat = rng.integers(0, 2**64, total, dtype=np.uint64)
    single.add_many([(i, i, None, None, int(p) - 2**64 if p >= 2**63 else int(p), 0) for i, p in enumerate(flat.tolist())])
    query = ImageHashes("", 0, 0, records=_records(rng, 1, [k.id for k in KINDS if not k.whole])[0].tobytes())
    one = ImageHashes("", 12345, 678)
    rules = Rules()
    repeat = 7 if total >= 10**6 else 21
    with tempfile.TemporaryDirectory() as tmp:
        post, media, sha, columns = index.export()
        manifest = layout() | {"main": write_main(Path(tmp), post, media, sha, columns.get), "tail": None,
                               "images": len(index)}
        write_manifest(Path(tmp), manifest)
        stored = open_stored(Path(tmp), layout())
        stored.matches(query, rules)  # numba import and compiled probe: once per process
        assert stored.matches(query, rules) == index.matches(query, rules)
        mih_ms = _median_ms(lambda: stored.matches(query, rules), repeat)
    return {"hashes": total, "image_ms": _median_ms(lambda: index.matches(query, rules), repeat), "mih_image_ms": mih_ms,
            "single_ms": _median_ms(lambda: single.matches(one, rules), repeat),
            "numpy_single_ms": _median_ms(lambda: np.flatnonzero(np.bitwise_count(flat ^ np.uint64(12345)) <= 12), repeat),
            "index_mb": round((index.hashes * 20 + len(index) * 24) / 1e6, 1)}


def load(total: int, rng: np.random.Generator) -> dict:
    """Time and traced peak memory to load `total` stored hashes from a SQLite archive."""
    photos = total // len(STORED)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/wlb.db")
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
        blobs = _records(rng, photos, STORED)
        with db.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO author (id, key, network, handle, name, profile_url) "
                                 "VALUES (1, 'k', 'n', 'h', '', '')"))
            conn.execute(sa.text("INSERT INTO post (id, key, channel, platform, remote_id, url, author_id, text, sensitive,"
                                 " spoiler_text, created_at, collected_at, status, reasons, targets) VALUES (:id, :key, "
                                 "'c', 'mastodon', :key, 'u', 1, '', 0, '', :t, :t, 'pending', '[]', '[]')"),
                         [{"id": i + 1, "key": str(i), "t": now} for i in range(photos)])
            conn.execute(sa.text("INSERT INTO media (post_id, position, url, state, attempts, sha256, phash, dhash, "
                                 "hash_version, hash_set) VALUES (:p, 0, 'u', 'ok', 0, :sha, :ph, 0, 2, :blob)"),
                         [{"p": i + 1, "sha": f"{i:064x}", "ph": int(blobs[i][0]["phash"]) >> 1,
                           "blob": blobs[i].tobytes()} for i in range(photos)])
        tracemalloc.start()
        start = time.perf_counter()
        with db.session() as session:
            index = load_index(session)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        with db.session() as session:
            start = time.perf_counter()
            open_index(session, Path(tmp))  # no index yet: built from the database and written
            build = time.perf_counter() - start
            start = time.perf_counter()
            open_index(session, Path(tmp))  # what every later curate run does: stamp query + memory-mapped open
            reopen = time.perf_counter() - start
            start = time.perf_counter()
            database_stamp(session)
            stamp = time.perf_counter() - start
        db.dispose()
    return {"hashes": index.hashes, "photos": len(index), "seconds": round(seconds, 2), "peak_mb": round(peak / 1e6, 1),
            "build_s": round(build, 2), "reopen_s": round(reopen, 2), "stamp_s": round(stamp, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    data = [make(seed) for seed in range(args.images)]
    result: dict = {"cores": cores, "image": f"{SIZE[0]}x{SIZE[1]} JPEG q85, {sum(map(len, data)) // len(data) // 1000} KB",
                    "throughput": {}}
    for workers in sorted({1, cores}):
        n, o = throughput(simple, data, workers), throughput(ours, data, workers)
        result["throughput"][workers] = {"simple": round(n), "ours": round(o), "ratio": round(o / n, 2)}
    others = {fmt: [make(seed, fmt) for seed in range(40)] for fmt in ("PROGRESSIVE", "PNG")}
    result["other_formats_one_core"] = {fmt: {"simple": round(throughput(simple, d, 1)), "ours": round(throughput(ours, d, 1))}
                                        for fmt, d in others.items()}
    rng = np.random.default_rng(7)
    result["lookup"] = [lookups(total, rng) for total in (10_000, 100_000, 1_000_000)]
    result["load"] = load(1_000_000, rng)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"hashing {result['image']} ({args.images} images), images/second:\n")
    print("| workers | simple (draft decode + imagehash pHash, dHash) | wlb (all kinds) | ratio |\n| ---: | ---: | ---: | ---: |")
    for workers, row in result["throughput"].items():
        print(f"| {workers} | {row['simple']} | {row['ours']} | {row['ratio']}x |")
    for fmt, row in result["other_formats_one_core"].items():
        print(f"| 1 ({fmt.lower()}) | {row['simple']} | {row['ours']} | {row['ours'] / row['simple']:.2f}x |")
    print("\n| stored hashes | numpy scan: one hash (ms) | wlb scan: one hash (ms) | wlb scan: one image, all query kinds "
          "(ms) | wlb multi-index: one image (ms) |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for row in result["lookup"]:
        print(f"| {row['hashes']:,} | {row['numpy_single_ms']:.2f} | {row['single_ms']:.2f} | {row['image_ms']:.2f} | "
              f"{row['mih_image_ms']:.2f} |")
    load_row = result["load"]
    print(f"\nloading {load_row['hashes']:,} stored hashes ({load_row['photos']:,} photos) from SQLite: "
          f"{load_row['seconds']} s, peak {load_row['peak_mb']} MB traced")
    print(f"stored index on the same archive: first open (built from the database) {load_row['build_s']} s; "
          f"every later open {load_row['reopen_s']} s, of which the database stamp query {load_row['stamp_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

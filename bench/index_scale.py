"""The duplicate index at archive scale: lookup, memory and start-up of the stored multi-index against the exact scan.

.venv/bin/python bench/index_scale.py [--photos 10000000] [--queries 300] [--scan-queries 40] [--dir PATH] [--json]

Hashes only, generated with the structure of real archives: photos of a few hundred thousand "scenes" (similar
pictures are a few bits apart more often than chance), clusters of re-posts of one photo (0-8 bits apart), crops
whose hashes drift from the full image's, and a framed "whole" hash for one photo in ten. Every stored kind of
core.signals gets a column, written kind by kind straight into the on-disk format (no 70 M-hash array in memory).
Open and lookups run in a fresh process, so resident memory is what a curate run would see.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/index_scale.py` from anywhere

import numpy as np  # noqa: E402

from core.fingerprints import RECORD, ImageHashes  # noqa: E402
from core.signals import FULL, KINDS  # noqa: E402
from curation.index import STORED, HashIndex, Rules  # noqa: E402
from curation.index_store import layout, open_stored, write_main, write_manifest  # noqa: E402

SCENES = 300_000  # scene prototypes: photos of one scene share most pHash bits
CLUSTER_SHARE = 0.3  # photos that are re-posts of another photo
WHOLE_SHARE = 0.1  # photos with a frame, so a "whole" hash besides the content's
CHUNK = 1_000_000


def _flips(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    """n random 64-bit masks with low..high bits set (bits may repeat: fewer, never more)."""
    counts = rng.integers(low, high + 1, n)
    bits = rng.integers(0, 64, (n, high))
    use = np.arange(high)[None, :] < counts[:, None]
    return np.bitwise_or.reduce(np.where(use, np.uint64(1) << bits.astype(np.uint64), np.uint64(0)), axis=1)


def base_hashes(photos: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Every photo's full-image pHash and dHash."""
    rng = np.random.default_rng(seed)
    scenes = rng.integers(0, 2**64, (SCENES, 2), dtype=np.uint64)
    p, d = np.empty(photos, np.uint64), np.empty(photos, np.uint64)
    for start in range(0, photos, CHUNK):
        n = min(CHUNK, photos - start)
        scene = rng.integers(0, SCENES, n)
        p[start:start + n] = scenes[scene, 0] ^ _flips(rng, n, 10, 24)
        d[start:start + n] = scenes[scene, 1] ^ _flips(rng, n, 10, 24)
        reposts = np.flatnonzero(rng.random(n) < CLUSTER_SHARE) + start
        if start:  # a re-post of an earlier photo: 0-8 bits away from it
            source = rng.integers(0, start, len(reposts))
            p[reposts] = p[source] ^ _flips(rng, len(reposts), 0, 8)
            d[reposts] = d[source] ^ _flips(rng, len(reposts), 0, 8)
    return p, d


def kind_column(kind: int, p: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A stored kind's (pHash, dHash, image row): crops drift 6-20 bits from the full image."""
    rng = np.random.default_rng(100 + kind)
    if kind == FULL:
        return p, d, np.arange(len(p), dtype=np.int32)
    rows = np.flatnonzero(rng.random(len(p)) < WHOLE_SHARE) if any(k.whole and k.id == kind for k in KINDS) \
        else np.arange(len(p))
    return (p[rows] ^ _flips(rng, len(rows), 6, 20), d[rows] ^ _flips(rng, len(rows), 6, 20), rows.astype(np.int32))


def generate(folder: Path, photos: int) -> dict:
    """Write the main part for `photos` photos; return the manifest and how long it took."""
    start = time.perf_counter()
    p, d = base_hashes(photos)
    sha = np.random.default_rng(2).integers(1, 2**64, photos, dtype=np.uint64)
    ids = np.arange(1, photos + 1, dtype=np.int64)
    hashes = {"n": 0}

    def column(kind: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = kind_column(kind, p, d)
        hashes["n"] += len(out[0])
        return out
    name = write_main(folder, ids, ids, sha, column)
    manifest = layout() | {"main": name, "tail": None, "images": photos, "hashes": hashes["n"]}
    write_manifest(folder, manifest)
    np.save(folder / "queries.npy", np.stack([p[:: max(1, photos // 5000)], d[:: max(1, photos // 5000)]]))
    return {"generate_s": time.perf_counter() - start, "hashes": hashes["n"]}


def _rss() -> dict[str, float]:
    status = Path("/proc/self/status").read_text()
    return {k: int(line.split()[1]) / 1024 for line in status.splitlines() for k in ("VmRSS", "VmHWM", "RssAnon")
            if line.startswith(k + ":")}


def _queries(folder: Path, count: int) -> list[ImageHashes]:
    """Half re-posts of archived photos (every query kind drifting from them), half new photos."""
    rng = np.random.default_rng(3)
    near = np.load(folder / "queries.npy")
    out = []
    for q in range(count):
        if q % 2:
            p, d = (int(x) for x in rng.integers(0, 2**64, 2, dtype=np.uint64))
        else:
            i = int(rng.integers(near.shape[1]))
            p, d = int(near[0, i]), int(near[1, i])
        masks = _flips(rng, 2 * len(KINDS), 0, 14)
        records = np.array([(k.id, p ^ int(masks[2 * j]), d ^ int(masks[2 * j + 1])) for j, k in enumerate(KINDS)],
                           dtype=RECORD)
        out.append(ImageHashes(f"{int(rng.integers(0, 2**62)):064x}", 0, 0, records=records.tobytes()))
    return out


def measure(folder: Path, queries: int, scan_queries: int) -> dict:
    """In this (fresh) process: open, lookups, then the exact scan over the same hashes loaded in memory."""
    before = _rss()
    t = time.perf_counter()
    stored = open_stored(folder, layout())
    open_s = time.perf_counter() - t
    after_open = _rss()
    rules = Rules()
    qs = _queries(folder, queries)
    t = time.perf_counter()
    stored.matches(qs[0], rules)  # first call imports numba, loads the compiled probe, builds the neighbour masks
    first_s = time.perf_counter() - t
    times, found = [], []
    for q in qs:
        t = time.perf_counter()
        found.append(stored.matches(q, rules))
        times.append(time.perf_counter() - t)
    after_lookups = _rss()
    warm, warm_cpu = [], []
    for q in qs:  # the same images again: the pages they touch are mapped now, as in a long curate run
        t, c = time.perf_counter(), time.thread_time()
        stored.matches(q, rules)
        warm.append(time.perf_counter() - t)
        warm_cpu.append(time.thread_time() - c)
    t = time.perf_counter()
    main = stored.main
    scan = HashIndex.from_arrays(main.post, main.media, main.unsorted_sha(),
                                 {k: c for k in STORED if (c := main.column(k)) is not None})
    load_s = time.perf_counter() - t
    scan_times, scan_cpu, differ = [], [], 0
    for q, expected in zip(qs[:scan_queries], found, strict=False):
        t, c = time.perf_counter(), time.thread_time()
        got = scan.matches(q, rules)
        scan_times.append(time.perf_counter() - t)
        scan_cpu.append(time.thread_time() - c)
        differ += got != expected
    return {"open_s": open_s, "rss_open_mb": after_open["VmRSS"] - before["VmRSS"], "first_lookup_s": first_s,
            "rss_after_lookups_mb": after_lookups["VmRSS"], "hwm_mb": after_lookups["VmHWM"],
            "anon_after_lookups_mb": after_lookups["RssAnon"],
            "lookup_median_ms": 1000 * statistics.median(times),
            "lookup_p95_ms": 1000 * statistics.quantiles(times, n=20)[-1],
            "warm_median_ms": 1000 * statistics.median(warm), "warm_cpu_ms": 1000 * statistics.median(warm_cpu),
            "scan_cpu_ms": 1000 * statistics.median(scan_cpu), "warm_p95_ms": 1000 * statistics.quantiles(warm, n=20)[-1],
            "scan_load_s": load_s, "scan_median_ms": 1000 * statistics.median(scan_times),
            "scan_p95_ms": 1000 * statistics.quantiles(scan_times, n=20)[-1],
            "matches": sum(map(len, found)), "differing_answers": differ, "compared": len(scan_times),
            "rss_with_scan_mb": _rss()["VmRSS"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=10_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--scan-queries", type=int, default=40)
    parser.add_argument("--dir", type=Path, help="where the index goes (reused if it holds --photos photos)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.dir, args.queries, args.scan_queries)))
        return
    folder = args.dir or Path(tempfile.gettempdir()) / f"wlb-index-{args.photos}"
    manifest = folder / "manifest.json"
    made = {}
    old = json.loads(manifest.read_text()) if manifest.exists() else {}
    if old.get("images") != args.photos or any(old.get(k) != v for k, v in layout().items()):  # another wlb's layout
        made = generate(folder, args.photos)
    hashes = json.loads(manifest.read_text())["hashes"]
    subprocess.run(["sync"], check=False)
    out = subprocess.run([sys.executable, __file__, "--measure", "--dir", str(folder), "--queries", str(args.queries),
                          "--scan-queries", str(args.scan_queries)], check=True, capture_output=True, text=True)
    result = json.loads(out.stdout) | made | {"photos": args.photos, "hashes": hashes, "cpus": os.cpu_count(),
                                              "disk_mb": sum(f.stat().st_size for f in folder.rglob("*")) / 2**20}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    r = result
    print(f"{r['photos']:,} photos, {r['hashes']:,} stored hashes ({len(STORED)} stored kinds), "
          f"{r['disk_mb']:,.0f} MB on disk" + (f", generated in {r['generate_s']:.0f} s" if made else ""))
    print(f"one image, all query kinds ({len(KINDS)}), median of {args.queries}:")
    print(f"  multi-index, fresh process: {r['lookup_median_ms']:.2f} ms (p95 {r['lookup_p95_ms']:.2f}); the same images "
          f"again (pages mapped): {r['warm_median_ms']:.2f} ms (p95 {r['warm_p95_ms']:.2f})")
    print(f"  exact numpy scan: {r['scan_median_ms']:.1f} ms (p95 {r['scan_p95_ms']:.1f}, {r['compared']} queries)")
    print(f"  CPU time (less sensitive to other load on the machine): multi-index {r['warm_cpu_ms']:.2f} ms, exact scan "
          f"{r['scan_cpu_ms']:.1f} ms, ratio {r['scan_cpu_ms'] / r['warm_cpu_ms']:.1f}x")
    print(f"  ratio: {r['scan_median_ms'] / r['lookup_median_ms']:.1f}x; answers differing: {r['differing_answers']} "
          f"of {r['compared']} ({r['matches']} matches in all)")
    print(f"start-up: open {r['open_s'] * 1000:.1f} ms, +{r['rss_open_mb']:.1f} MB resident; first lookup "
          f"{r['first_lookup_s'] * 1000:.0f} ms (numba import + compiled probe from its cache)")
    print(f"after the lookups: {r['rss_after_lookups_mb']:.0f} MB resident (peak {r['hwm_mb']:.0f}), of which "
          f"{r['anon_after_lookups_mb']:.0f} MB private; the rest are index file pages the kernel may drop")
    print(f"exact scan start-up: {r['scan_load_s']:.1f} s to read the columns into memory, "
          f"{r['rss_with_scan_mb']:.0f} MB resident then (from the database it is slower: see README)")
    if r["differing_answers"]:
        sys.exit("the multi-index answered differently from the exact scan")


if __name__ == "__main__":
    main()

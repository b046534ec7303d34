"""Collect and curate N one-photo posts from a fake Mastodon with latency, next to a naive sequential baseline.

.venv/bin/python bench/collect.py [--posts N] [--latency SECONDS] [--json] [--client-per-request] [--profile FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import math
import multiprocessing
import os
import platform
import re
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/collect.py` from anywhere

import httpx  # noqa: E402
import imagehash  # noqa: E402
from PIL import Image  # noqa: E402

from app.pipeline import Pipeline  # noqa: E402
from core.report import Progress  # noqa: E402
from app.config import load_settings  # noqa: E402
from tests.fakes import images  # noqa: E402
from tests.fakes.mastodon import FakeMastodon  # noqa: E402

TAG = "welovebrussels"
SIZE = (1080, 1350)
QUALITY = 85
AUTHORS = 97  # photographers the posts are spread over
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
# The fake grants 300 API requests per 5 minutes and wlb honours its rate-limit headers; ours spends
# N/40 + 2 of them, so past ~11,800 posts it would sit out the 5 minutes.
MAX_POSTS = 10_000
# 2,000 posts take about 2 minutes on 2 cores, most of it in the naive baseline; 1,500 stay well under.
DEFAULT_POSTS = 1500
CONFIG = """\
database = "sqlite:///data/wlb.db"
media_dir = "data/media"
[network]
allow_private = ["{origin}"]
[collect]
backfill_pages = {pages}
page_size = 40
max_pages_per_run = {pages}
[channels.source]
kind = "mastodon"
base_url = "{base_url}"
"""
NAIVE_SCHEMA = """
CREATE TABLE IF NOT EXISTS post (id INTEGER PRIMARY KEY, key TEXT UNIQUE, author TEXT, url TEXT, text TEXT,
                                 created_at TEXT);
CREATE TABLE IF NOT EXISTS media (id INTEGER PRIMARY KEY, post_id INTEGER REFERENCES post(id), url TEXT, path TEXT,
                                  sha256 TEXT, width INTEGER, height INTEGER, phash TEXT, dhash TEXT);
"""


# ---- the fake's content -------------------------------------------------------------------------

def photo_jpeg(seed: int) -> bytes:
    """A distinct 1080x1350 JPEG (about 200 KB at quality 85), drawn at quarter size to generate 3x faster."""
    small = images.photo(seed, (SIZE[0] // 4, SIZE[1] // 4))
    return images.encode(small.resize(SIZE, Image.Resampling.NEAREST), "JPEG", quality=QUALITY)


def generate(n: int, spawn: multiprocessing.context.BaseContext) -> list[bytes]:
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=spawn) as pool:
        return list(pool.map(photo_jpeg, range(n), chunksize=64))


def serve(photos: list[bytes], latency: float) -> FakeMastodon:
    """A started fake with one #welovebrussels status per photo, a minute apart, by a few dozen photographers."""
    fake = FakeMastodon(latency=latency).start()
    for i, data in enumerate(photos):
        who = f"photographer{i % AUTHORS}"
        fake.add_status(images=[data], acct=who, display_name=who.title(), text=f"Brussels, photo {i}",
                        created_at=T0 + timedelta(minutes=i))
    return fake


# ---- measuring, in a fresh process per variant ----------------------------------------------------

def _status_mb(field: str) -> float | None:
    """A VmRSS/VmHWM figure of this process from /proc (Linux), in MB."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else None


def _reset_peak() -> float:
    """Restart the peak-RSS count from the current size; return that size in MB."""
    try:
        # Writing 5 resets VmHWM (Linux >= 4.0). ru_maxrss would not do: after exec it still holds
        # the RSS of the parent that forked us, which here is the fake with every image in memory.
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _status_mb("VmRSS") or _maxrss_mb()


def _peak_mb() -> float:
    return _status_mb("VmHWM") or _maxrss_mb()


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _maxrss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)  # bytes on macOS, KiB on Linux


def measured(work: Callable[[], dict], profile: str | None = None) -> dict:
    """Run work; add its wall and CPU time (all threads) and how far it raised the peak RSS above the start."""
    before, cpu = _reset_peak(), _cpu_s()
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    figures = work()
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    figures["wall_s"] = time.perf_counter() - start
    figures["cpu_s"] = _cpu_s() - cpu
    figures["rss_before_mb"] = before
    figures["peak_mb"] = _peak_mb() - before
    return figures


def run_variant(spawn: multiprocessing.context.BaseContext, fake: FakeMastodon, task: Callable[..., dict],
                *args: object) -> dict:
    """Run a task in a new process (so its peak memory is its own) and count the requests the fake received."""
    seen = len(fake.requests)
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        figures = pool.submit(task, *args).result()
    sent = fake.requests[seen:]
    figures["api_requests"] = sum(1 for r in sent if r.path.startswith("/api/"))
    figures["requests"] = len(sent)
    figures["posts_per_s"] = figures["new_posts"] / figures["wall_s"]
    figures["requests_per_new_post"] = figures["requests"] / figures["new_posts"] if figures["new_posts"] else None
    return figures


# ---- ours: the real pipeline --------------------------------------------------------------------

class StageClock(Progress):
    """Wall time per pipeline stage, taken from the progress hooks the CLI drives its bars with."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float]] = []

    def stage(self, name: str, total: int | None) -> None:
        self.marks.append((name, time.perf_counter()))

    def durations(self) -> dict[str, float]:
        ends = [at for _, at in self.marks[1:]] + [time.perf_counter()]
        spent: dict[str, float] = {}
        for (name, start), end in zip(self.marks, ends, strict=True):
            spent[name] = spent.get(name, 0.0) + end - start
        return spent


def run_ours(base_url: str, workdir: str, n: int, profile: str | None = None) -> dict:
    """Collect + curate through Pipeline, configured as a site would be, with a backfill deep enough for n posts."""
    config = Path(workdir) / "config.toml"
    config.write_text(CONFIG.format(origin=base_url, base_url=base_url, pages=math.ceil(n / 40) + 1), encoding="utf-8")
    settings = load_settings(config)

    def work() -> dict:
        clock = StageClock()
        clock.stage("setup", None)
        with Pipeline(settings, progress=clock) as pipeline:
            report = pipeline.run(publish=False)
        channel = report.channel("source")
        return {"stages_s": clock.durations(), "new_posts": channel.new_posts, "downloaded": channel.downloaded,
                "pending": channel.pending, "duplicates": channel.duplicates, "rejected": channel.rejected,
                "problems": [*channel.errors, *channel.refused, *report.warnings]}

    return measured(work, profile)


# ---- naive: what a first script would do --------------------------------------------------------

def run_naive(base_url: str, workdir: str, reuse_client: bool = True) -> dict:
    if not reuse_client:
        # httpx.get builds a new client (connection, SSL context) per call: the straw man earlier figures used.
        return measured(lambda: naive_collect(base_url, Path(workdir), partial(httpx.get, trust_env=False)))
    with httpx.Client(trust_env=False) as client:
        return measured(lambda: naive_collect(base_url, Path(workdir), client.get))


def naive_collect(base_url: str, workdir: Path, get: Callable[..., httpx.Response]) -> dict:
    """Page the tag timeline with max_id and handle each status in turn: one request, decode and commit at a time."""
    media_dir = workdir / "media"
    media_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(workdir / "naive.db")
    db.executescript(NAIVE_SCHEMA)
    new, max_id = 0, None
    while True:
        # No limit parameter: Mastodon's default page of 20 statuses.
        response = get(f"{base_url}/api/v1/timelines/tag/{TAG}", params={"max_id": max_id} if max_id else None)
        statuses = response.raise_for_status().json()
        if not statuses:
            break
        for status in statuses:
            new += naive_store(db, status, media_dir, get)
        max_id = statuses[-1]["id"]
    db.close()
    return {"new_posts": new}


def naive_store(db: sqlite3.Connection, status: dict, media_dir: Path, get: Callable[..., httpx.Response]) -> int:
    """Store one status and its images; return 1 if it was new."""
    if db.execute("SELECT 1 FROM post WHERE key = ?", (status["uri"],)).fetchone():
        return 0
    post = db.execute("INSERT INTO post (key, author, url, text, created_at) VALUES (?, ?, ?, ?, ?)",
                      (status["uri"], status["account"]["acct"], status["url"], status["content"],
                       status["created_at"]))
    for attachment in status["media_attachments"]:
        data = get(attachment["url"]).raise_for_status().content
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            phash, dhash = str(imagehash.phash(img)), str(imagehash.dhash(img))
            width, height = img.size
        sha = hashlib.sha256(data).hexdigest()
        path = media_dir / f"{sha}.jpg"
        path.write_bytes(data)
        db.execute("INSERT INTO media (post_id, url, path, sha256, width, height, phash, dhash) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (post.lastrowid, attachment["url"], str(path), sha, width, height, phash, dhash))
    db.commit()
    return 1


# ---- the run and its report ----------------------------------------------------------------------

def checks(n: int, ours: dict, again: dict, naive: dict) -> list[str]:
    """What must hold for the figures to mean anything."""
    failed = [f"ours: {p}" for p in ours["problems"][:5]]
    expected = {"ours new posts": (ours["new_posts"], n), "ours downloads": (ours["downloaded"], n),
                "ours queued (none merged or rejected)": (ours["pending"], n),
                "incremental new posts": (again["new_posts"], 0), "incremental requests": (again["requests"], 1),
                "naive new posts": (naive["new_posts"], n)}
    failed += [f"{what}: {got}, expected {want}" for what, (got, want) in expected.items() if got != want]
    return failed


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summarize(args: argparse.Namespace, generation_s: float, photos: list[bytes], variants: dict[str, dict]) -> dict:
    ours, naive = variants["ours"], variants["naive"]
    return {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "setup": {"posts": args.posts, "latency_s": args.latency, "image_size": list(SIZE), "jpeg_quality": QUALITY,
                  "mean_image_kb": sum(map(len, photos)) / len(photos) / 1024, "generation_s": generation_s,
                  "naive_client": "one shared httpx.Client" if args.reuse_client else "a new httpx client per request"},
        "variants": variants,
        "ratios": {"speed_up": _ratio(ours["posts_per_s"], naive["posts_per_s"]),
                   "requests_per_new_post": _ratio(ours["requests_per_new_post"], naive["requests_per_new_post"]),
                   "peak_memory": _ratio(ours["peak_mb"], naive["peak_mb"])},
    }


def _cell(value: float | int | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render(summary: dict) -> str:
    m, s, r = summary["machine"], summary["setup"], summary["ratios"]
    lines = [f"machine: {m['cpus']} CPUs, Python {m['python']}, {m['platform']}",
             f"fake: {s['posts']} posts with one {s['image_size'][0]}x{s['image_size'][1]} JPEG each "
             f"(mean {s['mean_image_kb']:.0f} KB), {s['latency_s'] * 1000:g} ms latency per request; "
             f"images generated in {s['generation_s']:.1f} s (not measured)",
             f"naive: sequential, {s['naive_client']}, full decode + pHash + dHash, one commit per post", "",
             f"{'variant':<18}{'posts':>7}{'wall s':>9}{'cpu s':>8}{'posts/s':>9}{'requests':>10}"
             f"{'req/new post':>14}{'peak MB':>9}"]
    for name, v in summary["variants"].items():
        lines.append(f"{name:<18}{v['new_posts']:>7}{v['wall_s']:>9.2f}{v['cpu_s']:>8.1f}"
                     f"{_cell(v['posts_per_s'] or None, 1):>9}{v['requests']:>10}"
                     f"{_cell(v['requests_per_new_post'], 3):>14}{v['peak_mb']:>9.1f}")
    stages = ", ".join(f"{name} {spent:.2f} s" for name, spent in summary["variants"]["ours"]["stages_s"].items())
    lines += [f"ours by stage: {stages}", "",
              f"ours vs naive: {_cell(r['speed_up'], 2)}x the posts/s, {_cell(r['requests_per_new_post'], 2)}x "
              f"the requests per new post, {_cell(r['peak_memory'], 2)}x the peak memory",
              "cpu s: user + system time of the variant's process, all threads (the fake runs in another process)",
              "peak MB: how far the variant's own process rose above its resident size at the start (peak RSS, "
              "VmHWM); counts C allocations such as decoded images, not only Python objects"]
    return "\n".join(lines)


def run_all(args: argparse.Namespace, photos: list[bytes], spawn: multiprocessing.context.BaseContext) -> dict:
    """Ours, ours again (incremental), then naive, each in a new process against a fake of its own."""
    # Identical statuses, bytes and ids on both fakes; the request counts and rate-limit budget are per variant.
    fakes = [serve(photos, args.latency) for _ in range(2)]
    try:
        with tempfile.TemporaryDirectory(prefix="wlb-bench-") as tmp:
            ours_dir, naive_dir = Path(tmp, "ours"), Path(tmp, "naive")
            ours_dir.mkdir()
            naive_dir.mkdir()
            ours_url, naive_url = fakes[0].base_url, fakes[1].base_url
            print("ours: collect + curate...", file=sys.stderr)
            ours = run_variant(spawn, fakes[0], run_ours, ours_url, str(ours_dir), args.posts, args.profile)
            print("ours: incremental collect + curate...", file=sys.stderr)
            again = run_variant(spawn, fakes[0], run_ours, ours_url, str(ours_dir), args.posts)
            print("naive: sequential collect + hash...", file=sys.stderr)
            naive = run_variant(spawn, fakes[1], run_naive, naive_url, str(naive_dir), args.reuse_client)
    finally:
        for fake in fakes:
            fake.stop()
    return {"ours": ours, "ours incremental": again, "naive": naive}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=DEFAULT_POSTS,
                        help=f"posts on the fake, one image each (default {DEFAULT_POSTS})")
    parser.add_argument("--latency", type=float, default=0.005, help="seconds the fake waits per request")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    # The fair baseline shares one httpx.Client, as a good engineer's script would; httpx.get per request (a new
    # client and SSL context each time) doubled the baseline's CPU and flattered the ratio (6.2x against 4.2x).
    parser.add_argument("--client-per-request", dest="reuse_client", action="store_false",
                        help="the old straw man: the naive baseline calls httpx.get, a new client per request")
    parser.add_argument("--profile", metavar="FILE",
                        help="write cProfile stats of ours' main thread to FILE (ours then runs slower)")
    args = parser.parse_args(argv)
    if not 1 <= args.posts <= MAX_POSTS:
        parser.error(f"--posts must be between 1 and {MAX_POSTS} (the fake's rate limit would make wlb wait)")
    if args.latency < 0:
        parser.error("--latency must be 0 or more seconds")
    spawn = multiprocessing.get_context("spawn")  # workers start empty: nothing inherited, nothing shared
    print(f"generating {args.posts} images...", file=sys.stderr)
    start = time.perf_counter()
    photos = generate(args.posts, spawn)
    generation_s = time.perf_counter() - start
    variants = run_all(args, photos, spawn)
    summary = summarize(args, generation_s, photos, variants)
    summary["failed_checks"] = checks(args.posts, *variants.values())
    print(json.dumps(summary, indent=2) if args.json else render(summary))
    for failure in summary["failed_checks"]:
        print(f"check failed: {failure}", file=sys.stderr)
    return 1 if summary["failed_checks"] else 0


if __name__ == "__main__":
    sys.exit(main())

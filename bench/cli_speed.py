"""CLI start-up and per-command time on a 100,000-item archive, as ratios to `python -c "import typer"`.

.venv/bin/python bench/cli_speed.py [--runs 5] [--items 100000] [--database URL] [--rebuild] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/cli_speed.py` from anywhere

import numpy as np  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from core.db import Database, latest_version  # noqa: E402
from core.models import Author, Cursor, Decision, ImageMatch, Media, Post, Publication  # noqa: E402
from core.fingerprints import RECORD  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "wlb-bench-cli"
T_END = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # the newest post; older ones go back about 1.3 years
# (status, share of items): most of an archive is pending, rejected or merged; few are ever approved.
STATUSES = (("pending", 0.55), ("rejected", 0.22), ("duplicate", 0.08), ("published", 0.10), ("approved", 0.03),
            ("new", 0.02))
# (platform, channel, share): the channels written to config.toml; none of them needs a secret.
SOURCES = (("mastodon", "mastodon_social", 0.45), ("mastodon", "mastodon_online", 0.20), ("pixelfed", "pixelfed", 0.12),
           ("bluesky", "bluesky", 0.13), ("flickr", "flickr", 0.05), ("rss", "blog", 0.05))
NETWORK = {"mastodon": "fediverse", "pixelfed": "fediverse", "bluesky": "bluesky", "flickr": "flickr", "rss": "web"}
AUTHORS = 8000
WORDS = ("Sunset over the Mont des Arts", "Morning light on the Grand-Place", "Rain in Saint-Gilles",
         "Flea market at the Jeu de Balle", "The Atomium from the Heysel", "Cherry blossom in Schaerbeek",
         "Tram 81 on the Avenue Louise", "Canal at dusk", "Fog on the Palais de Justice", "Street art in Marolles")
TAGS = ("welovebrussels", "brussels", "bruxelles", "brussel", "photography", "streetphotography", "belgium")
CONFIG = """\
database = "{database}"
media_dir = "data/media"
[channels.mastodon_social]
kind = "mastodon"
base_url = "https://mastodon.social"
[channels.mastodon_online]
kind = "mastodon"
base_url = "https://mastodon.online"
[channels.pixelfed]
kind = "pixelfed"
base_url = "https://pixelfed.social"
collect = false
[channels.bluesky]
kind = "bluesky"
handle = "welovebrussels.bsky.social"
collect = false
[channels.flickr]
kind = "flickr"
collect = false
[channels.blog]
kind = "rss"
feed_url = "https://blog.example/tag/welovebrussels/feed"
"""
# (name, command after `wlb`, target ratio to the typer baseline); ID and DECIDE are filled in per run.
COMMANDS = (("wlb --help", ["--help"], 3), ("wlb --version", ["--version"], 3),
            ("wlb queue --limit 20", ["queue", "--limit", "20"], 6), ("wlb show ID --no-preview", ["show", "ID", "--no-preview"], 6),
            ("wlb approve ID", ["approve", "DECIDE"], 6), ("wlb reject ID", ["reject", "DECIDE"], 6), ("wlb queue", ["queue"], 6),
            ("wlb queue --needs-credit --limit 20", ["queue", "--needs-credit", "--limit", "20"], 6),
            ("wlb queue --possible-duplicates --limit 20", ["queue", "--possible-duplicates", "--limit", "20"], 6),
            ("wlb queue --author @user7@m7.social", ["queue", "--author", "@user7@m7.social"], 6),
            ("wlb queue --since 2d --channel flickr", ["queue", "--since", "2d", "--channel", "flickr"], 6),
            # In a pseudo-terminal: from start to the first item's screen, then `q`. REVIEW marks it.
            ("wlb review: first screen, then q", ["REVIEW", "review"], 6),
            ("wlb review --needs-credit: first screen", ["REVIEW", "review", "--needs-credit"], 6))
REVIEW_READY = b"pprove"  # the key line under the first item ("a approve" or "approve"): the screen is complete


def _rows(items: int, seed: int = 9) -> dict[type, list[dict]]:
    """Realistic rows for every table: authors per network, 1-4 images a post, a mix of statuses, merges,
    possible duplicates, decisions, publications. Ids are given so rows can point at each other."""
    rng, np_rng = random.Random(seed), np.random.default_rng(seed)
    authors, by_platform = [], {}
    for n in range(1, AUTHORS + 1):
        plat = rng.choices([s[0] for s in SOURCES], [s[2] for s in SOURCES])[0]
        host = {"mastodon": f"m{n % 40}.social", "pixelfed": "pixelfed.social", "bluesky": "bsky.social"}.get(plat, "")
        handle = f"user{n}.{host}" if plat == "bluesky" else f"user{n}@{host}" if host else f"photographer{n}"
        authors.append({"id": n, "key": f"{NETWORK[plat]}:{handle}", "network": NETWORK[plat], "handle": handle,
                        "name": f"Photographer {n}", "profile_url": f"https://{host or 'flickr.com'}/@user{n}",
                        "uid": f"did:plc:{n:024x}" if plat == "bluesky" else None})
        by_platform.setdefault(plat, []).append(n)
    out = {Author: authors, Post: [], Media: [], ImageMatch: [], Decision: [], Publication: []}
    statuses = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES], k=items)
    sources = rng.choices(SOURCES, [s[2] for s in SOURCES], k=items)
    media_id, first_media = 0, {}
    blobs = np.zeros((items * 4, 7), dtype=RECORD)
    blobs["kind"], blobs["phash"] = range(7), np_rng.integers(0, 2**64, (items * 4, 7), dtype=np.uint64)
    for i in range(1, items + 1):
        status, (plat, channel, _) = statuses[i - 1] if i > 1 else "pending", sources[i - 1]
        # Posts arrive roughly in time order, but channels are collected at different moments.
        created = T_END - timedelta(minutes=6.8 * (items - i) + rng.uniform(0, 90))
        author = rng.choice(by_platform.get(plat) or [1])
        original = rng.randrange(1, i) if status == "duplicate" and i > 1 else None
        reasons = {"rejected": [rng.choice(["too small: 480x360", "sensitive", "blocked word 'nsfw'",
                                            "rejected by reviewer"])], "duplicate": [f"duplicate of #{original}"]}
        out[Post].append({
            "id": i, "key": f"https://{plat}.example/{channel}/{i}", "channel": channel, "platform": plat,
            "remote_id": str(10**17 + i * 7919), "url": f"https://{plat}.example/@user{author}/{10**17 + i * 7919}",
            "author_id": author, "sensitive": rng.random() < 0.02, "spoiler_text": "", "status": status,
            "text": f"{rng.choice(WORDS)} " + " ".join(f"#{t}" for t in rng.sample(TAGS, rng.randint(1, 4))),
            "language": rng.choice(["fr", "nl", "en", None]), "created_at": created,
            "collected_at": created + timedelta(minutes=rng.uniform(1, 120)), "duplicate_of": original,
            "reasons": reasons.get(status, []),
            "targets": [], "caption": None, "needs_credit": plat == "rss" and rng.random() < 0.2, "credit": None,
            "license": rng.choice(["CC BY 2.0", "CC BY-NC 2.0", "All Rights Reserved"]) if plat == "flickr" else None,
            "license_url": None, "title": f"Brussels #{i}" if plat == "flickr" else None})
        for position in range(rng.choices([1, 2, 3, 4], [70, 15, 8, 7])[0]):
            media_id += 1
            first_media.setdefault(i, media_id)
            sha = f"{rng.getrandbits(256):064x}"
            ok = status != "new" and not (status == "rejected" and rng.random() < 0.1)
            out[Media].append({
                "id": media_id, "post_id": i, "position": position, "url": f"https://files.example/{sha[:16]}.jpg",
                "remote_url": None, "alt_text": rng.choice([None, "A photo of Brussels"]),
                "state": "ok" if ok else "pending" if status == "new" else "refused",
                "refused_reason": None if ok or status == "new" else "not an image", "attempts": 0,
                "sha256": sha if ok else None, "path": f"{sha[:2]}/{sha[2:4]}/{sha}.jpg" if ok else None,
                "width": 1080 if ok else None, "height": 1350 if ok else None, "format": "JPEG" if ok else None,
                "bytes": rng.randint(120_000, 900_000) if ok else None,
                "phash": rng.getrandbits(64) - 2**63 if ok else None, "dhash": rng.getrandbits(64) - 2**63 if ok else None,
                "hash_version": 2 if ok else None, "hash_set": blobs[media_id].tobytes() if ok else None})
        if original:
            out[ImageMatch].append({"post_id": i, "other_id": original, "media_id": first_media[i],
                                    "other_media_id": first_media[original], "rule": "same photo", "tier": "duplicate",
                                    "phash_distance": rng.randint(0, 6), "dhash_distance": rng.randint(0, 8), "at": created})
        elif status == "pending" and i > 1 and rng.random() < 0.02:
            other = rng.randrange(1, i)
            out[ImageMatch].append({"post_id": i, "other_id": other, "media_id": first_media[i],
                                    "other_media_id": first_media[other], "rule": "cropped", "tier": "possible",
                                    "phash_distance": 11, "dhash_distance": 13, "at": created})
        at = created + timedelta(hours=2)
        system = {"pending": "queue", "approved": "queue", "published": "queue", "rejected": "auto-reject",
                  "duplicate": "auto-duplicate"}.get(status)
        if system:
            to = "pending" if system == "queue" else status
            out[Decision].append({"post_id": i, "action": system, "from_status": "new", "to_status": to, "actor": "wlb",
                                  "reason": (reasons.get(status) or [""])[0], "at": at})
        if status in ("approved", "published"):
            out[Decision].append({"post_id": i, "action": "approve", "from_status": "pending", "to_status": "approved",
                                  "actor": "reviewer", "reason": "", "at": at + timedelta(hours=5)})
        if status == "published":
            out[Decision].append({"post_id": i, "action": "publish", "from_status": "approved", "to_status": "published",
                                  "actor": "wlb", "reason": "", "at": at + timedelta(hours=20)})
            out[Publication].append({"post_id": i, "channel": "community", "idempotency_key": f"wlb-{i}-community",
                                     "state": "published", "attempts": 1, "text": "repost", "remote_id": str(i),
                                     "remote_url": f"https://community.example/@welovebrussels/{i}",
                                     "error": None, "created_at": at + timedelta(hours=20),
                                     "published_at": at + timedelta(hours=20)})
    out[Cursor] = [{"channel": c, "hashtag": "welovebrussels", "watermark": str(10**17 + items * 7919), "updated_at": T_END}
                   for _, c, _ in SOURCES]
    return out


def _pg_url(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def database(url: str | None, items: int, rebuild: bool) -> tuple[str, float | None]:
    """The archive's URL, built with wlb's own migrations and bulk inserts, or reused when it is complete."""
    key = f"v{latest_version()}_{items}"
    if url:  # PostgreSQL: a dedicated schema, so nothing else in that database is touched
        schema = f"wlb_bench_cli_{key}"
        admin = sa.create_engine(url)
        with admin.begin() as conn:
            if rebuild:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        admin.dispose()
        db_url = _pg_url(url, schema)
    else:
        folder = CACHE / key
        if rebuild and (folder / "wlb.db").exists():
            for f in folder.glob("wlb.db*"):
                f.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        db_url = f"sqlite:///{folder / 'wlb.db'}"
    db = Database(db_url)  # migrates: the real schema, indexes included
    try:
        with db.engine.connect() as conn:
            if conn.execute(sa.text("SELECT count(*) FROM post")).scalar() == items:
                return db_url, None
        start = time.perf_counter()
        rows = _rows(items)
        with db.engine.begin() as conn:  # one transaction: an interrupted build leaves nothing to mistake for done
            for model in (Decision, Publication, ImageMatch, Media, Post, Author, Cursor):
                conn.execute(model.__table__.delete())
            for model, batch in rows.items():
                conn.execute(model.__table__.insert(), batch)
            if db.engine.dialect.name == "postgresql":  # explicit ids leave the sequences behind
                for model in (Author, Post, Media):
                    name = model.__tablename__
                    conn.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                         f"(SELECT max(id) FROM {name}))"))
        with db.engine.begin() as conn:  # committed: PostgreSQL rolls back the statistics of an aborted ANALYZE
            conn.execute(sa.text("ANALYZE"))
        return db_url, time.perf_counter() - start
    finally:
        db.dispose()


def decidable(db_url: str, n: int) -> list[int]:
    """Pending items that approve without --force or --credit, oldest first, so the first page stays put."""
    db = Database(db_url)
    try:
        with db.engine.connect() as conn:
            return list(conn.execute(sa.text("SELECT id FROM post WHERE status = 'pending' AND license IS NULL AND "
                                             "needs_credit = :no ORDER BY id LIMIT :n"), {"no": False, "n": n}).scalars())
    finally:
        db.dispose()


def shown(db_url: str) -> int:
    """The newest pending item flagged as a possible duplicate: `show` then reads matches and history too."""
    db = Database(db_url)
    try:
        with db.engine.connect() as conn:
            return conn.execute(sa.text("SELECT max(p.id) FROM post p JOIN image_match m ON m.post_id = p.id "
                                        "WHERE p.status = 'pending'")).scalar()
    finally:
        db.dispose()


def measure(argv: list[str], env: dict[str, str], timeout: float) -> dict:
    """Wall and CPU (user + system) seconds and peak RSS (MB) of one child process, its exit code and output size."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, stdin=subprocess.DEVNULL)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        head, size, lines = out.read(400), 0, 0
        out.seek(0)
        while chunk := out.read(1 << 20):  # output may be hundreds of MB (`queue --json --all`): read it in chunks
            size, lines = size + len(chunk), lines + chunk.count(b"\n")
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "code": proc.returncode, "out_bytes": size,
            "lines": lines, "rss_mb": usage.ru_maxrss / 1024, "timed_out": wall >= timeout,
            "stderr": stderr.strip().splitlines()[-1] if stderr.strip() else "", "stdout": head.decode(errors="replace")}


def measure_pty(argv: list[str], env: dict[str, str], timeout: float) -> dict:
    """`wlb review` in a pseudo-terminal (it refuses a pipe): seconds until its first screen is drawn, then quit."""
    import pty
    import select as select_

    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes the command, its stdin/stdout the terminal
        os.execve(argv[0], argv, {**env, "COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"})
    start, seen, ready = time.perf_counter(), b"", None
    while time.perf_counter() - start < timeout:
        if select_.select([fd], [], [], 0.5)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if ready is None and REVIEW_READY in seen:
                ready = time.perf_counter() - start
                os.write(fd, b"q")
    wall = time.perf_counter() - start
    try:
        _, status, usage = os.wait4(pid, 0)
        code = os.waitstatus_to_exitcode(status)
    except ChildProcessError:
        code, usage = -1, None
    return {"wall": ready if ready is not None else wall, "cpu": (usage.ru_utime + usage.ru_stime) if usage else 0.0,
            "code": code if ready is not None else 1, "out_bytes": len(seen), "timed_out": ready is None and wall >= timeout,
            "stderr": "" if ready is not None else seen[-300:].decode(errors="replace"), "stdout": ""}


def run_all(args: argparse.Namespace, folder: Path, db_url: str) -> dict:
    """Every command `runs` times, round-robin, after one untimed warm-up round (compiled bytecode, page cache)."""
    config = folder / "config.toml"
    config.write_text(CONFIG.format(database=db_url), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WLB_")}  # no tokens of the person running it
    env |= {"WLB_CONFIG": str(config), "WLB_REVIEWER": "bench", "COLUMNS": "120"}
    wlb = Path(sys.executable).with_name("wlb")
    prefix = [str(wlb)] if wlb.exists() else [sys.executable, str(Path(__file__).resolve().parent.parent / "cli.py")]
    ids = iter(decidable(db_url, 2 * (args.runs + 1)))
    show_id = str(shown(db_url))
    variants = [("python -c 'import typer'", [sys.executable, "-c", "import typer"], None),
                ("python -c 'import sqlalchemy'", [sys.executable, "-c", "import sqlalchemy"], None),
                # The floor of every command that opens the archive: the ORM and our SQLModel tables, nothing else.
                ("python -c 'import core.models'", [sys.executable, "-c", "import core.models"], None)]
    variants += [(name, [*prefix, *(show_id if a == "ID" else a for a in argv)], target) for name, argv, target in COMMANDS]
    samples: dict[str, list[dict]] = {name: [] for name, _, _ in variants}
    notes: dict[str, str] = {}
    for round_ in range(args.runs + 1):
        for name, argv, _ in variants:
            if name in notes:  # missing or too slow: not repeated
                continue
            argv = [next(ids) if a == "DECIDE" else a for a in argv]
            argv = [str(a) for a in argv]
            sample = (measure_pty([a for a in argv if a != "REVIEW"], env, args.timeout) if "REVIEW" in argv
                      else measure(argv, env, args.timeout))
            if sample["timed_out"]:
                notes[name] = f"timeout after {args.timeout:.0f} s"
            elif sample["code"] != 0:
                missing = "No such option" in sample["stderr"] or "No such command" in sample["stderr"]
                notes[name] = "n/a (missing)" if missing else f"exit {sample['code']}: {sample['stderr'][:120]}"
            elif round_ > 0 or sample["wall"] > args.slow:
                samples[name].append(sample)
                if sample["wall"] > args.slow:  # e.g. plain `wlb queue` printing every pending item: once is enough
                    notes[name] = f"slower than {args.slow:.0f} s: measured once"
    base_cpu = statistics.median(s["cpu"] for s in samples["python -c 'import typer'"])
    base_wall = statistics.median(s["wall"] for s in samples["python -c 'import typer'"])
    # The second yardstick: its 6x target was set where SQLAlchemy alone is about 2x, i.e. 3x SQLAlchemy.
    sqla_cpu = statistics.median(s["cpu"] for s in samples["python -c 'import sqlalchemy'"])
    rows = []
    for name, _, target in variants:
        got = samples[name]
        row = {"command": name, "target": target, "note": notes.get(name, ""), "runs": len(got)}
        if got:
            wall, cpu = statistics.median(s["wall"] for s in got), statistics.median(s["cpu"] for s in got)
            row |= {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "wall_ratio": round(wall / base_wall, 2),
                    "cpu_ratio": round(cpu / base_cpu, 2), "cpu_vs_sqlalchemy": round(cpu / sqla_cpu, 2), "out_kb": round(statistics.median(s["out_bytes"] for s in got) / 1000, 1)}
            row["pass"] = None if target is None else row["wall_ratio"] <= target and row["cpu_ratio"] <= target
        rows.append(row)
    return {"rows": rows, "show_id": show_id}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each command (median reported)")
    parser.add_argument("--items", type=int, default=100_000, help="items in the archive")
    parser.add_argument("--database", metavar="URL", help="PostgreSQL URL (a schema wlb_bench_cli_* is used); default SQLite")
    parser.add_argument("--rebuild", action="store_true", help="build the archive again even if a complete one is cached")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one command may take before it is killed")
    parser.add_argument("--slow", type=float, default=10.0, help="a command slower than this (s) is measured once")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    db_url, built = database(args.database, args.items, args.rebuild)
    folder = CACHE / f"v{latest_version()}_{args.items}{'_pg' if args.database else ''}"  # config.toml goes here
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = run_all(args, folder, db_url)
    result |= {"items": args.items, "database": "PostgreSQL" if args.database else "SQLite", "runs": args.runs,
               "build_s": round(built, 1) if built is not None else None, "measure_s": round(time.perf_counter() - start, 1),
               "python": platform.python_version(), "cores": os.cpu_count()}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['database']} archive of {args.items:,} items ("
          + (f"built in {result['build_s']} s" if built is not None else "reused") + f"), {args.runs} runs each, "
          f"medians; Python {result['python']}, {result['cores']} cores; measured in {result['measure_s']} s\n")
    print("| command | wall s | cpu s | wall ratio | cpu ratio | cpu / sqlalchemy | target | output KB | |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in result["rows"]:
        target = f"{r['target']}x" if r["target"] else "baseline" if r["command"].endswith("typer'") else ""
        if "wall_s" not in r:
            print(f"| {r['command']} | | | | | | {target} | | {r['note']} |")
            continue
        verdict = "" if r["pass"] is None else "PASS" if r["pass"] else "over"
        print(f"| {r['command']} | {r['wall_s']:.3f} | {r['cpu_s']:.3f} | {r['wall_ratio']:.2f}x | {r['cpu_ratio']:.2f}x "
              f"| {r['cpu_vs_sqlalchemy']:.2f}x | {target} | {r['out_kb']:,} | {verdict} {r['note']}".rstrip() + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

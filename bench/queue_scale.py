"""The queue at scale: `wlb queue --json --all`, a page, a deep page and review's first screen on 100,000 items.

.venv/bin/python bench/queue_scale.py [--runs 3] [--items 100000] [--database URL] [--rebuild] [--json]

Each variant runs in a fresh process; wall and CPU seconds and the process's peak resident memory (ru_maxrss) are
medians of --runs. The baselines run in the same run: the path `wlb queue --json` took before it streamed (every
item read, then one JSON dump: `before_all`, the code as it was), a deep page by --offset next to the same page by
--after, and `python -c "import typer"` for scale. The archive is bench/cli_speed.py's, built with wlb's migrations.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/queue_scale.py` from anywhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlalchemy as sa  # noqa: E402

from cli_speed import CACHE, CONFIG, database, measure, measure_pty  # noqa: E402
from core.db import Database, latest_version  # noqa: E402

# `wlb queue --json` before this change, as it was: every matching post read at once, every view built, one dump.
BEFORE_ALL = """
import sys
from sqlmodel import col, select
from app.config import load_settings
from app.output import Output
from app.workspace import Workspace
from core.models import POSSIBLE, Author, ImageMatch, Media, Post
from curation.filters import ItemFilter, where
from curation.views import _chunks, _Loaded, item_view

def load(session, posts):  # curation.views._load before this change: ORM objects for every image
    loaded = _Loaded()
    for ids in _chunks({p.author_id for p in posts}):
        loaded.authors.update((a.id, a) for a in session.exec(select(Author).where(col(Author.id).in_(ids))))
    for ids in _chunks(p.id for p in posts):
        for m in session.exec(select(Media).where(col(Media.post_id).in_(ids)).order_by(Media.post_id, Media.position)):
            loaded.media[m.post_id].append(m)
        for post_id, other_id in session.exec(select(ImageMatch.post_id, ImageMatch.other_id).where(
                col(ImageMatch.post_id).in_(ids), ImageMatch.tier == POSSIBLE).order_by(ImageMatch.post_id, ImageMatch.other_id)):
            loaded.possible[post_id].append(other_id)
    return loaded

with Workspace(load_settings(sys.argv[1], check_secrets=False)) as ws, ws.db.session() as session:
    flt = ItemFilter(status="all")
    query = where(select(Post), flt, session, ws.settings).order_by(col(Post.created_at).desc(), col(Post.id).desc())
    posts = list(session.exec(query))
    loaded = load(session, posts)
    items = [item_view(session, ws.store, p, settings=ws.settings, loaded=loaded) for p in posts]
Output(json_mode=True).json(items)
"""


def _ids(db_url: str) -> dict[str, int]:
    """Item ids the variants need: the 89,999th of every item newest first (the deep page's cursor)."""
    db = Database(db_url)
    try:
        with db.engine.connect() as conn:
            total = conn.execute(sa.text("SELECT count(*) FROM post")).scalar()
            deep = conn.execute(sa.text("SELECT id FROM post ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET :n"),
                                {"n": min(89_999, total - 51)}).scalar()
    finally:
        db.dispose()
    return {"deep_after": deep, "deep_offset": min(90_000, total - 50)}


def variants(prefix: list[str], config: Path, ids: dict[str, int]) -> list[tuple[str, list[str], str]]:
    """(name, argv, what it is compared with)."""
    py = sys.executable
    return [
        ("python -c 'import typer'", [py, "-c", "import typer"], ""),
        ("before: queue --json (all, one dump)", [py, "-c", BEFORE_ALL, str(config)], ""),
        ("wlb queue --json --all --status all", [*prefix, "queue", "--json", "--all", "--status", "all"],
         "before: queue --json (all, one dump)"),
        ("wlb queue --json --all (pending)", [*prefix, "queue", "--json", "--all"], ""),
        ("wlb queue (one page)", [*prefix, "queue"], ""),
        ("wlb queue --json (one page)", [*prefix, "queue", "--json"], ""),
        (f"deep page: --offset {ids['deep_offset']:,}", [*prefix, "queue", "--json", "--status", "all", "--offset",
                                                       str(ids["deep_offset"])], ""),
        ("deep page: --after ID (same page)", [*prefix, "queue", "--json", "--status", "all", "--after",
                                              str(ids["deep_after"])], f"deep page: --offset {ids['deep_offset']:,}"),
        ("wlb review: first screen", ["REVIEW", *prefix, "review"], ""),
    ]


def run_all(args: argparse.Namespace, folder: Path, db_url: str) -> list[dict]:
    config = folder / "config.toml"
    config.write_text(CONFIG.format(database=db_url), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WLB_")}
    env |= {"WLB_CONFIG": str(config), "WLB_REVIEWER": "bench", "COLUMNS": "120"}
    wlb = Path(sys.executable).with_name("wlb")
    prefix = [str(wlb)] if wlb.exists() else [sys.executable, str(Path(__file__).resolve().parent.parent / "cli.py")]
    chosen = variants(prefix, config, _ids(db_url))
    samples: dict[str, list[dict]] = {name: [] for name, _, _ in chosen}
    for _ in range(args.runs):  # round-robin: the machine's other load falls on every variant alike
        for name, argv, _ in chosen:
            if argv[0] == "REVIEW":
                s = measure_pty(argv[1:], env, args.timeout) | {"rss_mb": None}
            else:
                s = measure(argv, env, args.timeout)
            if s["code"] != 0:
                raise SystemExit(f"{name}: exit {s['code']}: {s['stderr'][:300]}")
            samples[name].append(s)
    rows = []
    for name, _, against in chosen:
        got = samples[name]
        row = {"variant": name, "wall_s": round(statistics.median(s["wall"] for s in got), 3),
               "cpu_s": round(statistics.median(s["cpu"] for s in got), 3), "runs": len(got),
               "out_mb": round(statistics.median(s["out_bytes"] for s in got) / 1e6, 2)}
        if got[0]["rss_mb"] is not None:
            row["peak_rss_mb"] = round(statistics.median(s["rss_mb"] for s in got), 1)
        if against:
            base = next(r for r in rows if r["variant"] == against)
            row["speed_up"] = round(base["wall_s"] / row["wall_s"], 2)
            if "peak_rss_mb" in row:
                row["memory_ratio"] = round(base["peak_rss_mb"] / row["peak_rss_mb"], 2)
        rows.append(row)
    listed = {s["lines"] - 2 for s in samples["wlb queue --json --all --status all"]}  # "[", one line per item, "]"
    if listed != {args.items}:
        raise SystemExit(f"wlb queue --json --all listed {listed} items, not {args.items}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each variant (median reported)")
    parser.add_argument("--items", type=int, default=100_000, help="items in the archive")
    parser.add_argument("--database", metavar="URL", help="PostgreSQL URL (a schema wlb_bench_cli_* is used); default SQLite")
    parser.add_argument("--rebuild", action="store_true", help="build the archive again even if a complete one is cached")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one variant may take before it is killed")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    db_url, built = database(args.database, args.items, args.rebuild)
    folder = CACHE / f"v{latest_version()}_{args.items}{'_pg' if args.database else ''}"
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows = run_all(args, folder, db_url)
    result = {"items": args.items, "database": "PostgreSQL" if args.database else "SQLite", "runs": args.runs,
              "rows": rows, "measure_s": round(time.perf_counter() - start, 1), "python": platform.python_version(),
              "cores": os.cpu_count()}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['database']} archive of {args.items:,} items, {args.runs} runs each, medians; "
          f"Python {result['python']}, {result['cores']} cores; measured in {result['measure_s']} s\n")
    print("| variant | wall s | cpu s | peak RSS MB | output MB | vs baseline |\n| --- | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        ratio = (f"{r['speed_up']:.2f}x faster" + (f", {r['memory_ratio']:.1f}x less memory" if "memory_ratio" in r else "")
                 if "speed_up" in r else "")
        rss = f"{r['peak_rss_mb']:.0f}" if "peak_rss_mb" in r else "-"
        print(f"| {r['variant']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {rss} | {r['out_mb']:,} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`wlb report` on a 100,000-item archive, as ratios to `wlb queue --limit 20` measured in the same run.

.venv/bin/python bench/report_speed.py [--runs 5] [--items 100000] [--database URL] [--rebuild] [--json]

The archive is bench/cli_speed.py's (same rows, same cache): its newest post is 2026-11-30, so `--since 7d`
counts the last days of it when run soon after, and `--since 80w` counts all of it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/report_speed.py` from anywhere

from bench.cli_speed import CACHE, CONFIG, database, measure  # noqa: E402
from core.db import latest_version  # noqa: E402

BASELINE = "wlb queue --limit 20"
CHART = Path(tempfile.gettempdir()) / "wlb-bench-report.png"
# (name, arguments after `wlb`, target ratio to the baseline or None)
COMMANDS = ((BASELINE, ["queue", "--limit", "20"], None),
            ("wlb report", ["report"], 2),
            ("wlb report --json", ["report", "--json"], 2),
            ("wlb report --csv", ["report", "--csv"], 2),
            ("wlb report --since 80w (the whole archive)", ["report", "--since", "80w"], 3),
            ("wlb report --since 80w --chart FILE", ["report", "--since", "80w", "--chart", str(CHART)], None))


def run_all(args: argparse.Namespace, config: Path) -> list[dict]:
    """Every command `runs` times, round-robin, after one untimed warm-up round."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WLB_")}
    env |= {"WLB_CONFIG": str(config), "COLUMNS": "120"}
    wlb = Path(sys.executable).with_name("wlb")
    prefix = [str(wlb)] if wlb.exists() else [sys.executable, str(Path(__file__).resolve().parent.parent / "cli.py")]
    samples: dict[str, list[dict]] = {name: [] for name, _, _ in COMMANDS}
    notes: dict[str, str] = {}
    for round_ in range(args.runs + 1):
        for name, argv, _ in COMMANDS:
            if name in notes:
                continue
            sample = measure([*prefix, *argv], env, args.timeout)
            if sample["timed_out"] or sample["code"] != 0:
                notes[name] = f"timeout after {args.timeout:.0f} s" if sample["timed_out"] else \
                    f"exit {sample['code']}: {sample['stderr'][:160]}"
            elif round_ > 0:
                samples[name].append(sample)
    base = samples[BASELINE]
    base_wall = statistics.median(s["wall"] for s in base) if base else None
    base_cpu = statistics.median(s["cpu"] for s in base) if base else None
    rows = []
    for name, _, target in COMMANDS:
        got, row = samples[name], {"command": name, "target": target, "note": notes.get(name, ""), "runs": len(samples[name])}
        if got and base_wall:
            wall, cpu = statistics.median(s["wall"] for s in got), statistics.median(s["cpu"] for s in got)
            row |= {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "wall_ratio": round(wall / base_wall, 2),
                    "cpu_ratio": round(cpu / base_cpu, 2),
                    "out_kb": round(statistics.median(s["out_bytes"] for s in got) / 1000, 1)}
            row["pass"] = None if target is None else row["wall_ratio"] <= target
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each command (median reported)")
    parser.add_argument("--items", type=int, default=100_000, help="items in the archive")
    parser.add_argument("--database", metavar="URL", help="PostgreSQL URL (a schema wlb_bench_cli_* is used); default SQLite")
    parser.add_argument("--rebuild", action="store_true", help="build the archive again even if a complete one is cached")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds one command may take before it is killed")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    db_url, built = database(args.database, args.items, args.rebuild)
    folder = CACHE / f"v{latest_version()}_{args.items}{'_pg' if args.database else ''}"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config-report.toml"
    config.write_text(CONFIG.format(database=db_url), encoding="utf-8")
    start = time.perf_counter()
    rows = run_all(args, config)
    result = {"rows": rows, "items": args.items, "database": "PostgreSQL" if args.database else "SQLite",
              "runs": args.runs, "build_s": round(built, 1) if built is not None else None,
              "measure_s": round(time.perf_counter() - start, 1), "python": platform.python_version(),
              "cores": os.cpu_count()}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['database']} archive of {args.items:,} items ("
          + (f"built in {result['build_s']} s" if built is not None else "reused") + f"), {args.runs} runs each, "
          f"medians; Python {result['python']}, {result['cores']} cores; measured in {result['measure_s']} s\n")
    print("| command | wall s | cpu s | wall ratio | cpu ratio | target | output KB | |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        target = f"{r['target']}x" if r["target"] else "baseline" if r["command"] == BASELINE else ""
        if "wall_s" not in r:
            print(f"| {r['command']} | | | | | {target} | | {r['note']} |")
            continue
        verdict = "" if r["pass"] is None else "PASS" if r["pass"] else "over"
        print(f"| {r['command']} | {r['wall_s']:.3f} | {r['cpu_s']:.3f} | {r['wall_ratio']:.2f}x | {r['cpu_ratio']:.2f}x "
              f"| {target} | {r['out_kb']:,} | {verdict} {r['note']}".rstrip() + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

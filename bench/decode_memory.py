"""Peak memory of concurrent image decodes during downloads: no budget (before) vs the shared pixel budget.

.venv/bin/python bench/decode_memory.py [--images 8] [--megapixels 59.5] [--concurrency 8] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/decode_memory.py` from anywhere

import httpx  # noqa: E402
from PIL import Image  # noqa: E402

from collector.media import fetch_all  # noqa: E402
from core.media import MediaStore  # noqa: E402
from core.decode_budget import DecodeBudget, budget_for  # noqa: E402
from core.http import Http  # noqa: E402
from core.settings import NetworkSettings  # noqa: E402
from tests.fakes import images  # noqa: E402

CACHE = Path(tempfile.gettempdir()) / "wlb-bench-decode"
UNBOUNDED = 10**15  # a budget nothing fills: every thread decodes at once, as before the budget existed
# (variant, PILLOW_BLOCK_SIZE): before (Pillow's 16 MB blocks, no budget); the budget alone; what wlb does.
VARIANTS = (("no budget", "16m"), ("budget", "16m"), ("budget", None))


def make_pngs(n: int, megapixels: float) -> list[Path]:
    """N distinct PNGs of about `megapixels`, 4:5, generated once and cached (smooth content: small files)."""
    width = int((megapixels * 1e6 * 4 / 5) ** 0.5)
    height = int(megapixels * 1e6 / width)
    CACHE.mkdir(exist_ok=True)
    paths = []
    for seed in range(n):
        path = CACHE / f"{width}x{height}-{seed}.png"
        if not path.exists():
            big = images.photo(seed, (80, 100)).resize((width, height), Image.Resampling.BILINEAR)
            big.save(path.with_suffix(".part"), "PNG", compress_level=1)
            del big
            path.with_suffix(".part").rename(path)
        paths.append(path)
    return paths


def _hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def child(variant: str, paths: list[str], concurrency: int, max_pixels: int) -> dict:
    """Run fetch_all over the PNGs (served by a MockTransport) in this fresh process; report its peak RSS rise."""
    bodies = {f"/{i}.png": Path(p).read_bytes() for i, p in enumerate(paths)}

    def serve(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=bodies[request.url.path], headers={"content-type": "image/png"})

    def resolve(host, port, *args, **kwargs):  # noqa: ANN001, ANN202 - a public address for the SSRF guard
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    net = NetworkSettings(max_pixels=max_pixels, max_media_bytes=500_000_000)
    budget = DecodeBudget(UNBOUNDED if variant == "no budget" else budget_for(max_pixels))
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS (Linux)
    start_kb, start = _hwm_kb(), time.perf_counter()
    with tempfile.TemporaryDirectory() as media, \
            Http(net, transport=httpx.MockTransport(serve), resolve=resolve) as http:
        results = list(fetch_all(http, MediaStore(Path(media)), [(i, [f"https://cdn.example/{i}.png"])
                                                                  for i in range(len(paths))],
                                 concurrency=concurrency, max_bytes=net.max_media_bytes, max_pixels=max_pixels,
                                 budget=budget))
    bad = [r for r in results if not r.sha256]
    if bad:
        raise SystemExit(f"not stored: {bad}")
    return {"variant": variant, "peak_mb": round((_hwm_kb() - start_kb) / 1024), "wall_s": round(time.perf_counter() - start, 1),
            "most_pixels_at_once": budget.peak, "budget": None if budget.capacity == UNBOUNDED else budget.capacity}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--megapixels", type=float, default=59.5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-pixels", type=int, default=NetworkSettings().max_pixels)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.paths, args.concurrency, args.max_pixels)))
        return 0
    paths = [str(p) for p in make_pngs(args.images, args.megapixels)]
    rows = []
    for variant, blocks in VARIANTS:  # each in a fresh process: a peak RSS is per process
        env = {**os.environ, **({"PILLOW_BLOCK_SIZE": blocks} if blocks else {})}
        out = subprocess.run([sys.executable, __file__, "--child", variant, "--concurrency", str(args.concurrency),
                              "--max-pixels", str(args.max_pixels), *paths], capture_output=True, text=True,
                             check=True, env=env)
        rows.append({**json.loads(out.stdout), "variant": variant + (f", Pillow blocks {blocks}" if blocks else "")})
    result = {"images": f"{args.images} PNGs of {args.megapixels} MP", "concurrency": args.concurrency, "rows": rows,
              "peak_ratio": round(rows[0]["peak_mb"] / max(1, rows[-1]["peak_mb"]), 2)}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"downloading {result['images']} with {args.concurrency} threads (inspect + hash each):\n")
    print("| variant | peak MB above start | wall s | most pixels decoding at once |\n| --- | ---: | ---: | ---: |")
    for row in rows:
        print(f"| {row['variant']} | {row['peak_mb']} | {row['wall_s']} | {row['most_pixels_at_once']:,} |")
    print(f"\npeak memory: {result['peak_ratio']}x lower with the budget ({rows[-1]['budget']:,} pixels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

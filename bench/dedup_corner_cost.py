"""What the four query-only corner kinds cost: hashing and one lookup with them against the same engine without them.

.venv/bin/python bench/dedup_corner_cost.py [--images N] [--photos N] [--json]

Both variants run interleaved in this process (same machine load), medians of the rounds; the index holds the
stored kinds of random photos, which the corner kinds do not change (they are never stored).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python bench/dedup_corner_cost.py` from anywhere

import numpy as np  # noqa: E402

from bench.dedup_speed import _records, make  # noqa: E402
from core.fingerprints import ImageHashes, _grayscale  # noqa: E402
from core.signals import CORNERS, KINDS, compute  # noqa: E402
from curation import index as engine  # noqa: E402

WITHOUT = tuple(k for k in KINDS if k.id not in CORNERS)
STORED = [k.id for k in KINDS if k.stored and not k.whole]


def _ms(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def hashing(images: int, rounds: int) -> dict:
    """ms per image for the hash set (from the decoded grey image, and from the JPEG bytes), without and with."""
    files = [make(seed) for seed in range(images)]
    grays = [_grayscale(data) for data in files]
    times: dict[str, list[float]] = {name: [] for name in ("without", "with", "bytes_without", "bytes_with")}
    for _ in range(rounds):
        for name, kinds in (("without", WITHOUT), ("with", KINDS)):
            times[name].append(_ms(lambda: [compute(g, kinds) for g in grays]) / images)  # noqa: B023
            times[f"bytes_{name}"].append(_ms(lambda: [compute(_grayscale(d), kinds) for d in files]) / images)  # noqa: B023
    return {name: round(statistics.median(t), 3) for name, t in times.items()}


def lookup(photos: int, rounds: int) -> dict:
    """ms for one image's every query kind against `photos` stored photos, with and without the corner pairs."""
    rng = np.random.default_rng(7)
    blobs = _records(rng, photos, STORED)
    index = engine.HashIndex()
    index.add_many([(i, i, None, blobs[i].tobytes(), 0, 0) for i in range(photos)])
    query = ImageHashes("", 0, 0, records=_records(rng, 1, [k.id for k in KINDS if not k.whole])[0].tobytes())
    full, rules = dict(engine.PAIRS), engine.Rules()
    reduced = {pair: rule for pair, rule in full.items() if pair[0] not in CORNERS}
    times: dict[str, list[float]] = {"without": [], "with": []}
    try:
        for _ in range(rounds):
            for name, pairs in (("without", reduced), ("with", full)):
                engine.PAIRS.clear()
                engine.PAIRS.update(pairs)
                times[name].append(_ms(lambda: index.matches(query, rules)))
    finally:
        engine.PAIRS.clear()
        engine.PAIRS.update(full)
    return {"pairs_without": len(reduced), "pairs_with": len(full),
            **{name: round(statistics.median(t), 2) for name, t in times.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--photos", type=int, default=142_857)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = {"hashing_ms_per_image": hashing(args.images, 7), "lookup_ms": lookup(args.photos, 21),
              "stored_hashes_per_photo": len(STORED), "records_per_photo": {"without": len(WITHOUT) - 1,
                                                                            "with": len(KINDS) - 1}}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    h, lk = result["hashing_ms_per_image"], result["lookup_ms"]
    print("| | without corner kinds | with | ratio |\n| --- | ---: | ---: | ---: |")
    print(f"| hash set from a decoded 1080x1350 JPEG (ms, median) | {h['without']} | {h['with']} | "
          f"{h['with'] / h['without']:.2f}x |")
    print(f"| decode (draft) + hash set (ms, median) | {h['bytes_without']} | {h['bytes_with']} | "
          f"{h['bytes_with'] / h['bytes_without']:.2f}x |")
    print(f"| one image, every query kind, {args.photos:,} photos x {len(STORED)} stored kinds (ms, median) | "
          f"{lk['without']} | {lk['with']} | {lk['with'] / lk['without']:.2f}x |")
    print(f"| kind pairs compared | {lk['pairs_without']} | {lk['pairs_with']} | |")
    r = result["records_per_photo"]
    print(f"| records in a row's hash set (17 bytes each, unframed) | {r['without']} | {r['with']} | |")
    print(f"| stored hashes per photo in the index | {len(STORED)} | {len(STORED)} | 1.00x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

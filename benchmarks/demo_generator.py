"""Benchmark: how fast the demo generator yields declarations (it feeds the 1,000,000-declaration benchmarks).

Usage: python benchmarks/demo_generator.py [N]   Results: benchmarks/results/demo_generator.json
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

from opencustoms.demo.generator import generate

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    list(generate(1000, seed=8))  # build and cache the world
    started = time.perf_counter()
    count = sum(1 for _ in generate(n, seed=8))
    seconds = time.perf_counter() - started
    result = {
        "declarations": count,
        "seconds": round(seconds, 2),
        "declarations_per_s": round(count / seconds),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    print(
        f"{'declarations':>12} {'seconds':>8} {'decl/s':>10}\n{count:>12,} {result['seconds']:>8} "
        f"{result['declarations_per_s']:>10,}"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "demo_generator.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Corridor checks on 1,000,000 GPS points (target ≤ 10 s): containment in the tolerance buffer for all points
(vectorised projection + shapely 2 prepared contains_xy), distance to the route for the points outside."""

from __future__ import annotations

import time

import numpy as np

from _common import write
from opencustoms.iot.geo import Corridor

N = 1_000_000


def main() -> None:
    rng = np.random.default_rng(42)
    # a 400 km winding road of 400 vertices from Rotterdam towards Frankfurt
    t = np.linspace(0, 1, 400)
    route = np.column_stack([4.2 + 4.5 * t + 0.05 * np.sin(t * 40), 51.9 - 1.8 * t + 0.05 * np.cos(t * 33)])
    began = time.perf_counter()
    corridor = Corridor(route.tolist(), tolerance_m=500)
    build_s = time.perf_counter() - began
    k = rng.integers(0, 399, N)
    w = rng.random(N)
    lon = route[k, 0] + (route[k + 1, 0] - route[k, 0]) * w + rng.normal(0, 0.006, N)
    lat = route[k, 1] + (route[k + 1, 1] - route[k, 1]) * w + rng.normal(0, 0.004, N)
    began = time.perf_counter()
    inside = corridor.inside(lat, lon)
    inside_s = time.perf_counter() - began
    began = time.perf_counter()
    outside = ~inside
    distance = corridor.distance_m(lat[outside], lon[outside])
    distance_s = time.perf_counter() - began
    total = inside_s + distance_s
    rows = [
        ("points", f"{N:,}"),
        ("route vertices / pieces", f"400 / {len(corridor.pieces)}"),
        ("projection error bound", f"{corridor.error_bound:.4%}"),
        ("build corridor", f"{build_s:.3f} s"),
        ("inside check (all points)", f"{inside_s:.2f} s"),
        (f"distance for {int(outside.sum()):,} outside points", f"{distance_s:.2f} s"),
        ("total", f"{total:.2f} s ({N / total:,.0f} points/s)"),
        ("target", "≤ 10 s"),
    ]
    for name, value in rows:
        print(f"{name:<40} {value}")
    assert float(distance.min()) >= 499.0  # points outside the buffer are at least the tolerance away
    write(
        "iot_corridor",
        {
            "points": N,
            "vertices": 400,
            "pieces": len(corridor.pieces),
            "build_s": build_s,
            "inside_s": inside_s,
            "distance_s": distance_s,
            "outside_points": int(outside.sum()),
            "total_s": total,
            "points_per_s": N / total,
            "target_s": 10,
            "error_bound": corridor.error_bound,
        },
    )


if __name__ == "__main__":
    main()

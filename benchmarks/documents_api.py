"""Benchmark: latency of one verification through the API (target p99 <= 20 ms).

uvicorn serves the real application on loopback (127.0.0.1, a free port, one worker, in a thread of this
process); httpx sends N sequential POST /documents/verify requests with a ~4 KB certificate of origin, keeping one
connection alive. Latency is measured client-side per request.

Baseline, in the same run: each verification is followed by a GET /health (one database query, a tiny JSON answer)
on the same connection, so both see the same machine load; the ratio of the two is comparable across runs on a
loaded, shared machine.

Usage: python benchmarks/documents_api.py [--requests N]   Results: benchmarks/results/documents_api.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import threading
import time

from _documents_common import WORK, coo, fresh_engine, settings, write


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2_000)
    n = parser.parse_args().requests

    import httpx
    import uvicorn

    engine = fresh_engine("documents_api")
    database_url = engine.url.render_as_string(hide_password=False)
    cfg = settings()
    os.environ.update(
        {
            "OPENCUSTOMS_DOCUMENTS_STORE_ADDRESS": cfg.store_address,
            "OPENCUSTOMS_DOCUMENTS_IDENTITY_DOMAIN": cfg.identity_domain,
        }
    )
    from opencustoms.api import create_app
    from opencustoms.config import Settings
    from opencustoms.context import Platform
    from opencustoms.documents import service
    from opencustoms.documents.config import get_document_settings
    from opencustoms.security.service import local_operator

    get_document_settings.cache_clear()
    documents = service.issue(engine, local_operator("NL"), "coo", [coo(i) for i in range(100)], cfg).documents
    bodies = [json.dumps(d).encode() for d in documents]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(Platform(Settings(database_url=database_url, data_dir=WORK / "documents_api")))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", workers=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)

    latencies = []
    baseline = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        for i in range(200):  # warm-up
            client.post("/documents/verify", content=bodies[i % 100], headers={"content-type": "application/json"})
        for i in range(n):
            started = time.perf_counter()
            r = client.post("/documents/verify", content=bodies[i % 100], headers={"content-type": "application/json"})
            latencies.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200 and r.json()["valid"], r.text
            started = time.perf_counter()
            r = client.get("/health")
            baseline.append((time.perf_counter() - started) * 1000)
            assert r.status_code == 200, r.text
    server.should_exit = True
    thread.join(timeout=5)

    q = statistics.quantiles(latencies, n=100)
    p50, p95, p99 = statistics.median(latencies), q[94], q[98]
    qb = statistics.quantiles(baseline, n=100)
    b50, b99 = statistics.median(baseline), qb[98]
    print(f"{n:,} sequential POST /documents/verify via httpx -> uvicorn on loopback (same process, 1 worker)")
    print(f"{'request':28} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    print(f"{'POST /documents/verify':28} {p50:8.2f} {p95:8.2f} {p99:8.2f} {max(latencies):8.2f}")
    print(f"{'baseline: GET /health':28} {b50:8.2f} {qb[94]:8.2f} {b99:8.2f} {max(baseline):8.2f}")
    print(f"target: p99 <= 20 ms; verify / health: p50 {p50 / b50:.1f}x, p99 {p99 / b99:.1f}x")
    write(
        "documents_api",
        {
            "requests": n,
            "p50_ms": round(p50, 2),
            "p95_ms": round(p95, 2),
            "p99_ms": round(p99, 2),
            "max_ms": round(max(latencies), 2),
            "baseline_health_p50_ms": round(b50, 2),
            "baseline_health_p99_ms": round(b99, 2),
            "p99_over_baseline_p99": round(p99 / b99, 2),
            "transport": "httpx -> uvicorn on 127.0.0.1, one worker, same process",
            "database": "sqlite (WAL)",
        },
    )


if __name__ == "__main__":
    main()

"""Benchmark: one stored declaration laned through the API, POST /risk/decisions/{reference}, at 100 requests/s
(target p99 <= 20 ms).

Set-up: opencustoms.demo.run.prepare_with_tokens on a few thousand seeded demo declarations (import, past
inspections, a model trained on them and promoted, every declaration laned) in a fresh folder under var/bench/. The
server is `opencustoms serve --workers N` itself (default 2 uvicorn workers, one per core of this machine), in its own
processes, on 127.0.0.1 and a free port.

Load: open loop. Requests are sent at their scheduled times whatever the server's answers — POST
/risk/decisions/{reference} at ``--rate`` per second (default 100) with the risk analyst's token (laning needs
decisions:write) for one of 500 new demo declarations (seed 7, stored before the run: a decision is taken on a
stored declaration, loaded by its reference), and in the same run GET /health at 10 per second as the baseline (one
database query, a tiny JSON answer), both for ``--seconds`` (default 20). Before that, 300 decisions and 300 health
checks one at a time (closed loop) give the service time without queueing. Each decision is stored (with its reasons
and audit entry), as the endpoint does. Latency is measured client-side (httpx, asyncio) from the scheduled send
time to the end of the response, so a server that falls behind shows it (no coordinated omission); the time from the
actual send is reported beside it. Every answer is checked (201 with a lane and reasons; 200 for health).

Usage: python benchmarks/risk_api.py [--declarations 5000] [--rate 100] [--seconds 20] [--workers 2] [--reuse]
Results: benchmarks/results/risk_api.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import ROOT, WORK, write
from processes import stop, wait_for

FOLDER = WORK / "risk_api"
HEALTH_RATE = 10
SEQUENTIAL = 300


def percentiles(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=100)
    return {
        "p50_ms": round(statistics.median(values), 2),
        "p95_ms": round(q[94], 2),
        "p99_ms": round(q[98], 2),
        "max_ms": round(max(values), 2),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by the server process and its worker processes (Linux /proc)."""
    total, pids = 0.0, [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(c) for c in (task / "children").read_text().split()]
        for p in pids:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")
    return total


async def load(
    base: str, token: str, references: list[str], rate: float, seconds: float, server_pid: int
) -> dict[str, Any]:
    import httpx

    auth = {"Authorization": f"Bearer {token}"}
    paths = [f"/risk/decisions/{reference}" for reference in references]
    schedule = sorted(
        [(i / rate, "decision", i) for i in range(int(rate * seconds))]
        + [((i + 0.5) / HEALTH_RATE, "health", i) for i in range(int(HEALTH_RATE * seconds))]
    )
    samples: dict[str, list[tuple[float, float]]] = {"decision": [], "health": []}
    failures: list[str] = []
    lanes: dict[str, int] = {}
    # idle connections are dropped by the client before uvicorn's keep-alive timeout (5 s) closes them: with both
    # at 5 s, a request sent on a connection the server is closing fails with ReadError (a client-side race)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10.0) as client:

        async def one(kind: str, i: int, due: float) -> None:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = time.perf_counter()
            try:
                if kind == "decision":
                    r = await client.post(paths[i % len(paths)], headers=auth)
                    ok = r.status_code == 201 and bool(r.json().get("reasons"))
                    if ok:
                        lane = r.json()["lane"]
                        lanes[lane] = lanes.get(lane, 0) + 1
                else:
                    r = await client.get("/health")
                    ok = r.status_code == 200
            except httpx.HTTPError as exc:
                failures.append(f"{kind}: {exc.__class__.__name__}")
                return
            done = time.perf_counter()
            if not ok:
                failures.append(f"{kind}: {r.status_code} {r.text[:200]}")
                return
            samples[kind].append(((done - due) * 1000, (done - sent) * 1000))

        # warm-up, sequential: the model is loaded and cached, connections opened
        for i in range(50):
            await client.post(paths[i], headers=auth)
            await client.get("/health")
        # closed loop, one request at a time: the service time without queueing
        sequential: dict[str, list[float]] = {"decision": [], "health": []}
        cpu_start = server_cpu_s(server_pid)
        for i in range(SEQUENTIAL):
            sent = time.perf_counter()
            r = await client.post(paths[i % len(paths)], headers=auth)
            sequential["decision"].append((time.perf_counter() - sent) * 1000)
            if r.status_code != 201:
                failures.append(f"decision: {r.status_code} {r.text[:200]}")
            sent = time.perf_counter()
            r = await client.get("/health")
            sequential["health"].append((time.perf_counter() - sent) * 1000)
        cpu_sequential = server_cpu_s(server_pid) - cpu_start
        # the load generator's own full collections (its heap holds the bodies and the samples) would delay sends
        # and count as the server's latency: its heap is moved out of the collector's way first
        gc.collect()
        gc.freeze()
        start = time.perf_counter() + 0.2
        cpu_start = server_cpu_s(server_pid)
        await asyncio.gather(*(one(kind, i, start + at) for at, kind, i in schedule))
        elapsed = time.perf_counter() - start
        cpu_open = server_cpu_s(server_pid) - cpu_start
    return {
        # server CPU per request (decisions and health checks together): a figure the machine's load moves little
        "server_cpu_ms_per_request": {
            "sequential": round(cpu_sequential * 1000 / (2 * SEQUENTIAL), 2),
            "open_loop": round(cpu_open * 1000 / max(1, len(schedule)), 2),
        },
        "samples": samples,
        "sequential": sequential,
        "failures": failures,
        "lanes": lanes,
        "elapsed_s": elapsed,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--declarations", type=int, default=5000, help="demo declarations prepared in the database")
    parser.add_argument("--rate", type=float, default=100.0, help="POST /risk/decisions/{reference} per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes of `opencustoms serve`")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the database prepared by the previous run (same --declarations)"
    )
    args = parser.parse_args()
    if not (0 < args.rate <= 1000 and 0 < args.seconds <= 120 and 1 <= args.workers <= 16):
        raise SystemExit("--rate must be in (0, 1000], --seconds in (0, 120] and --workers in [1, 16]")

    from rich.console import Console

    from opencustoms.declarations import service as declarations
    from opencustoms.declarations.errors import DuplicateDeclarationError
    from opencustoms.demo.generator import generate
    from opencustoms.demo.run import COUNTRY, prepare_with_tokens
    from opencustoms.risk import service
    from opencustoms.security.service import local_operator

    console = Console(stderr=True)
    started = time.perf_counter()
    marker = FOLDER / "prepared.txt"
    if args.reuse and marker.exists() and marker.read_text().split() == [str(args.declarations)]:
        from opencustoms.config import Settings
        from opencustoms.context import Platform

        platform = Platform(
            Settings(database_url=f"sqlite:///{FOLDER / 'demo.db'}", data_dir=FOLDER, administration=COUNTRY)
        )
        tokens = dict(line.split("\t") for line in (FOLDER / "tokens.txt").read_text().splitlines() if line)
        prepared = args.declarations
    else:
        platform, tokens, report = prepare_with_tokens(FOLDER, args.declarations, 1, console)
        prepared = report.accepted
        marker.write_text(f"{args.declarations}\n")
    prepared_s = time.perf_counter() - started
    version, model = service.current_model(platform.engine)  # type: ignore[misc]
    booster = model.booster_
    model_info = {
        "version": version,
        "training_rows": model.training_rows_,
        "trees": booster.num_trees(),
        "leaves": int(sum(t["num_leaves"] for t in booster.dump_model()["tree_info"])),
    }
    references = []
    for data, _ in generate(500, seed=7, country="NL"):  # the declarations laned during the run, stored first
        with contextlib.suppress(DuplicateDeclarationError):  # --reuse: stored by the previous run
            declarations.create(platform.engine, local_operator(COUNTRY), data)
        references.append(data["functional_reference_id"])
    platform.engine.dispose()

    port = free_port()
    env = {
        **os.environ,
        "OPENCUSTOMS_DATABASE_URL": platform.settings.database_url,
        "OPENCUSTOMS_DATA_DIR": str(FOLDER),
        "OPENCUSTOMS_ADMINISTRATION": "NL",
    }
    server_log = (FOLDER / "server.log").open("w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "opencustoms"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        env=env,
        cwd=ROOT,
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    try:
        import httpx

        base = f"http://127.0.0.1:{port}"
        try:  # 30 s on an idle machine, more under load
            wait_for(lambda: httpx.get(f"{base}/health", timeout=1.0).status_code == 200, "/health", 30, watch=[server])
        except AssertionError as exc:
            raise SystemExit(f"the server did not start ({exc}); see {FOLDER / 'server.log'}") from None
        load_before = os.getloadavg()[0]
        run = asyncio.run(load(base, tokens["analyst"], references, args.rate, args.seconds, server.pid))
        load_after = os.getloadavg()[0]
    finally:
        stop(server)
        server_log.close()

    decisions, health = run["samples"]["decision"], run["samples"]["health"]
    if run["failures"] or not decisions or not health:
        raise SystemExit(f"{len(run['failures'])} failed requests, e.g. {run['failures'][:3]}")
    d_sched, d_sent = percentiles([a for a, _ in decisions]), percentiles([b for _, b in decisions])
    h_sched, h_sent = percentiles([a for a, _ in health]), percentiles([b for _, b in health])
    achieved = len(decisions) / run["elapsed_s"]
    print(
        f"\n{len(decisions):,} POST /risk/decisions/{{reference}} at {args.rate:g}/s (achieved {achieved:.1f}/s) and "
        f"{len(health)} GET /health at {HEALTH_RATE}/s over {run['elapsed_s']:.1f} s; open loop, httpx -> "
        f"`opencustoms serve --workers {args.workers}` (uvicorn) on 127.0.0.1, SQLite; "
        f"{prepared:,} declarations prepared, model {model_info['trees']} trees / "
        f"{model_info['leaves']} leaves on {model_info['training_rows']} inspected declarations"
    )
    print(f"{'request (latency from)':40} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    s_dec, s_health = percentiles(run["sequential"]["decision"]), percentiles(run["sequential"]["health"])
    for name, p in (
        (f"sequential: {SEQUENTIAL} POST /risk/decisions/ref", s_dec),
        (f"sequential: {SEQUENTIAL} GET /health", s_health),
        ("POST /risk/decisions/ref (schedule)", d_sched),
        ("POST /risk/decisions/ref (send)", d_sent),
        ("baseline GET /health (schedule)", h_sched),
        ("baseline GET /health (send)", h_sent),
    ):
        print(f"{name:40} {p['p50_ms']:8.2f} {p['p95_ms']:8.2f} {p['p99_ms']:8.2f} {p['max_ms']:8.2f}")
    cpu = run["server_cpu_ms_per_request"]
    print(
        f"server CPU per request (decisions and health together): {cpu['sequential']:.2f} ms one at a time, "
        f"{cpu['open_loop']:.2f} ms in the open loop"
    )
    ratio = d_sched["p99_ms"] / h_sched["p99_ms"]
    print(
        f"target: p99 <= 20 ms at 100/s -> {d_sched['p99_ms']:.1f} ms; decisions / health p99 {ratio:.1f}x; "
        f"lanes {run['lanes']}; load {load_before:.2f} -> {load_after:.2f}"
    )
    write(
        "risk_api",
        {
            "command": "python benchmarks/risk_api.py "
            + f"--declarations {args.declarations} --rate {args.rate:g} --seconds {args.seconds:g} "
            + f"--workers {args.workers}",
            "workers": args.workers,
            "requests": len(decisions),
            "rate_per_s": args.rate,
            "achieved_rate_per_s": round(achieved, 1),
            "seconds": round(run["elapsed_s"], 1),
            "sequential_requests": SEQUENTIAL,
            "sequential_decision_latency": s_dec,
            "sequential_health_latency": s_health,
            "decision_latency_from_schedule": d_sched,
            "decision_latency_from_send": d_sent,
            "baseline_health_requests": len(health),
            "baseline_health_latency_from_schedule": h_sched,
            "baseline_health_latency_from_send": h_sent,
            "p99_over_baseline_p99": round(ratio, 2),
            "server_cpu_ms_per_request": cpu,
            "lanes": run["lanes"],
            "prepared_declarations": prepared,
            "prepare_seconds": round(prepared_s, 1),
            "model": model_info,
            "transport": f"httpx AsyncClient (open loop) -> `opencustoms serve --workers {args.workers}` (uvicorn) "
            "on 127.0.0.1",
            "database": "sqlite",
            "load_average_1m": [round(load_before, 2), round(load_after, 2)],
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

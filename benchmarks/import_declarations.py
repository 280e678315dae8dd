"""Benchmark: import generated declarations from a flat CSV.

Phases, each in its own process so peak memory is its own:
  validate       read the CSV and run the columnar checks on every row (the fast path's validation, no storage)
  validate-rows  read the CSV, assemble declarations (flat layout) and validate each with the pydantic model
  sqlite         the whole import into a fresh SQLite file (what `opencustoms import` does)
  postgres       the same into a fresh PostgreSQL database (skipped with a note when the server is unreachable)
  sqlite-rows    the whole import through the row path only (`--no-fast`), for comparison

Usage: python benchmarks/import_declarations.py [--declarations N] [--phases validate,sqlite,postgres]
The CSV is generated once (seed 1) under var/bench/ and reused. Results: benchmarks/results/import_declarations_<N>.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "var" / "bench"
POSTGRES_ADMIN_URL = os.environ.get(
    "OPENCUSTOMS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def dataset(n: int) -> Path:
    from opencustoms.demo.run import write_dataset

    folder = WORK / f"declarations-{n}"
    path = folder / "declarations.csv"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        write_dataset(folder, n, seed=1)
        print(f"generated {n:,} declarations in {time.perf_counter() - started:.1f} s -> {path}", flush=True)
    return path


def phase(name: str, path: Path, workers: int) -> dict:
    """Runs inside a child process."""
    from opencustoms.declarations import service
    from opencustoms.declarations.formats import open_records
    from opencustoms.declarations.importer import Valid, validate
    from opencustoms.declarations.layouts import FlatLayout
    from opencustoms.security.service import ensure_administration, local_operator
    from opencustoms.store.database import init_database

    started = time.perf_counter()
    if name == "validate":
        from opencustoms.declarations import columnar

        good = rows = 0
        _, batches = columnar.read_batches(path, "csv")
        for checked in columnar._prefetch(columnar._checked_batches(batches, None)):
            good += int(checked.clean.filter(checked.good)["functional_reference_id"].n_unique())
            rows += checked.raw.height
        result = {"accepted": good, "rejected": 0}
    elif name == "validate-rows":
        layout = FlatLayout()
        _, records = open_records(path, "csv")
        good = bad = 0
        for outcome in validate(layout.candidates(records), layout):
            if isinstance(outcome, Valid):
                good += 1
            else:
                bad += 1
        result = {"accepted": good, "rejected": bad}
    else:
        if name.startswith("sqlite"):
            db = WORK / f"bench-{uuid.uuid4().hex[:8]}.db"
            url = f"sqlite:///{db}"
        else:
            from sqlalchemy import create_engine, text

            admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
            dbname = f"oc_bench_{uuid.uuid4().hex[:8]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{dbname}"'))
            url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname
        engine = init_database(url)
        ensure_administration(engine, "NL", "bench", "NL")
        started = time.perf_counter()
        report = service.import_file(
            engine, local_operator("NL"), path, workers=workers, fast=not name.endswith("-rows")
        )
        result = {"accepted": report.accepted, "rejected": report.rejected}
        engine.dispose()
        if name.startswith("sqlite"):
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)'))
    seconds = time.perf_counter() - started
    total = result["accepted"] + result["rejected"]
    return {**result, "seconds": round(seconds, 2), "declarations_per_s": round(total / seconds)}


def postgres_up() -> bool:
    try:
        from sqlalchemy import create_engine, text

        with create_engine(POSTGRES_ADMIN_URL).connect() as conn:
            conn.execute(text("select 1"))
        return True
    except Exception:
        return False


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--declarations", type=int, default=1_000_000)
    parser.add_argument("--phases", default="validate,validate-rows,sqlite,postgres,sqlite-rows")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, path = args.child.split(":", 1)
        out = phase(name, Path(path), args.workers)
        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print(json.dumps(out))
        return 0
    path = dataset(args.declarations)
    rows = sum(1 for _ in path.open("rb")) - 1
    results = {
        "declarations": args.declarations,
        "goods_item_rows": rows,
        "csv_mb": round(path.stat().st_size / 2**20),
        "workers": args.workers,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "phases": {},
    }
    for name in args.phases.split(","):
        if name == "postgres" and not postgres_up():
            results["phases"][name] = {"skipped": f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}"}
            continue
        load_before = os.getloadavg()[0]
        completed = subprocess.run(
            [sys.executable, __file__, "--child", f"{name}:{path}", "--workers", str(args.workers)],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if completed.returncode != 0:
            print(completed.stderr, file=sys.stderr)
            return 1
        results["phases"][name] = json.loads(completed.stdout.strip().splitlines()[-1])
        results["phases"][name]["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    print(
        f"\n{args.declarations:,} declarations ({rows:,} goods-item rows, {results['csv_mb']} MB CSV), "
        f"{args.workers} worker(s), {results['machine']}"
    )
    print(f"{'phase':14} {'decl/s':>10} {'seconds':>9} {'peak MB':>8} {'accepted':>10} {'rejected':>9}  load")
    for name, r in results["phases"].items():
        if "skipped" in r:
            print(f"{name:14} skipped: {r['skipped']}")
            continue
        print(
            f"{name:14} {r['declarations_per_s']:>10,} {r['seconds']:>9} {r['peak_rss_mb']:>8} "
            f"{r['accepted']:>10,} {r['rejected']:>9,}  {r['load_average'][0]} -> {r['load_average'][1]}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"import_declarations_{args.declarations}.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

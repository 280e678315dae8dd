"""Shared set-up for the benchmarks: a fresh SQLite database under var/bench, results JSON with the machine and its
load average (the machine may be shared: read figures with the load beside them)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # processes.py: load-scaled waits, processes always stopped
RESULTS = ROOT / "benchmarks" / "results"
WORK = ROOT / "var" / "bench"


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "system": platform.platform(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def fresh_engine(name: str):  # type: ignore[no-untyped-def]
    from opencustoms.security.service import ensure_administration
    from opencustoms.store.database import init_database

    folder = WORK / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    engine = init_database(f"sqlite:///{folder / 'bench.db'}")
    ensure_administration(engine, "NL", "Benchmark customs", "NL")
    return engine


def write(name: str, data: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({**data, "machine": machine()}, indent=2, default=str) + "\n")

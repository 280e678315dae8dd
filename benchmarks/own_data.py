"""The README page "Your own declarations", timed: a newcomer's path from a declarations file to a red queue.

Usage: python benchmarks/own_data.py [--startup-runs N] [--startup-only]

Data: the Korea Customs Service files as they are published (the public release has no declaration ID and 10-digit
HS codes, many of which lost their leading zero upstream). The published form is rebuilt here from the shared
train and validation files: the ID column dropped, HS6 widened to HS10 and read as a number (``0710807000`` becomes
``710807000``). The training file keeps its inspection results (``Fraud``, ``Critical Fraud``); the validation file
is imported without them — it plays the declarations that await a decision — and its labels are kept aside to say
how much fraud the red queue holds.

Each step is the README's command, run as the user runs it (a new process, ``opencustoms ...``), timed wall and CPU
(the child's user + system time). Start-up: ``opencustoms --help`` against ``python -c pass``, median of N runs,
in the same run. Targets (issue 13): the whole path ≤ 10 minutes on the 2-core machine, train included; start-up
≤ 0.5 s.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import ROOT, WORK, write

SHARED = ROOT.parent / "shared" / "data" / "kcs"
PATH_TARGET_S = 600.0
STARTUP_TARGET_S = 0.5
LABELS = ("Fraud", "Critical Fraud")


def published(source: Path, target: Path, *, labels: bool) -> dict[str, Any]:
    """Write ``source`` as the public release publishes it; return the labels by row (1-based) and counts."""
    truth: list[int] = []
    zeros_lost = 0
    with source.open(newline="") as f_in, target.open("w", newline="") as f_out:
        reader = csv.DictReader(f_in)
        assert reader.fieldnames is not None
        columns = [c for c in reader.fieldnames if c != "Declaration ID" and (labels or c not in LABELS)]
        columns = ["HS10 Code" if c == "HS6 Code" else c for c in columns]
        writer = csv.DictWriter(f_out, fieldnames=columns)
        writer.writeheader()
        for row in reader:
            truth.append(int(row["Fraud"]))
            hs10 = str(int(row.pop("HS6 Code") + "0000"))  # read as a number upstream: a leading zero is lost
            zeros_lost += len(hs10) == 9
            row["HS10 Code"] = hs10
            row.pop("Declaration ID")
            if not labels:
                for label in LABELS:
                    row.pop(label)
            writer.writerow(row)
    return {"rows": len(truth), "fraud": sum(truth), "hs10_leading_zero_lost": zeros_lost, "truth": truth}


def run(step: str, command: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"step {step!r} failed ({done.returncode}): {' '.join(command)}")
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    summaries = [line for line in lines if re.search(r"\((\d+(\.\d+)? s|\d+ min \d+ s)\)$", line)]
    last = summaries or lines
    return {
        "step": step,
        "command": " ".join(["opencustoms", *command[1:]]),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "said": last[-1][:160] if last else "",
        "stdout": done.stdout,
    }


def startup(runs: int, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Median wall and CPU time (user + system of the child) of a command over ``runs`` runs. On a shared machine the
    wall time includes waiting for a core; the CPU time is what the command itself costs."""

    def median(command: list[str]) -> tuple[float, float]:
        walls, cpus = [], []
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(command, env=env, cwd=cwd, capture_output=True, check=True)
            walls.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
        return statistics.median(walls), statistics.median(cpus)

    cli = shutil.which("opencustoms", path=str(Path(sys.executable).parent)) or "opencustoms"
    bare, bare_cpu = median([sys.executable, "-c", "pass"])
    helped, helped_cpu = median([cli, "--help"])
    check, check_cpu = median([cli, "reference", "check", "container", "CSQU3054383"])
    return {
        "runs": runs,
        "python_pass_s": round(bare, 3),
        "python_pass_cpu_s": round(bare_cpu, 3),
        "help_s": round(helped, 3),
        "help_cpu_s": round(helped_cpu, 3),
        "reference_check_s": round(check, 3),
        "reference_check_cpu_s": round(check_cpu, 3),
        "help_over_python": round(helped / bare, 1),
    }


def red_queue_precision(queue_stdout: str, truth_by_reference: dict[str, int]) -> dict[str, Any]:
    refs = list(dict.fromkeys(re.findall(r"KCS-[0-9a-f]{20}", queue_stdout)))
    found = [truth_by_reference[r] for r in refs if r in truth_by_reference]
    share = round(sum(found) / len(found), 3) if found else None
    return {"red": len(refs), "matched": len(found), "fraud_share": share}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--startup-runs", type=int, default=7)
    parser.add_argument("--startup-only", action="store_true", help="Measure the start-up alone (no data needed).")
    args = parser.parse_args()
    if args.startup_only:
        folder = WORK / "own_data_startup"
        folder.mkdir(parents=True, exist_ok=True)
        start = startup(args.startup_runs, {**os.environ, "OPENCUSTOMS_DATA_DIR": str(folder / "var")}, folder)
        print(start, f"load average {os.getloadavg()[0]:.1f}")
        return 0
    for name in ("df_syn_train_eng.csv", "df_syn_valid_eng.csv"):
        if not (SHARED / name).exists():
            raise SystemExit(f"needs the shared Korea Customs files beside the project ({SHARED / name})")
    folder = WORK / "own_data"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    train = published(SHARED / "df_syn_train_eng.csv", folder / "kcs_train.csv", labels=True)
    valid = published(SHARED / "df_syn_valid_eng.csv", folder / "kcs_awaiting.csv", labels=False)
    env = {
        **os.environ,
        "OPENCUSTOMS_DATABASE_URL": "sqlite:///opencustoms.db",  # relative to the step's folder
        "OPENCUSTOMS_DATA_DIR": "var",
        "NO_COLOR": "1",
        "COLUMNS": "400",
    }
    cli = shutil.which("opencustoms", path=str(Path(sys.executable).parent)) or "opencustoms"
    steps = [
        ("init", [cli, "init", "--administration", "KR", "--name", "Korea Customs Service"]),
        ("import history", [cli, "import", "kcs_train.csv", "--layout", "kcs", "--report", "problems-train.csv"]),
        ("import awaiting", [cli, "import", "kcs_awaiting.csv", "--layout", "kcs", "--report", "problems.csv"]),
        ("train", [cli, "risk", "train", "--from-store", "--promote"]),
        ("lane awaiting", [cli, "risk", "score", "--backlog"]),
        ("red queue", [cli, "risk", "queue", "--lane", "red", "--limit", "10000"]),
    ]
    results = [run(step, command, env, folder) for step, command in steps]
    total_wall = sum(r["wall_s"] for r in results)
    total_cpu = sum(r["cpu_s"] for r in results)
    start = startup(args.startup_runs, env, folder)
    # the awaiting file has no declaration number: its references are generated from each row (the same reader as
    # the import), in file order, which is the order of the withheld labels
    from opencustoms.risk.frame import read_kcs

    generated = read_kcs(folder / "kcs_awaiting.csv")["reference"].to_list()
    truth = dict(zip(generated, valid["truth"], strict=True))
    precision = red_queue_precision(results[-1]["stdout"], truth)
    print(f"{'step':<16} {'wall s':>8} {'cpu s':>8}  said")
    for r in results:
        print(f"{r['step']:<16} {r['wall_s']:>8.2f} {r['cpu_s']:>8.2f}  {r['said']}")
    verdict = "met" if total_wall <= PATH_TARGET_S else "MISSED"
    print(f"{'whole path':<16} {total_wall:>8.2f} {total_cpu:>8.2f}  target ≤ {PATH_TARGET_S:.0f} s: {verdict}")
    worst = max(start["help_s"], start["reference_check_s"])
    print(
        f"start-up (median of {start['runs']}, wall / CPU): opencustoms --help {start['help_s']} / "
        f"{start['help_cpu_s']} s, reference check {start['reference_check_s']} / {start['reference_check_cpu_s']} s, "
        f"python -c pass {start['python_pass_s']} / {start['python_pass_cpu_s']} s; target ≤ {STARTUP_TARGET_S} s "
        f"wall: {'met' if worst <= STARTUP_TARGET_S else 'MISSED'} (load average {os.getloadavg()[0]:.1f})"
    )
    print(f"red queue: {precision} (base rate {valid['fraud'] / valid['rows']:.3f})")
    for r in results:
        r.pop("stdout")
    write(
        "own_data",
        {
            "data": {
                "train_rows": train["rows"],
                "awaiting_rows": valid["rows"],
                "hs10_leading_zero_lost": train["hs10_leading_zero_lost"] + valid["hs10_leading_zero_lost"],
                "awaiting_fraud_share": round(valid["fraud"] / valid["rows"], 3),
            },
            "steps": results,
            "whole_path_wall_s": round(total_wall, 2),
            "whole_path_cpu_s": round(total_cpu, 2),
            "startup": start,
            "red_queue": precision,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

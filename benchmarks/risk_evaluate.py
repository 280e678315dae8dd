"""The risk evaluation table: our model and every baseline, trained on KCS train, chosen on valid, reported on test.

Run: .venv/bin/python benchmarks/risk_evaluate.py [--data ../shared/data/kcs] [--demo 20000]
Writes benchmarks/results/risk_evaluate.json and prints the table (the figures in docs/risk.md come from here).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from opencustoms.demo.frames import evaluate_demo
from opencustoms.risk import service

ROOT = Path(__file__).resolve().parents[1]


def table(result, split: str) -> list[str]:  # type: ignore[no-untyped-def]
    rows = result.table(split)
    lines = [
        f"{split}: {rows[0].card.declarations} declarations, base rate {rows[0].card.base_rate:.3f}",
        f"{'selector':32s} {'P@1%':>6s} {'P@2%':>6s} {'P@5%':>6s} {'P@10%':>6s} {'R@10%':>6s} "
        f"{'lift@10%':>8s} {'rel@10%':>7s} {'Rev@10%':>7s} {'AUC':>6s}",
    ]
    for r in rows:
        a = r.card.at
        rev = "-" if a[-1].revenue is None else f"{a[-1].revenue:.3f}"
        lines.append(
            f"{r.selector:32s} {a[0].precision:6.3f} {a[1].precision:6.3f} {a[2].precision:6.3f} "
            f"{a[3].precision:6.3f} {a[3].recall:6.3f} {a[3].lift:8.2f} {a[3].relative_precision:7.3f} "
            f"{rev:>7s} {r.card.auc:6.3f}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "kcs")
    parser.add_argument("--demo", type=int, default=20000, help="demo declarations (0 to skip)")
    args = parser.parse_args()
    out: dict[str, object] = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
    }
    started = time.perf_counter()
    kcs = service.evaluate_files(
        args.data / "df_syn_train_eng.csv",
        args.data / "df_syn_valid_eng.csv",
        args.data / "df_syn_test_eng.csv",
        layout="kcs",
    )
    out["kcs"] = kcs.to_dict() | {"seconds": round(time.perf_counter() - started, 1)}
    for split in ("valid", "test"):
        print("\n".join(table(kcs, split)), "\n")
    if args.demo:
        started = time.perf_counter()
        demo = evaluate_demo(args.demo)
        out["demo"] = demo.to_dict() | {"seconds": round(time.perf_counter() - started, 1), "declarations": args.demo}
        print("\n".join(table(demo, "test")), "\n")
        print("recall per injected pattern at 10% (demo test split):")
        for p in demo.patterns:
            print(f"  {p['pattern']:24s} {p['found']:5d} of {p['frauds']:5d}  recall {p['recall']:.3f}")
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "risk_evaluate.json").write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()

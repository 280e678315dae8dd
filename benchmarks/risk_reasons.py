"""What saying reasons in the officer's words costs a reader (issue 14): the queue and one declaration's decision,
in English and French, against the same reads with the reasons returned as stored (the baseline, in the same run).

Usage: python benchmarks/risk_reasons.py [--declarations N] [--runs R]

Set-up: the demo's installation (`opencustoms.demo.run.prepare_with_tokens`: N seeded declarations imported, past
inspections, a model trained and promoted, the backlog laned) in var/bench/risk_reasons/. Timed: `risk.queue`
(status any, every lane) for 100 and 1,000 rows, and `risk.explain` of the first red declaration, each the median of
R runs after one warm-up (the first read of a model version loads its fitted references once: reported apart;
the red declaration is the riskiest one the model's ranking laned).
Baseline: the same calls with the sentences switched off (reasons as stored, no evidence read)."""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from _common import WORK, write


def _timed(call: Any, runs: int) -> float:
    call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--declarations", type=int, default=5000, help="demo declarations in the database")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per call (median)")
    args = parser.parse_args()

    from rich.console import Console

    from opencustoms.demo.run import prepare_with_tokens
    from opencustoms.risk import explain as reason_text
    from opencustoms.risk import service
    from opencustoms.security.service import Identity

    platform, _tokens, _report = prepare_with_tokens(WORK / "risk_reasons", args.declarations, 1, Console(quiet=True))
    engine, officer = platform.engine, Identity.of("officer", "NL", ["officer"])
    every = service.QueueFilters(status=None)
    red = next(  # the riskiest red declaration the model's ranking laned: its reasons carry the model's evidence
        row["reference"]
        for row in service.queue(engine, officer, "red", limit=100, pseudonymiser=platform.pseudonymiser)
        if any(reason.get("contributions") for reason in row["reasons"])
    )
    service._builders.clear()
    started = time.perf_counter()
    service.explain(engine, officer, red, pseudonymiser=platform.pseudonymiser)
    first_read_s = time.perf_counter() - started

    def calls(lang: str) -> dict[str, Any]:
        return {
            "queue_100": lambda: service.queue(
                engine, officer, limit=100, filters=every, pseudonymiser=platform.pseudonymiser, lang=lang
            ),
            "queue_1000": lambda: service.queue(
                engine, officer, limit=1000, filters=every, pseudonymiser=platform.pseudonymiser, lang=lang
            ),
            "explain": lambda: service.explain(engine, officer, red, pseudonymiser=platform.pseudonymiser, lang=lang),
        }

    results: dict[str, dict[str, float]] = {}
    for lang in ("en", "fr"):
        results[lang] = {name: _timed(call, args.runs) for name, call in calls(lang).items()}
    said, facts = reason_text.explain, service._decision_facts
    try:  # the baseline: reasons as stored
        reason_text.explain = lambda reasons, *a, **k: [dict(r) for r in reasons]  # type: ignore[assignment]
        service._decision_facts = lambda *a, **k: {}  # type: ignore[assignment]
        results["stored"] = {name: _timed(call, args.runs) for name, call in calls("en").items()}
    finally:
        reason_text.explain, service._decision_facts = said, facts
    ratios = {
        lang: {name: round(results[lang][name] / results["stored"][name], 2) for name in results["stored"]}
        for lang in ("en", "fr")
    }
    write(
        "risk_reasons",
        {
            "declarations": args.declarations,
            "runs": args.runs,
            "first_read_of_a_model_version_s": round(first_read_s, 3),
            "median_s": {k: {n: round(v, 4) for n, v in d.items()} for k, d in results.items()},
            "ratio_to_stored": ratios,
        },
    )
    print(f"first read of a model version: {first_read_s:.3f} s")
    for name in results["stored"]:
        print(
            f"{name:<11} stored {results['stored'][name]:.4f} s · en {results['en'][name]:.4f} s "
            f"(×{ratios['en'][name]}) · fr {results['fr'][name]:.4f} s (×{ratios['fr'][name]})"
        )


if __name__ == "__main__":
    main()

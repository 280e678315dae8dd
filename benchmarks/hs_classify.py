"""HS classification from goods descriptions (issue 15): chapter, heading, HS6 top-1 and HS6 top-5 accuracy of every
method tried, on the 200 U.S. rulings (../shared/data/atlas-validation) and the 78 hand-made cases
(../shared/data/hs-micro); latency per description (p50, p99, one description at a time, one thread) and the fitted
index's size.

Usage: python benchmarks/hs_classify.py [--data ../shared/data] [--latency-runs N]

Methods: a random baseline (uniform over the HS 2022 subheadings, expected values computed exactly), the plain
TF-IDF baseline (word n-grams over the subheading texts alone), and the lexical variants of
opencustoms.classification.lexical (hierarchical context or not; word TF-IDF, word BM25, character n-grams and their
mix). Nothing here is trained on either data set: they only choose the method and test it."""

from __future__ import annotations

import argparse
import csv
import json
import os
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import ROOT, write

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def load_sets(data: Path) -> dict[str, tuple[list[str], list[str]]]:
    rulings = [
        json.loads(line) for line in (data / "atlas-validation" / "rulings.jsonl").read_text().splitlines() if line
    ]
    with (data / "hs-micro" / "benchmark_cases.csv").open(newline="", encoding="utf-8") as handle:
        micro = list(csv.DictReader(handle))
    return {
        "rulings": ([r["description"] for r in rulings], [r["hs6"] for r in rulings]),
        "hs-micro": ([r["text"] for r in micro], [r["expected_hs_code"] for r in micro]),
    }


def accuracy(ranked: list[list[str]], truth: list[str]) -> dict[str, float]:
    n = len(truth)
    return {
        "chapter_top1": sum(r[0][:2] == t[:2] for r, t in zip(ranked, truth, strict=True)) / n,
        "heading_top1": sum(r[0][:4] == t[:4] for r, t in zip(ranked, truth, strict=True)) / n,
        "hs6_top1": sum(r[0] == t for r, t in zip(ranked, truth, strict=True)) / n,
        "hs6_top5": sum(t in r[:5] for r, t in zip(ranked, truth, strict=True)) / n,
    }


def random_baseline(codes: list[str], truth: list[str]) -> dict[str, float]:
    """Expected accuracy of a uniform draw over the subheadings (exact, no sampling)."""
    n = len(codes)
    chapters: dict[str, int] = {}
    headings: dict[str, int] = {}
    for c in codes:
        chapters[c[:2]] = chapters.get(c[:2], 0) + 1
        headings[c[:4]] = headings.get(c[:4], 0) + 1
    known = set(codes)
    m = len(truth)
    return {
        "chapter_top1": sum(chapters.get(t[:2], 0) for t in truth) / n / m,
        "heading_top1": sum(headings.get(t[:4], 0) for t in truth) / n / m,
        "hs6_top1": sum(t in known for t in truth) / n / m,
        "hs6_top5": 5 * sum(t in known for t in truth) / n / m,
    }


def lexical_methods() -> list[Any]:
    from opencustoms.classification.lexical import LexicalConfig

    return [
        LexicalConfig(context=False, char_weight=0.0, word_ngrams=(1, 1), name="plain TF-IDF baseline (words)"),
        LexicalConfig(context=False, char_weight=0.0),
        LexicalConfig(context=False, char_weight=1.0),
        LexicalConfig(context=False, char_weight=0.5),
        LexicalConfig(context=True, char_weight=0.0),
        LexicalConfig(context=True, char_weight=0.0, weighting="bm25"),
        LexicalConfig(context=True, char_weight=0.5),
        LexicalConfig(context=True, char_weight=0.5, weighting="bm25"),
        LexicalConfig(context=True, char_weight=1.0),
    ]


def confusion(suggester: Any, texts: list[str], truth: list[str]) -> dict[str, Any]:
    """Where the first suggestion goes wrong: right heading but wrong subheading, a neighbouring heading (same
    chapter), or another chapter; and the heading pairs confused most often (true → suggested)."""
    scores = suggester.scores(texts)
    first = [str(suggester.codes_[i]) for i in np.argmax(scores, axis=1)]
    out = {"right": 0, "same_heading": 0, "same_chapter": 0, "other_chapter": 0}
    pairs: dict[str, int] = {}
    for p, t in zip(first, truth, strict=True):
        if p == t:
            out["right"] += 1
        elif p[:4] == t[:4]:
            out["same_heading"] += 1
        elif p[:2] == t[:2]:
            out["same_chapter"] += 1
            pairs[f"{t[:4]}→{p[:4]}"] = pairs.get(f"{t[:4]}→{p[:4]}", 0) + 1
        else:
            out["other_chapter"] += 1
    return {**out, "neighbouring_pairs": sorted(pairs.items(), key=lambda kv: -kv[1])[:5]}


def peak_memory_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: kilobytes


def serving_memory_mb() -> float:
    """Peak memory of a fresh process that answers one suggestion with the benchmark's promoted model (the lexical
    index of HS 2022 fitted, the model file loaded): what an API worker pays for classification."""
    import subprocess
    import sys

    from _common import WORK

    code = (
        "from opencustoms.store.database import init_database; "
        "from opencustoms.classification import service; "
        f"engine = init_database('sqlite:///{WORK / 'hs_classify' / 'bench.db'}'); "
        "service.suggest(engine, ['men knitted cotton T-shirts']); "
        "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
    )  # VmHWM, not ru_maxrss: a child started by fork + exec reports its parent's peak in ru_maxrss
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return round(int(done.stdout.split()[-1]) / 1024, 1)


def latency(predict: Any, texts: list[str], runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        for text in texts:
            started = time.perf_counter()
            predict([text])
            times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder")
    parser.add_argument("--latency-runs", type=int, default=3, help="passes over the rulings for the latency")
    parser.add_argument(
        "--declarations", type=int, default=3000, help="demo declarations stored and inspected for the history model"
    )
    args = parser.parse_args()

    from opencustoms.classification.lexical import LexicalSuggester, subheading_documents
    from opencustoms.classification.service import DEFAULT_CONFIG, edition_nomenclature

    sets = load_sets(args.data)
    nom = edition_nomenclature("2022")
    rows: list[dict[str, Any]] = []
    all_codes = sorted(c for c, e in nom.entries.items() if e.level == 6)
    rows.append(
        {"method": "random (expected)", **{name: random_baseline(all_codes, y) for name, (_, y) in sets.items()}}
    )
    for config in lexical_methods():
        codes, texts = subheading_documents(nom, context=config.context)
        suggester = LexicalSuggester(config).fit(codes, texts)
        row: dict[str, Any] = {"method": config.label(), "default": config == DEFAULT_CONFIG}
        for name, (x, y) in sets.items():
            scores = suggester.scores(x)
            ranked = [[str(suggester.codes_[i]) for i in np.argsort(-s)[:5]] for s in scores]
            row[name] = accuracy(ranked, y)
        if config == DEFAULT_CONFIG:
            row["confusion"] = {name: confusion(suggester, x, y) for name, (x, y) in sets.items()}
        row["latency"] = latency(suggester.scores, sets["rulings"][0], args.latency_runs)
        row["index_mb"] = round(len(pickle.dumps(suggester)) / 1e6, 1)
        rows.append(row)

    print(f"{'method':44s} {'set':9s} chapter heading hs6@1 hs6@5   p50ms  p99ms  MB")
    for row in rows:
        for name in sets:
            a = row[name]
            lat = row.get("latency", {})
            print(
                f"{row['method'] + (' *' if row.get('default') else ''):44s} {name:9s} {a['chapter_top1']:7.3f} "
                f"{a['heading_top1']:7.3f} {a['hs6_top1']:5.3f} {a['hs6_top5']:5.3f}  "
                f"{lat.get('p50_ms', float('nan')):6.1f} {lat.get('p99_ms', float('nan')):6.1f}  "
                f"{row.get('index_mb', '')}"
            )
    lexical_peak = peak_memory_mb()
    history = history_model(args.declarations, sets, args.latency_runs)
    print(
        f"\nhistory model: {history['training_rows']} confirmed goods items, {history['classes']} codes, "
        f"{history['held_out_rows']} held out ({history['split']}); file {history['file_mb']} MB"
    )
    for name, acc in history["held_out"].items():
        print(f"  demo held-out  {name:28s} " + " ".join(f"{k}={v:.3f}" for k, v in acc.items()))
    for row in history["unfamiliar"]:
        for name in sets:
            print(f"  {row['method']:34s} {name:9s} " + " ".join(f"{k}={v:.3f}" for k, v in row[name].items()))
    print(f"  latency (suggest, model + lexical): {history['latency']}")
    print(f"  misclassification signal: {history['signal']}")
    default = next(r for r in rows if r.get("default"))
    print(f"confusion of the default lexical method (first suggestion): {default['confusion']}")
    memory = {
        "serving_process_mb": serving_memory_mb(),
        "benchmark_after_lexical_methods_mb": lexical_peak,
        "benchmark_peak_mb": peak_memory_mb(),
    }
    print(f"process peak memory (max RSS): {memory}")
    write(
        "hs_classify",
        {"sizes": {k: len(v[1]) for k, v in sets.items()}, "methods": rows, "history": history, "memory": memory},
    )


def history_model(n: int, sets: dict[str, tuple[list[str], list[str]]], runs: int) -> dict[str, Any]:
    """The demo administration's model: ``n`` generated declarations stored, every one inspected (a compliant one
    confirms its codes), trained with the time split; then the same model, with the lexical fallback, on the two
    shared sets, whose wordings it never saw (how much the fallback keeps of the lexical method's accuracy)."""
    from _common import WORK, fresh_engine
    from opencustoms.classification import model as hs_model
    from opencustoms.classification import service
    from opencustoms.config import Settings
    from opencustoms.context import Platform
    from opencustoms.declarations import service as declarations
    from opencustoms.demo.generator import generate
    from opencustoms.security.service import Identity

    engine = fresh_engine("hs_classify")
    operator = Identity.of("bench", "NL", ["supervisor"])
    results = []
    batch = []
    for data, truth in generate(n, seed=1, days=365):
        batch.append(data)
        results.append(
            declarations.InspectionResult(truth.functional_reference_id, "fraud" if truth.fraud else "compliant")
        )
    for data in batch:
        declarations.create(engine, operator, data)
    declarations.record_inspections(engine, operator, results, source="benchmark")
    platform = Platform(Settings(database_url=str(engine.url), data_dir=WORK / "hs_classify"))
    row = service.train(platform, operator, promote=True)
    _, model = service.promoted_model(engine) or (None, None)
    assert model is not None
    metrics = row["metrics"]
    out: dict[str, Any] = {
        "declarations": n,
        "training_rows": row["training_rows"],
        "classes": row["classes"],
        "held_out_rows": metrics["held_out_rows"],
        "split": metrics["split"],
        "file_mb": round(Path(row["path"]).stat().st_size / 1e6, 1),
        "held_out": {k: metrics[k] for k in ("lexical", "model", "combined")},
        "unfamiliar": [],
    }
    suggester = service.lexical_suggester()
    for power in (1.0, 2.0, 4.0):
        entry: dict[str, Any] = {"method": f"history model + lexical (power {power:g})"}
        for name, (x, y) in sets.items():
            lexical = np.apply_along_axis(service._softmax, 1, suggester.scores(x), service.LEXICAL_TEMPERATURE)
            familiarity = model.nearest(x, 1)[0][:, 0]
            scores, _ = hs_model.combine(
                model.predict_proba(x), model.classes_, lexical, suggester.codes_, familiarity, power
            )
            entry[name] = accuracy([[str(suggester.codes_[i]) for i in np.argsort(-r)[:5]] for r in scores], y)
        out["unfamiliar"].append(entry)
    entry = {"method": "history model alone"}
    for name, (x, y) in sets.items():
        entry[name] = accuracy(service.rank_model(model, x), y)
    out["unfamiliar"].append(entry)
    out["latency"] = latency(lambda t: service.suggest(engine, t, 5), sets["rulings"][0], runs)
    out["signal"] = signal_measure(engine, operator, n)
    return out


def signal_measure(engine: Any, operator: Any, n: int) -> dict[str, Any]:
    """The misclassification signal on ``n`` new demo declarations (stored, not inspected; the generator's default
    fraud mix): precision and recall of the declarations it flags against the injected misclassification pattern,
    at the default threshold and at a 2% signal rate (the flagged declarations ranked by the duty at stake)."""
    from opencustoms.classification import mismatch
    from opencustoms.declarations import service as declarations
    from opencustoms.demo.generator import generate

    truth = {}
    for data, t in generate(n, seed=7, days=60):
        data["functional_reference_id"] = "NEW-" + data["functional_reference_id"]
        declarations.create(engine, operator, data)
        truth[data["functional_reference_id"]] = t.pattern
    started = time.perf_counter()
    found = mismatch.find(engine, list(truth))
    seconds = time.perf_counter() - started
    loose = mismatch.find(engine, list(truth), threshold=0.5)  # the widest net, ranked for the 2% rate

    def ranked(signals_found: list[Any]) -> list[str]:
        best: dict[str, float] = {}
        for s in signals_found:
            best[s.subject_id] = max(best.get(s.subject_id, -1e18), float(s.evidence["duty_at_stake"]))
        return sorted(best, key=lambda r: -best[r])

    positives = sum(p == "misclassification" for p in truth.values())

    def measure(flagged: list[str]) -> dict[str, Any]:
        hits = sum(truth[r] == "misclassification" for r in flagged)
        return {
            "flagged": len(flagged),
            "signal_rate": round(len(flagged) / n, 4),
            "precision": round(hits / len(flagged), 3) if flagged else None,
            "recall": round(hits / positives, 3) if positives else None,
        }

    return {
        "declarations": n,
        "misclassified": positives,
        "seconds": round(seconds, 2),
        "default_threshold": measure(ranked(found)),
        "threshold_0.5": measure(ranked(loose)),
        "at_2_percent": measure(ranked(loose)[: int(0.02 * n)]),
    }


if __name__ == "__main__":
    main()

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
    write("hs_classify", {"sizes": {k: len(v[1]) for k, v in sets.items()}, "methods": rows})


if __name__ == "__main__":
    main()

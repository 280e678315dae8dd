"""Public face of tariff classification: HS6 suggestions for goods descriptions, and a code's path explained.

A suggestion carries the code, a confidence, its path (section › chapter › heading › subheading, with their texts) and
its evidence: the description's words found in the nomenclature texts, and, where the administration's own model made
it, the model's version. See docs/classification.md.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, and_, exists, select

from opencustoms import modelfile
from opencustoms.classification.errors import (
    ClassificationDataError,
    ClassificationInputError,
    ClassificationModelNotFoundError,
)
from opencustoms.classification.lexical import DEFAULT_CONFIG, LexicalConfig, LexicalSuggester, subheading_documents
from opencustoms.classification.model import DescriptionModel, combine
from opencustoms.classification.tables import classification_models
from opencustoms.context import Platform
from opencustoms.reference.hs import Nomenclature
from opencustoms.reference.service import bundled_nomenclature, section_name
from opencustoms.security.roles import Permission
from opencustoms.security.service import Identity, utcnow
from opencustoms.store.tables import declarations, goods_items, inspection_results

MAX_DESCRIPTION_CHARS = 2000
MAX_TOP_K = 20
DEFAULT_EDITION = "2022"
# Temperature of the softmax that turns lexical similarities into a confidence. The lexical method has no labelled
# data to calibrate on: its confidence ranks suggestions and shows how far ahead the first is; it is not a probability.
LEXICAL_TEMPERATURE = 0.03

_lexical: dict[tuple[str, LexicalConfig], LexicalSuggester] = {}
_lock = threading.Lock()


def edition_nomenclature(edition: str = DEFAULT_EDITION) -> Nomenclature:
    nom = bundled_nomenclature(edition)
    if nom is None:
        raise ClassificationInputError(
            f"HS edition {edition} is not shipped for classification; use 2022 or 2017", field="edition"
        )
    return nom


def lexical_suggester(edition: str = DEFAULT_EDITION, config: LexicalConfig = DEFAULT_CONFIG) -> LexicalSuggester:
    """The fitted lexical suggester of an edition (fitted once per process, about a second)."""
    key = (edition, config)
    with _lock:
        if key not in _lexical:
            codes, texts = subheading_documents(edition_nomenclature(edition), context=config.context)
            _lexical[key] = LexicalSuggester(config).fit(codes, texts)
        return _lexical[key]


def check_descriptions(descriptions: list[str]) -> list[str]:
    cleaned = []
    for i, text in enumerate(descriptions):
        value = (text or "").strip()
        field = "description" if len(descriptions) == 1 else f"descriptions[{i}]"
        if not value:
            raise ClassificationInputError("the goods description is empty; describe the goods in words", field=field)
        if len(value) > MAX_DESCRIPTION_CHARS:
            raise ClassificationInputError(
                f"the goods description has {len(value)} characters; at most {MAX_DESCRIPTION_CHARS}", field=field
            )
        cleaned.append(value)
    return cleaned


def path(code: str, edition: str = DEFAULT_EDITION) -> list[dict[str, str]]:
    """Section › chapter › heading › subheading of an HS code, each with its text."""
    nom = edition_nomenclature(edition)
    lineage = nom.lineage(code)
    section = lineage[0].section
    out = [{"level": "section", "code": section, "text": section_name(section) or ""}]
    names = {2: "chapter", 4: "heading", 6: "subheading"}
    out += [{"level": names.get(e.level, str(e.level)), "code": e.code, "text": e.description} for e in lineage]
    return out


def explain(code: str, edition: str = DEFAULT_EDITION) -> dict[str, Any]:
    """A code's path and the subheadings under it (what `hs explain` prints)."""
    nom = edition_nomenclature(edition)
    value = nom.check(code, field="code")
    lineage = nom.lineage(value)
    return {
        "code": value,
        "edition": nom.edition,
        "path": path(value, edition),
        "children": [{"code": e.code, "text": e.description} for e in nom.children(lineage[-1].code)],
        "attribution": "HS descriptors: World Customs Organization; data: UN Comtrade via datasets/harmonized-system",
    }


def _softmax(row: np.ndarray, temperature: float) -> np.ndarray:
    z = (row - row.max()) / temperature
    e = np.exp(z)
    return np.asarray(e / e.sum())


def suggest_lexical(
    descriptions: list[str], top_k: int = 5, edition: str = DEFAULT_EDITION, config: LexicalConfig = DEFAULT_CONFIG
) -> list[list[dict[str, Any]]]:
    """Top-k HS6 per description from the nomenclature texts alone (no training)."""
    descriptions = check_descriptions(descriptions)
    top_k = check_top_k(top_k)
    suggester = lexical_suggester(edition, config)
    scores = suggester.scores(descriptions)
    out = []
    for text, row in zip(descriptions, scores, strict=True):
        confidence = _softmax(row, LEXICAL_TEMPERATURE)
        best = np.argsort(-row)[:top_k]
        out.append(
            [
                _suggestion(
                    str(suggester.codes_[i]),
                    float(confidence[i]),
                    float(row[i]),
                    edition,
                    "nomenclature",
                    suggester.matched_terms(text, int(i)),
                )
                for i in best
            ]
        )
    return out


def check_top_k(top_k: int) -> int:
    if not 1 <= top_k <= MAX_TOP_K:
        raise ClassificationInputError(f"top_k must be between 1 and {MAX_TOP_K}; got {top_k}", field="top_k")
    return top_k


def _suggestion(
    code: str, confidence: float, score: float, edition: str, source: str, terms: list[str], **extra: Any
) -> dict[str, Any]:
    steps = path(code, edition)
    return {
        "code": code,
        "text": steps[-1]["text"],
        "confidence": round(confidence, 4),
        "score": round(score, 4),
        "source": source,
        "path": steps,
        "evidence": {"matched_terms": terms, "matched_texts": [s["text"] for s in steps[1:]], **extra},
    }


# --- the administration's own model: train, register, promote ------------------------------------------------

HOLDOUT = 0.2  # newest share of the confirmed goods items (whole days) held out to evaluate a new version
METHODS = ("auto", "lexical", "model")
NEAREST_SEARCHED, NEAREST_SHOWN = 20, 3  # past confirmed descriptions looked at / shown per suggestion


def confirmed_descriptions(engine: Engine) -> list[tuple[dt.date, str, str]]:
    """(acceptance date, description, HS6) of every stored goods item whose code an inspection confirmed: the
    declaration was inspected and found compliant (an inspection that found fraud does not confirm the declared
    code; a misclassified item would teach the model the wrong code). Oldest first."""
    d, g, i = declarations.c, goods_items.c, inspection_results.c
    compliant = exists().where(and_(i.declaration_id == d.id, i.outcome == "compliant"))
    fraud = exists().where(and_(i.declaration_id == d.id, i.outcome == "fraud"))
    query = (
        select(d.acceptance_date, g.description, g.hs_code)
        .join(goods_items, g.declaration_id == d.id)
        .where(compliant, ~fraud, g.description.is_not(None))
        .order_by(d.acceptance_date, d.id, g.sequence_number)
    )
    with engine.connect() as conn:
        return [(r[0], str(r[1]), str(r[2])[:6]) for r in conn.execute(query) if str(r[1]).strip()]


def split_by_date(
    rows: list[tuple[dt.date, str, str]], share: float = HOLDOUT
) -> tuple[list[tuple[dt.date, str, str]], list[tuple[dt.date, str, str]]]:
    """The oldest rows to learn from and the newest ``share`` (whole days: no day on both sides) to evaluate on."""
    if not 0 < share < 1:
        raise ClassificationInputError(f"the held-out share must be between 0 and 1, not {share}", field="holdout")
    if not rows:
        return [], []
    cut = rows[min(len(rows) - 1, int((1 - share) * len(rows)))][0]
    return [r for r in rows if r[0] < cut], [r for r in rows if r[0] >= cut]


def accuracy(ranked: list[list[str]], truth: list[str]) -> dict[str, float]:
    """Chapter, heading, HS6 top-1 and HS6 top-5 accuracy of ranked code lists."""
    n = max(len(truth), 1)
    pairs = list(zip(ranked, truth, strict=True))
    return {
        "chapter_top1": round(sum(r[0][:2] == t[:2] for r, t in pairs) / n, 4),
        "heading_top1": round(sum(r[0][:4] == t[:4] for r, t in pairs) / n, 4),
        "hs6_top1": round(sum(r[0] == t for r, t in pairs) / n, 4),
        "hs6_top5": round(sum(t in r[:5] for r, t in pairs) / n, 4),
    }


def rank_lexical(descriptions: list[str], edition: str = DEFAULT_EDITION, k: int = 5) -> list[list[str]]:
    suggester = lexical_suggester(edition)
    return [[str(suggester.codes_[i]) for i in np.argsort(-row)[:k]] for row in suggester.scores(descriptions)]


def rank_combined(
    model: DescriptionModel, descriptions: list[str], edition: str = DEFAULT_EDITION, k: int = 5
) -> list[list[str]]:
    scores, _ = combined_scores(model, descriptions, edition)
    suggester = lexical_suggester(edition)
    return [[str(suggester.codes_[i]) for i in np.argsort(-row)[:k]] for row in scores]


def rank_model(model: DescriptionModel, descriptions: list[str], k: int = 5) -> list[list[str]]:
    proba = model.predict_proba(descriptions)
    return [[str(model.classes_[i]) for i in np.argsort(-row)[:k]] for row in proba]


def combined_scores(
    model: DescriptionModel, descriptions: list[str], edition: str = DEFAULT_EDITION
) -> tuple[np.ndarray, np.ndarray]:
    suggester = lexical_suggester(edition)
    lexical = np.apply_along_axis(_softmax, 1, suggester.scores(descriptions), LEXICAL_TEMPERATURE)
    familiarity, _ = model.nearest(descriptions, 1)
    return combine(model.predict_proba(descriptions), model.classes_, lexical, suggester.codes_, familiarity[:, 0])


def _models_dir(platform: Platform) -> Path:
    path = Path(platform.settings.data_dir) / "models" / "classification"
    path.mkdir(parents=True, exist_ok=True)
    return path


def train(
    platform: Platform, actor: Identity, *, promote: bool = False, holdout: float = HOLDOUT, seed: int = 0
) -> dict[str, Any]:
    """Train an HS model version on the confirmed goods descriptions (:func:`confirmed_descriptions`), evaluate it
    on the newest ``holdout`` share against the lexical suggester alone, register it (candidate, or promoted)."""
    actor.require(Permission.RISK_MANAGE)
    rows = confirmed_descriptions(platform.engine)
    head, tail = split_by_date(rows, holdout) if holdout else (rows, [])
    if not head:
        raise ClassificationDataError(
            f"{len(rows)} confirmed goods descriptions stored; record inspection results first "
            "(a compliant inspection confirms the declared code)",
            field="training_rows",
        )
    model = DescriptionModel(seed=seed).fit([r[1] for r in head], [r[2] for r in head])
    metrics: dict[str, Any] = {"held_out_rows": len(tail), "split": None}
    if tail:
        texts, truth = [r[1] for r in tail], [r[2] for r in tail]
        metrics["split"] = f"newest {holdout:.0%} of the confirmed goods items (accepted from {tail[0][0]})"
        metrics["lexical"] = accuracy(rank_lexical(texts), truth)
        metrics["model"] = accuracy(rank_model(model, texts), truth)
        metrics["combined"] = accuracy(rank_combined(model, texts), truth)
        metrics["unseen_codes"] = round(sum(t not in model.class_counts_ for t in truth) / len(truth), 4)
        # The version put in service learns from every confirmed row: the metrics above measure the procedure on
        # the time split; the newest rows are the ones most like tomorrow's declarations.
        model = DescriptionModel(seed=seed).fit([r[1] for r in rows], [r[2] for r in rows])
        metrics["refit_on_all_rows"] = len(rows)
    now = utcnow()
    version = now.strftime("h%Y%m%d%H%M%S") + "-" + model.training_hash_[:6]
    path = (_models_dir(platform) / f"{version}.model").resolve()  # a relative data directory: not the cwd's
    file_hash = model.save(path)
    row = {
        "version": version,
        "created_at": now,
        "created_by": actor.username,
        "path": str(path),
        "file_hash": file_hash,
        "data_hash": model.training_hash_,
        "training_rows": model.training_rows_,
        "classes": len(model.classes_),
        "params": {"seed": seed, "alpha": model.alpha, "min_examples": model.min_examples, "holdout": holdout},
        "metrics": metrics,
        "status": "candidate",
        "promoted_at": None,
    }
    with platform.engine.begin() as conn:
        modelfile.register(conn, classification_models, row, actor, "classification_model")
    if promote:
        promote_model(platform.engine, actor, version)
        row["status"] = "promoted"
    return row


def models(engine: Engine, actor: Identity | None = None) -> list[dict[str, Any]]:
    """Every registered HS model version, newest first (``actor``, when given, needs risk:manage)."""
    if actor is not None:
        actor.require(Permission.RISK_MANAGE)
    with engine.connect() as conn:
        query = select(classification_models).order_by(classification_models.c.created_at.desc())
        return [dict(r) for r in conn.execute(query).mappings()]


def promote_model(engine: Engine, actor: Identity, version: str) -> None:
    """Make ``version`` the model that suggestions use; the previously promoted one is retired."""
    actor.require(Permission.RISK_MANAGE)
    missing = ClassificationModelNotFoundError(
        f"no HS model version {version!r}; list them with `opencustoms hs models`", field="version"
    )
    with engine.begin() as conn:
        modelfile.promote(conn, classification_models, version, actor, "classification_model", missing)


_loaded: dict[str, DescriptionModel] = {}


def promoted_model(engine: Engine) -> tuple[str, DescriptionModel] | None:
    """The promoted model version and its fitted model (loaded once per process and version), or None."""
    m = classification_models.c
    with engine.connect() as conn:
        row = conn.execute(select(m.version, m.path, m.file_hash).where(m.status == "promoted")).first()
    if row is None:
        return None
    with _lock:
        if row.version not in _loaded:
            _loaded[row.version] = DescriptionModel.load(row.path, row.file_hash)
        return row.version, _loaded[row.version]


def suggest(
    engine: Engine | None,
    descriptions: list[str],
    top_k: int = 5,
    *,
    method: str = "auto",
    edition: str = DEFAULT_EDITION,
    actor: Identity | None = None,
) -> dict[str, Any]:
    """Top-k HS6 per description. ``method``: ``auto`` uses the promoted model (with the lexical fallback) when
    there is one, else the nomenclature texts; ``lexical`` the texts only; ``model`` requires a promoted model.
    ``actor``, when given, needs declarations:read (the evidence quotes the administration's confirmed goods
    descriptions)."""
    if actor is not None:
        actor.require(Permission.DECLARATIONS_READ)
    if method not in METHODS:
        raise ClassificationInputError(f"method must be one of {', '.join(METHODS)}; got {method!r}", field="method")
    descriptions = check_descriptions(descriptions)
    top_k = check_top_k(top_k)
    loaded = promoted_model(engine) if engine is not None and method != "lexical" else None
    if method == "model" and loaded is None:
        raise ClassificationModelNotFoundError(
            "no HS model is promoted; train one with `opencustoms hs train --promote`", field="method"
        )
    if loaded is None or edition != DEFAULT_EDITION:
        return {
            "method": "lexical",
            "model_version": None,
            "suggestions": suggest_lexical(descriptions, top_k, edition),
        }
    version, model = loaded
    scores, model_share = combined_scores(model, descriptions, edition)
    near_sims, near_idx = model.nearest(descriptions, NEAREST_SEARCHED)
    suggester = lexical_suggester(edition)
    out = []
    for j, (text, row) in enumerate(zip(descriptions, scores, strict=True)):
        best = np.argsort(-row)[:top_k]
        items = []
        for i in best:
            code = str(suggester.codes_[i])
            history = model.class_counts_.get(code, 0)
            nearest = [
                {"description": model.memory_texts_[k], "code": code, "similarity": round(float(sim), 4)}
                for sim, k in zip(near_sims[j], near_idx[j], strict=True)
                if model.memory_codes_[k] == code and sim > 0
            ][:NEAREST_SHOWN]
            items.append(
                _suggestion(
                    code,
                    float(row[i]),
                    float(row[i]),
                    edition,
                    "history" if history else "nomenclature",
                    suggester.matched_terms(text, int(i)),
                    confirmed_declarations=history,
                    nearest=nearest,
                    model_share=round(float(model_share[j]), 4),
                )
            )
        out.append(items)
    return {"method": "model", "model_version": version, "suggestions": out}


def suggest_for_goods(
    engine: Engine, actor: Identity, items: list[tuple[int, str | None, str]], top_k: int = 3
) -> dict[int, dict[str, Any]]:
    """Suggestions beside a declaration's goods items (sequence number, description, declared code): per item with
    a description, its top-k suggestions and whether the first differs from the declared HS6."""
    described = [(seq, text.strip(), code) for seq, text, code in items if text and text.strip()]
    if not described:
        return {}
    answer = suggest(engine, [text[:MAX_DESCRIPTION_CHARS] for _, text, _ in described], top_k, actor=actor)
    return {
        seq: {
            "suggestions": found,
            "differs": bool(found) and found[0]["code"] != code[:6],
            "method": answer["method"],
        }
        for (seq, _, code), found in zip(described, answer["suggestions"], strict=True)
    }


TEXT_KEYS = ("description", "text")
CODE_KEYS = ("hs6", "hs_code", "expected_hs_code")


def read_labelled(path: Path) -> list[tuple[str, str]]:
    """(description, HS6) pairs from a CSV or a JSON Lines file (keys: :data:`TEXT_KEYS` for the description,
    :data:`CODE_KEYS` for the code), e.g. the administration's own rulings."""
    import csv
    import json

    if not path.is_file():
        raise ClassificationInputError(f"no file at {path}; check the path", field="file")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        try:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise ClassificationInputError(f"line {exc.lineno}: not JSON ({exc.msg})", field="file") from exc
    else:
        records = list(csv.DictReader(text.splitlines()))
    pairs = []
    for number, item in enumerate(records, start=1):
        if not isinstance(item, dict):
            raise ClassificationInputError(f"record {number} is not an object", field="file")
        code = str(next((item[k] for k in CODE_KEYS if item.get(k)), "")).strip()[:6]
        description = str(next((item[k] for k in TEXT_KEYS if item.get(k)), "")).strip()
        if not description or len(code) != 6 or not code.isdigit():
            raise ClassificationInputError(
                f"record {number} needs a description ({', '.join(TEXT_KEYS)}) and a 6-digit code "
                f"({', '.join(CODE_KEYS)})",
                field="file",
            )
        pairs.append((description[:MAX_DESCRIPTION_CHARS], code))
    if not pairs:
        raise ClassificationInputError(f"{path.name} holds no labelled description", field="file")
    return pairs


def evaluate(engine: Engine | None, pairs: list[tuple[str, str]], actor: Identity | None = None) -> dict[str, Any]:
    """Chapter, heading, HS6 top-1 and top-5 of the lexical method and, when one is promoted, the model alone and
    the combination, on labelled descriptions the model did not learn from."""
    if actor is not None:
        actor.require(Permission.DECLARATIONS_READ)
    texts, truth = [p[0] for p in pairs], [p[1] for p in pairs]
    out: dict[str, Any] = {"rows": len(pairs), "lexical": accuracy(rank_lexical(texts), truth)}
    loaded = promoted_model(engine) if engine is not None else None
    if loaded is not None:
        version, model = loaded
        out["model_version"] = version
        out["model"] = accuracy(rank_model(model, texts), truth)
        out["combined"] = accuracy(rank_combined(model, texts), truth)
    return out

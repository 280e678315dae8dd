"""Public face of the risk engine: evaluation, models, lanes with reasons, profiles, inspection feedback.

Every function that changes something takes the acting :class:`~opencustoms.security.service.Identity`, checks
its permission and writes an audit entry in the same transaction. Party identifiers are pseudonymised with the
installation's key before they enter a model.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, update

from opencustoms import modelfile
from opencustoms import signals as signal_records
from opencustoms.context import Platform, settle_heap
from opencustoms.declarations import repository
from opencustoms.declarations import service as declaration_service
from opencustoms.declarations.errors import DeclarationNotFoundError
from opencustoms.declarations.importer import spreadsheet_frame
from opencustoms.model import Declaration
from opencustoms.progress import Progress as JobProgress
from opencustoms.progress import or_none
from opencustoms.risk import explain as reason_text
from opencustoms.risk import gaps as gap_rules
from opencustoms.risk import inspections, lifecycle, valuation
from opencustoms.risk import lanes as lane_rules
from opencustoms.risk import scores as score_display
from opencustoms.risk import simulate as replay
from opencustoms.risk import writer as decision_writer
from opencustoms.risk.errors import (
    DecisionNotFoundError,
    ModelNotFoundError,
    ProfileError,
    ProfileNotFoundError,
    RiskDataError,
    RiskModelError,
)
from opencustoms.risk.evaluate import Evaluation, evaluate
from opencustoms.risk.features import STAT_KEYS
from opencustoms.risk.frame import (
    PARTY_COLUMNS,
    RowProblem,
    conform_row,
    declaration_row,
    from_declarations,
    pseudonymise_parties,
    read_frame,
    read_rows,
)
from opencustoms.risk.lanes import LanePolicy
from opencustoms.risk.model import RiskModel
from opencustoms.risk.profiles import Profile
from opencustoms.risk.report import HISTOGRAM_BINS, build_report, histogram_edges
from opencustoms.risk.tables import (
    risk_assignments,
    risk_decisions,
    risk_models,
    risk_profiles,
    risk_score_counts,
)
from opencustoms.security.pseudonyms import Pseudonymiser
from opencustoms.security.roles import Permission
from opencustoms.security.service import Identity, record, record_many, utcnow
from opencustoms.store.database import as_utc
from opencustoms.store.tables import (
    declaration_parties,
    declarations,
    goods_items,
    hs_nomenclature,
    inspection_results,
)

_log = logging.getLogger(__name__)

Progress = Callable[[str], None]

# --- evaluation ----------------------------------------------------------------------------------------------


def evaluate_files(
    train: Path, valid: Path, test: Path | None, *, layout: str = "kcs", seed: int = 0, progress: Progress | None = None
) -> Evaluation:
    frames = [read_frame(p, layout) for p in (train, valid)]
    return evaluate(frames[0], frames[1], read_frame(test, layout) if test else None, seed=seed, progress=progress)


def split_by_date(frame: pl.DataFrame, shares: tuple[float, float] = (0.6, 0.8)) -> tuple[pl.DataFrame, ...]:
    """Train / valid / test by acceptance date (the first 60%, the next 20%, the last 20% of declarations)."""
    data = frame.sort("date", maintain_order=True)
    cut1, cut2 = data["date"][int(shares[0] * data.height)], data["date"][int(shares[1] * data.height)]
    return (
        data.filter(pl.col("date") < cut1),
        data.filter((pl.col("date") >= cut1) & (pl.col("date") < cut2)),
        data.filter(pl.col("date") >= cut2),
    )


def evaluate_by_date(
    frame: pl.DataFrame, *, truth: pl.DataFrame | None = None, seed: int = 0, progress: Progress | None = None
) -> Evaluation:
    """The evaluation on one labelled frame split 60/20/20 by acceptance date (:func:`split_by_date`). ``truth``
    (reference, pattern), given when the frame's frauds were injected (the demo's frames), adds recall per pattern
    on test."""
    train, valid, test = split_by_date(frame)
    return evaluate(train, valid, test, seed=seed, truth=truth, progress=progress)


# --- stored declarations as a frame --------------------------------------------------------------------------


STORED_CHUNK = 2000  # declarations read per round of narrow queries


def stored_frame(
    engine: Engine, *, labelled_only: bool = False, without_decision: bool = False, scope: str | None = None
) -> pl.DataFrame:
    """Stored declarations as a frame, each with its latest inspection outcome (label) when there is one.

    Only the columns the frame needs are read, by three narrow queries (heads, the four parties, goods items) per
    chunk of :data:`STORED_CHUNK` declarations (an id range), without rebuilding each declaration as a pydantic
    model; the rows are the same as :func:`stored_frame_from_models` gives (tested). ``scope``: only the
    declarations a backlog of that scope lanes (:data:`BACKLOG_SCOPES`)."""
    ids, outcomes = _stored_ids(engine, labelled_only=labelled_only, without_decision=without_decision, scope=scope)
    records: list[dict[str, Any]] = []
    with engine.connect() as conn:
        for start in range(0, len(ids), STORED_CHUNK):
            records += _narrow_records(conn, ids[start : start + STORED_CHUNK])
    return _frame_of(records, ids, outcomes, labelled_only, without_decision, scope)


def stored_frame_from_models(
    engine: Engine, *, labelled_only: bool = False, without_decision: bool = False
) -> pl.DataFrame:
    """:func:`stored_frame` through the declaration model (``repository.load``, every column, pydantic): the
    reference the narrow path is checked against, far slower on a national store."""
    ids, outcomes = _stored_ids(engine, labelled_only=labelled_only, without_decision=without_decision)
    loaded: list[Declaration] = []
    with engine.connect() as conn:
        for start in range(0, len(ids), 1000):
            loaded += repository.load(conn, ids[start : start + 1000])
    return _frame_of([d.model_dump(mode="json") for d in loaded], ids, outcomes, labelled_only, without_decision)


# which stored declarations `score_backlog` lanes (docs/risk.md, "Today's queue"):
#   awaiting  no decision yet and not inspected (the default: today's work, not yesterday's history)
#   rescore   not inspected and not released: no decision yet, or a latest decision in red, yellow or blue (laned
#             again, e.g. after a new model or profiles)
#   all       every declaration without a decision, inspected ones included (history laned, for back-testing)
BACKLOG_SCOPES = ("awaiting", "rescore", "all")


def _latest_decisions() -> Any:
    """The id of the latest decision of each declaration (a subquery)."""
    return select(func.max(risk_decisions.c.id)).group_by(risk_decisions.c.reference).scalar_subquery()


def _stored_ids(
    engine: Engine, *, labelled_only: bool, without_decision: bool, scope: str | None = None
) -> tuple[list[int], dict[int, tuple[str, Any]]]:
    if scope is not None and scope not in BACKLOG_SCOPES:
        raise RiskDataError(f"unknown backlog scope {scope!r}; choose {', '.join(BACKLOG_SCOPES)}", field="scope")
    with engine.connect() as conn:
        outcomes = {
            r.declaration_id: (r.outcome, r.revenue_recovered)
            for r in conn.execute(
                select(
                    inspection_results.c.declaration_id,
                    inspection_results.c.outcome,
                    inspection_results.c.revenue_recovered,
                ).order_by(inspection_results.c.id)
            )
        }
        query = select(declarations.c.id).order_by(declarations.c.id)
        if labelled_only:
            query = query.where(declarations.c.id.in_(list(outcomes) or [-1]))
        if without_decision or scope in ("awaiting", "all"):
            decided = select(risk_decisions.c.reference)
            query = query.where(declarations.c.functional_reference_id.not_in(decided))
        if scope in ("awaiting", "rescore"):
            query = query.where(declarations.c.id.not_in(select(inspection_results.c.declaration_id)))
        if scope == "rescore":
            released = select(risk_decisions.c.reference).where(
                risk_decisions.c.id.in_(_latest_decisions()), risk_decisions.c.lane == "green"
            )
            query = query.where(declarations.c.functional_reference_id.not_in(released))
        return list(conn.execute(query).scalars()), outcomes


def _frame_of(
    records: list[dict[str, Any]],
    ids: list[int],
    outcomes: Mapping[int, tuple[str, Any]],
    labelled_only: bool,
    without_decision: bool,
    scope: str | None = None,
) -> pl.DataFrame:
    if not records:
        raise RiskDataError(
            "no stored declarations"
            + (" with an inspection result" if labelled_only else "")
            + (" without a decision" if without_decision else "")
            + (f" awaiting a decision (backlog scope {scope})" if scope else ""),
            field="declarations",
        )
    by_reference = {}
    for i, d in zip(ids, records, strict=True):
        if i in outcomes:
            outcome, revenue = outcomes[i]
            by_reference[d["functional_reference_id"]] = (
                int(outcome == "fraud"),
                float(revenue) if revenue is not None else None,
            )
    return from_declarations(records, labels=lambda ref: by_reference.get(ref, (None, None)))


_PARTY_ROLES = ("declarant", "importer", "seller", "carrier")


def _item_record(r: Any) -> dict[str, Any]:
    """A stored goods item as the risk engine reads it (a row of the goods items table)."""
    return {
        "hs_code": r.hs_code,
        "origin_country_code": r.origin_country_code,
        "customs_value_amount": r.customs_value_amount,
        "net_mass_kg": r.net_mass_kg,
        "duty_rate": r.duty_rate,
        "duty_tax_amount": r.duty_tax_amount,
        "duty_regime_code": r.duty_regime_code,
        "preference": {"code": r.preference_code} if r.preference_code else None,
        "customs_value_currency": getattr(r, "customs_value_currency", None),
    }


def _narrow_records(conn: Connection, ids: list[int]) -> list[dict[str, Any]]:
    """The declarations ``ids`` (ascending) as the minimal declaration-shaped dicts ``frame.declaration_row``
    reads, from three narrow queries over their id range (over the ids themselves when they are few in a wide
    range, as a page of the queue is)."""
    low, high = ids[0], ids[-1]
    wanted = set(ids)
    d, p, g = declarations.c, declaration_parties.c, goods_items.c
    if high - low + 1 > 4 * len(ids):
        return [r for start in range(0, len(ids), 500) for r in _few_records(conn, ids[start : start + 500])]
    heads = {
        r.id: r
        for r in conn.execute(
            select(
                d.id,
                d.functional_reference_id,
                d.acceptance_date,
                d.declaration_office_id,
                d.procedure_code,
                d.transport_mode_code,
                d.departure_country_code,
                d.national_extensions,
            ).where(d.id.between(low, high))
        )
        if r.id in wanted
    }
    parties: dict[int, dict[str, dict[str, Any]]] = {}
    for party in conn.execute(
        select(p.declaration_id, p.role, p.party_id, p.aeo_status).where(
            p.declaration_id.between(low, high), p.role.in_(_PARTY_ROLES)
        )
    ):
        if party.declaration_id in wanted:
            parties.setdefault(party.declaration_id, {})[party.role] = {
                "id": party.party_id,
                "aeo_status": party.aeo_status,
            }
    items: dict[int, list[dict[str, Any]]] = {}
    for r in conn.execute(
        select(
            g.declaration_id,
            g.hs_code,
            g.origin_country_code,
            g.customs_value_amount,
            g.net_mass_kg,
            g.duty_rate,
            g.duty_tax_amount,
            g.duty_regime_code,
            g.preference_code,
            g.customs_value_currency,
        )
        .where(g.declaration_id.between(low, high))
        .order_by(g.declaration_id, g.sequence_number)
    ):
        if r.declaration_id in wanted:
            items.setdefault(r.declaration_id, []).append(_item_record(r))
    out = []
    for i in ids:
        h = heads[i]
        out.append(
            {
                "functional_reference_id": h.functional_reference_id,
                "acceptance_date": h.acceptance_date,
                "declaration_office_id": h.declaration_office_id,
                "procedure_code": h.procedure_code,
                # the model has a transport only when a mode is stored (repository.from_rows)
                "transport": {"mode_code": h.transport_mode_code, "departure_country_code": h.departure_country_code}
                if h.transport_mode_code
                else None,
                **parties.get(i, {}),
                "goods_items": items.get(i, []),
                "national_extensions": h.national_extensions or {},
            }
        )
    return out


def _few_records(conn: Connection, ids: list[int]) -> list[dict[str, Any]]:
    """:func:`_narrow_records` of a few declarations far apart: one head, parties and items query by id each."""
    out = []
    for reference in conn.execute(
        select(declarations.c.functional_reference_id).where(declarations.c.id.in_(ids)).order_by(declarations.c.id)
    ).scalars():
        stored = _stored_record(conn, reference)
        if stored is not None:
            out.append(stored[0])
    return out


# --- models: train, register, promote, roll back, drift ------------------------------------------------------


def _models_dir(platform: Platform) -> Path:
    path = Path(platform.settings.data_dir) / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


HOLDOUT = 0.2  # newest share of the inspected declarations held out when training from the store
MIN_HELD_OUT = 20  # fewer labelled held-out declarations than this: no held-out evaluation


def hold_out_tail(frame: pl.DataFrame, share: float = HOLDOUT) -> tuple[pl.DataFrame, pl.DataFrame | None, str]:
    """Split labelled declarations by acceptance date: the oldest to learn from, the newest ``share`` (whole days,
    so no day is on both sides) held out for calibration and the evaluation report. When the tail is too small or
    either side lacks one of the outcomes, nothing is held out (the third value says why)."""
    if not 0 < share < 1:
        raise RiskDataError(f"the held-out share must be between 0 and 1 (exclusive), not {share}", field="holdout")
    data = frame.filter(pl.col("label").is_not_null()).sort("date", "reference", maintain_order=True)
    if data.height == 0:
        return frame, None, "no labelled declarations"
    cut = data["date"][min(data.height - 1, int((1 - share) * data.height))]
    head, tail = data.filter(pl.col("date") < cut), data.filter(pl.col("date") >= cut)
    problems = []
    if tail.height < MIN_HELD_OUT:
        problems.append(f"the newest {share:.0%} holds {tail.height} declarations (at least {MIN_HELD_OUT} needed)")
    for name, part in (("held-out", tail), ("training", head)):
        frauds = int(part["label"].sum()) if part.height else 0
        if part.height and frauds in (0, part.height):
            problems.append(f"the {name} part has {'no' if frauds == 0 else 'only'} fraud")
        if not part.height:
            problems.append(f"the {name} part is empty")
    if problems:
        return frame, None, "no held-out evaluation: " + "; ".join(problems) + "; the model learnt from every row"
    return head, tail, f"newest {share:.0%} of the inspected declarations (accepted from {cut})"


def train_model(
    platform: Platform,
    actor: Identity,
    train_file: Path | None,
    valid_file: Path | None,
    *,
    layout: str = "kcs",
    seed: int = 0,
    promote: bool = False,
    holdout: float = HOLDOUT,
    params: Mapping[str, Any] | None = None,
    progress: JobProgress | None = None,
) -> dict[str, Any]:
    """Train and register a model version. Without ``train_file``, it learns from the stored declarations that
    were inspected (and only those: uninspected declarations have no label); the newest ``holdout`` share of them
    (by acceptance date) is then held out as the validation split, unless ``valid_file`` is given or ``holdout``
    is 0. ``params`` replaces the LightGBM parameters (default :data:`~opencustoms.risk.model.DEFAULT_PARAMS`).
    The version is stored with its report (:mod:`opencustoms.risk.report`): precision@n% and recall@n%
    curves against random and rules-only on the validation split, AUC, feature importance, reference scores.
    ``progress`` hears each phase: reading, features, boosting rounds, calibration, evaluation, saving."""
    actor.require(Permission.RISK_MANAGE)
    progress = or_none(progress)
    pseudo = platform.pseudonymiser
    if train_file:
        progress.phase("reading files", 2 if valid_file else 1)
        train = read_frame(train_file, layout)
    else:
        progress.phase("reading the stored inspected declarations", None)
        train = stored_frame(platform.engine, labelled_only=True)
    progress.advance(1 if train_file else train.height)
    valid = read_frame(valid_file, layout) if valid_file else None
    if valid_file:
        progress.advance(1)
    train = pseudonymise_parties(train, pseudo)
    valid = pseudonymise_parties(valid, pseudo) if valid is not None else None
    held_out, note = None, None
    if train_file is None and valid is None and holdout:
        train, valid, held_out = hold_out_tail(train, holdout)
        note = held_out if valid is None else None
    model = (RiskModel(seed=seed, params=dict(params)) if params else RiskModel(seed=seed)).fit(
        train, valid, progress=progress
    )
    progress.phase("evaluating on held-out data" if valid is not None else "writing the report", 1)
    if valid is not None:
        from opencustoms.risk.metrics import scorecard

        card = scorecard(valid["label"].to_numpy(), model.predict_proba(valid))
        model.metrics_ = {"valid": {"auc": card.auc, **{f"precision@{a.share:g}": a.precision for a in card.at}}}
    model_report = build_report(model, train, valid, held_out=held_out if valid is not None else None, note=note)
    progress.advance(1)
    progress.phase("saving the model", 1)
    now = utcnow()
    version = now.strftime("m%Y%m%d%H%M%S") + "-" + model.training_hash_[:6]
    path = _models_dir(platform) / f"{version}.model"
    file_hash = model.save(path)
    row = {
        "version": version,
        "created_at": now,
        "created_by": actor.username,
        "path": str(path),
        "file_hash": file_hash,
        "data_hash": model.training_hash_,
        "training_rows": model.training_rows_,
        "params": model.params,
        "metrics": model.metrics_ or None,
        "status": "candidate",
        "promoted_at": None,
        "report": _json_safe(model_report),
    }
    with platform.engine.begin() as conn:
        modelfile.register(conn, risk_models, row, actor, "risk_model")
    if promote:
        promote_model(platform.engine, actor, version)
        row["status"] = "promoted"
    progress.advance(1)
    return row


def _json_safe(value: Any) -> Any:
    """NaN and infinities become None (JSON columns on PostgreSQL refuse them)."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def list_models(engine: Engine, actor: Identity) -> list[dict[str, Any]]:
    actor.require(Permission.RISK_MANAGE)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(risk_models).order_by(risk_models.c.created_at.desc())).mappings()]


def promote_model(engine: Engine, actor: Identity, version: str) -> None:
    actor.require(Permission.RISK_MANAGE)
    missing = ModelNotFoundError(f"no model version {version!r}; see `opencustoms risk models list`", field="version")
    with engine.begin() as conn:
        modelfile.promote(conn, risk_models, version, actor, "risk_model", missing)
        _reset_score_counts(conn, version)


def rollback_model(engine: Engine, actor: Identity) -> str:
    """Put the model promoted before the current one back in service."""
    actor.require(Permission.RISK_MANAGE)
    with engine.connect() as conn:
        promoted = conn.execute(
            select(risk_models.c.version, risk_models.c.promoted_at)
            .where(risk_models.c.promoted_at.is_not(None))
            .order_by(risk_models.c.promoted_at.desc())
        ).all()
    if len(promoted) < 2:
        raise ModelNotFoundError("there is no earlier promoted model to roll back to", field="version")
    previous = promoted[1].version
    promote_model(engine, actor, previous)
    return str(previous)


@lru_cache(maxsize=4)
def _load_verified(path: str, file_hash: str) -> RiskModel:
    return RiskModel.from_bytes(modelfile.read_verified(path, file_hash, RiskModelError, "retrain or roll back"))


def _promoted_row(engine: Engine) -> Mapping[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(risk_models).where(risk_models.c.status == "promoted")).mappings().first()
    return dict(row) if row is not None else None


def current_model(engine: Engine) -> tuple[str, RiskModel] | None:
    """The promoted model (its file checked against the registered hash), or None when none is promoted."""
    row = _promoted_row(engine)
    if row is None:
        return None
    return row["version"], _load_verified(row["path"], row["file_hash"])


def compiled_trees_path(model_path: str | Path, file_hash: str) -> Path:
    """Where a model version's compiled trees are cached: next to its file, named with the file's hash."""
    path = Path(model_path)
    return path.with_name(f"{path.name}.{file_hash[:16]}.trees.o")


def batch_model(engine: Engine) -> tuple[str, RiskModel] | None:
    """The promoted model for scoring a batch: with its compiled trees when `opencustoms risk models compile`
    made them (they are loaded from the cache, never compiled here: compiling takes about a minute)."""
    row = _promoted_row(engine)
    if row is None:
        return None
    model = _load_verified(row["path"], row["file_hash"])
    if model.compiled_ is None:
        model.compile_trees(compiled_trees_path(row["path"], row["file_hash"]), build=False)
    return row["version"], model


def _model_row(conn: Connection, version: str | None, columns: list[Any], hint: str) -> Any:
    """The named model version, or the promoted one when ``version`` is None; a clear error when there is none."""
    where = risk_models.c.version == version if version is not None else risk_models.c.status == "promoted"
    row = conn.execute(select(*columns).where(where)).mappings().first()
    if row is None:
        raise ModelNotFoundError(
            f"no model version {version!r}; see `opencustoms risk models list`"
            if version
            else f"no model is in service; {hint}",
            field="version" if version else "model",
        )
    return row


def compile_model(platform: Platform, actor: Identity, version: str | None = None) -> dict[str, Any]:
    """Compile a model version's trees to machine code (lleaves) once, cached next to its file, so that batch
    scoring (`risk score`, the backlog) uses them: about 4x faster than LightGBM on a million declarations
    (docs/risk.md, Speed). Default: the promoted version."""
    actor.require(Permission.RISK_MANAGE)
    with platform.engine.connect() as conn:
        row = _model_row(conn, version, [risk_models], "promote one first or name a version")
    model = _load_verified(row["path"], row["file_hash"])
    cache = compiled_trees_path(row["path"], row["file_hash"])
    started = dt.datetime.now()
    if not model.compile_trees(cache, build=True):
        raise RiskModelError(
            "compiled trees need the package lleaves (with llvmlite < 0.45); install it with "
            "`pip install lleaves 'llvmlite<0.45'` — without it LightGBM scores, only slower",
            field="model",
        )
    seconds = (dt.datetime.now() - started).total_seconds()
    with platform.engine.begin() as conn:
        record(conn, actor, "compile", "risk_model", row["version"], detail={"file": cache.name})
    return {"model_version": row["version"], "compiled": str(cache), "seconds": round(seconds, 1)}


def drift(
    platform: Platform,
    actor: Identity,
    file: Path | None = None,
    *,
    layout: str = "kcs",
    version: str | None = None,
) -> dict[str, Any]:
    """PSI of the promoted model's scores on ``file`` against its reference scores; without a file, of what the
    model (``version``, default the promoted one) scored since its promotion (see :func:`score_drift`)."""
    actor.require(Permission.RISK_MANAGE)
    if file is None:
        return score_drift(platform.engine, actor, version)
    current = current_model(platform.engine)
    if current is None:
        raise ModelNotFoundError("no model is in service; promote one first", field="model")
    version, model = current
    frame = pseudonymise_parties(read_frame(file, layout), platform.pseudonymiser)
    value = lifecycle.psi(model.reference_scores_, model.predict_proba(frame))
    return {"model_version": version, "psi": value, "verdict": lifecycle.verdict(value), "declarations": frame.height}


def _score_bins(report: Mapping[str, Any] | None) -> dict[str, np.ndarray] | None:
    scores = (report or {}).get("scores")
    if not scores:
        return None
    return {"psi": np.asarray(scores["psi_edges"], dtype=float), "histogram": histogram_edges()}


@lru_cache(maxsize=64)
def _cached_bins(engine: Engine, version: str) -> dict[str, np.ndarray] | None:
    """A version's bins (its report never changes once stored)."""
    with engine.connect() as conn:
        report = conn.execute(select(risk_models.c.report).where(risk_models.c.version == version)).scalar()
    return _score_bins(report)


def _reset_score_counts(conn: Connection, version: str) -> None:
    """Zero the running histogram of a version (at its promotion): one row per bin of each scale."""
    conn.execute(delete(risk_score_counts).where(risk_score_counts.c.model_version == version))
    report = conn.execute(select(risk_models.c.report).where(risk_models.c.version == version)).scalar()
    bins = _score_bins(report)
    if bins is None:
        return
    conn.execute(
        insert(risk_score_counts),
        [
            {"model_version": version, "scale": scale, "bin": b, "scored": 0}
            for scale, edges in bins.items()
            for b in range(len(edges) + 1)
        ],
    )


_ADD_COUNT = (
    update(risk_score_counts)
    .where(
        risk_score_counts.c.model_version == bindparam("v"),
        risk_score_counts.c.scale == bindparam("s"),
        risk_score_counts.c.bin == bindparam("b"),
    )
    .values(scored=risk_score_counts.c.scored + bindparam("n"))
)


def _count_scores(conn: Connection, version: str, scores: np.ndarray) -> None:
    """Add stored decisions' scores to the running histogram of their model version (atomic increments)."""
    bins = _cached_bins(conn.engine, version)
    if bins is None or len(scores) == 0:
        return
    params = [
        {"v": version, "s": scale, "b": int(b), "n": int(n)}
        for scale, edges in bins.items()
        for b, n in enumerate(lifecycle.bin_counts(edges, scores))
        if n
    ]
    conn.execute(_ADD_COUNT, params)


def score_drift(engine: Engine, actor: Identity, version: str | None = None) -> dict[str, Any]:
    """PSI of the scores a model version gave since its promotion (decisions stored by ``decide`` and
    ``score_backlog``) against its reference scores, with both histograms; ``psi`` is None until it scored."""
    actor.require(Permission.RISK_MANAGE)
    with engine.connect() as conn:
        m = risk_models.c
        row = _model_row(conn, version, [m.version, m.promoted_at, m.status, m.report], "promote one first")
        counts = conn.execute(
            select(risk_score_counts.c.scale, risk_score_counts.c.bin, risk_score_counts.c.scored).where(
                risk_score_counts.c.model_version == row["version"]
            )
        ).all()
    scores = (row["report"] or {}).get("scores")
    out: dict[str, Any] = {
        "model_version": row["version"],
        "status": row["status"],
        "since": row["promoted_at"],
        "declarations": 0,
        "psi": None,
        "verdict": None,
        "histogram_bins": HISTOGRAM_BINS,
        "histogram_reference": scores["histogram_reference"] if scores else None,
        "histogram_current": None,
    }
    if not scores:
        out["verdict"] = (
            "no reference scores stored with this version (trained before reports); retrain to follow drift"
        )
        return out
    current = {"psi": [0] * len(scores["psi_reference"]), "histogram": [0] * HISTOGRAM_BINS}
    for scale, b, n in counts:
        if scale in current and b < len(current[scale]):
            current[scale][b] = int(n)
    out["histogram_current"] = current["histogram"]
    out["declarations"] = sum(current["psi"])
    if out["declarations"] == 0:
        out["verdict"] = (
            "not scored anything since its promotion yet"
            if row["promoted_at"] is not None
            else "never promoted: no scores to compare yet"
        )
        return out
    value = lifecycle.psi_from_counts(scores["psi_reference"], current["psi"])
    out["psi"], out["verdict"] = value, lifecycle.verdict(value)
    return out


def model_report(engine: Engine, actor: Identity, version: str) -> dict[str, Any]:
    """A model version with its stored report (curves against baselines, AUC, feature importance) and its drift
    since promotion."""
    actor.require(Permission.RISK_MANAGE)
    with engine.connect() as conn:
        row = conn.execute(select(risk_models).where(risk_models.c.version == version)).mappings().first()
    if row is None:
        raise ModelNotFoundError(f"no model version {version!r}; see `opencustoms risk models list`", field="version")
    out = {k: v for k, v in row.items() if k not in ("path", "report")}
    out["report"] = row["report"]
    out["drift"] = score_drift(engine, actor, version)
    return out


# --- lanes ---------------------------------------------------------------------------------------------------


def lane_policy(platform: Platform) -> LanePolicy:
    """The lane policy: <data_dir>/risk_policy.json when present, else the defaults (docs/risk.md)."""
    path = Path(platform.settings.data_dir) / "risk_policy.json"
    if not path.exists():
        return LanePolicy()
    try:
        return LanePolicy.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ProfileError(f"{path} is not a valid lane policy: {exc}", field="risk_policy") from exc


def _with_contributions(
    decisions: pl.DataFrame, frame: pl.DataFrame, model: RiskModel | None, x: np.ndarray | None
) -> pl.DataFrame:
    """Top feature contributions (JSON) for the declarations not sent to green, computed on those rows only; green
    rows share one broadcast "[]" (no JSON per declaration)."""
    column = pl.Series("contributions", ["[]"], dtype=pl.Utf8).new_from_index(0, decisions.height)
    if model is not None and x is not None:
        chosen = np.flatnonzero((decisions["lane"] != "green").to_numpy())
        if len(chosen):
            column = column.scatter(chosen, model.contributions_json(frame[chosen], x=x[chosen]))
    return decisions.with_columns(column)


BATCH_ROWS = 1_000  # rows: from this many, decide_frame builds the reasons' attribution table in the background


def decide_frame(
    frame: pl.DataFrame,
    *,
    model: RiskModel | None,
    profiles: list[Profile],
    policy: LanePolicy,
    seed: int = 0,
    signals: Mapping[str, list[dict[str, Any]]] | None = None,
    online: bool = False,
    gaps: Mapping[str, Sequence[str]] | None = None,
) -> pl.DataFrame:
    """Lanes with reasons for a frame whose parties are already pseudonymised; with the model, each decision
    carries its probability (``score``) and the raw model score beside it (``rank_score``). ``gaps``: the
    missing-data reasons by reference (:func:`opencustoms.risk.gaps.frame_gaps`)."""
    x = model.matrix(frame) if model is not None else None
    scores, ranks = model.scores(frame, x=x) if model is not None else (None, None)
    with ThreadPoolExecutor(1) as background:
        # a batch: the reasons' attribution table (about 0.6 s, mostly LightGBM's model dump) is built in the
        # background while the lanes are assigned (polars does not keep both cores busy there)
        table = background.submit(model.path_table) if model is not None and frame.height > BATCH_ROWS else None
        thresholds = None
        if online:
            thresholds = lane_rules.thresholds_for(model.reference_scores_, policy) if model is not None else {}
        decisions = lane_rules.assign(
            frame, scores, profiles, policy, seed=seed, signals=signals, thresholds=thresholds, gaps=gaps
        )
        if table is not None:
            table.result()
    if ranks is not None:
        decisions = decisions.with_columns(pl.Series("rank_score", ranks, dtype=pl.Float64))
    return _with_contributions(decisions, frame, model, x)


def reasons_of(row: Mapping[str, Any], model_version: str | None) -> list[dict[str, Any]]:
    """A decision row's reasons as structured records (stored with the decision)."""
    out: list[dict[str, Any]] = []
    for text in row["reasons"]:
        kind = (
            "profile"
            if text.startswith("profile ")
            else "signal"
            if text.startswith("signal ")
            else "random"
            if text.startswith("random ")
            else "aeo"
            if text.startswith("AEO ")
            else "missing_data"
            if text.endswith(gap_rules.SUFFIX)
            else "lane"
        )
        out.append({"kind": kind, "text": text})
    contributions = json.loads(row["contributions"]) if row.get("contributions") else []
    if model_version is not None:
        top = ", ".join(f"{c['feature']} = {c['value']} (+{c['contribution']})" for c in contributions)
        out.append(
            {
                "kind": "model",
                "text": f"model {model_version}: probability of fraud {score_display.percent_text(row['score'])} "
                f"({score_display.band(row['score'])})" + (f"; pushed up by {top}" if top else ""),
                "contributions": contributions,
            }
        )
    return out


def _decision_rows(decisions: Iterable[Mapping[str, Any]], model_version: str | None) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {
            "reference": r["reference"],
            "decided_at": now,
            "lane": r["lane"],
            "score": float(r["score"]) if model_version else None,
            "rank_score": float(r["rank_score"]) if model_version and r.get("rank_score") is not None else None,
            "model_version": model_version,
            "random_draw": float(r["random_draw"]),
            "reasons": reasons_of(r, model_version),
        }
        for r in decisions
    ]


def _write_decisions(
    conn: Connection, actor: Identity, rows: Sequence[dict[str, Any]], model_version: str | None
) -> None:
    """Insert decisions, add their scores to the running histogram and write their audit entry (one transaction)."""
    for start in range(0, len(rows), 1000):
        conn.execute(insert(risk_decisions), list(rows[start : start + 1000]))
    if model_version is not None:
        _count_scores(conn, model_version, np.asarray([r["score"] for r in rows], dtype=float))
    record(
        conn,
        actor,
        "decide",
        "risk_decision",
        rows[0]["reference"] if len(rows) == 1 else None,
        detail={"declarations": len(rows), "model_version": model_version},
    )


def _store_decisions(engine: Engine, actor: Identity, decisions: pl.DataFrame, model_version: str | None) -> None:
    rows = _decision_rows(decisions.iter_rows(named=True), model_version)
    with engine.begin() as conn:
        _write_decisions(conn, actor, rows, model_version)


# --- online decisions: the promoted model and the profiles cached between requests ---------------------------


@dataclass
class _Online:
    key: tuple[Any, ...]
    model: tuple[str, RiskModel] | None
    profiles: list[Profile]
    nomenclatures: Any  # reference.service.NomenclatureSet: HS codes checked as the backlog and file paths do
    thresholds: dict[tuple[Any, ...], dict[str, float]] = field(default_factory=dict)


_m, _p = risk_models.c, risk_profiles.c
# one cheap query says whether what is cached is still current: the promoted version and its file hash, the
# number of profile versions (profiles are never changed in place: every change adds a version, so the count moves)
# and the HS editions loaded with `reference load-hs` (the shipped ones never change)
_ONLINE_STATE = select(
    select(_m.version).where(_m.status == "promoted").limit(1).scalar_subquery(),
    select(_m.file_hash).where(_m.status == "promoted").limit(1).scalar_subquery(),
    select(func.count()).select_from(risk_profiles).scalar_subquery(),
    select(func.max(_p.created_at)).scalar_subquery(),
    select(func.max(hs_nomenclature.c.edition)).scalar_subquery(),
    select(func.count()).select_from(hs_nomenclature).scalar_subquery(),
)
_online_cache: dict[int, _Online] = {}
_policy_cache: dict[tuple[Any, ...], LanePolicy] = {}
_online_lock = threading.Lock()


def _online(platform: Platform) -> _Online:
    """The promoted model and the latest version of every profile, as cached for this database: reloaded when a
    model is promoted or rolled back or a profile changes (in this process or another; one query per request)."""
    engine = platform.engine
    with engine.connect() as conn:
        key = tuple(conn.execute(_ONLINE_STATE).one())
    cached = _online_cache.get(id(engine))
    if cached is not None and cached.key == key:
        return cached
    with _online_lock:
        cached = _online_cache.get(id(engine))
        if cached is None or cached.key != key:
            model = current_model(engine)
            if model is not None:
                model[1].warm()  # its lookups built before the heap is settled, not by the first requests
            from opencustoms.reference.service import nomenclatures

            cached = _Online(key, model, load_profiles(engine), nomenclatures(engine))
            _online_cache[id(engine)] = cached
            settle_heap(reclaim=True)  # no full collection walks the model between requests (tail latency)
    return cached


def warm(platform: Platform) -> None:
    """Load what online decisions use — the promoted model with its lookups, the profiles — before the first
    request (a server calls this at start-up, so that no request waits for the load and the collections it causes).
    Whatever stops it (a database not initialised, a promoted model whose file is missing or altered, a stored
    profile that no longer validates) is logged and left to the first decision, which reports it: the rest of the
    API must come up all the same."""
    try:
        _online(platform)
    except Exception as exc:  # noqa: BLE001 - start-up must not fail for the risk engine's sake
        _log.warning("risk engine not warmed at start-up (the first decision will say why): %s", exc)


def _cached_policy(platform: Platform) -> tuple[tuple[Any, ...], LanePolicy]:
    """:func:`lane_policy`, read again only when its file changes (by modification time and size)."""
    path = Path(platform.settings.data_dir) / "risk_policy.json"
    try:
        stat = path.stat()
        key: tuple[Any, ...] = (str(path), stat.st_mtime_ns, stat.st_size)
    except FileNotFoundError:
        key = (str(path), None, None)
    policy = _policy_cache.get(key)
    if policy is None:
        policy = lane_policy(platform)
        if len(_policy_cache) > 64:
            _policy_cache.clear()
        _policy_cache[key] = policy
    return key, policy


_d, _dp, _g = declarations.c, declaration_parties.c, goods_items.c
# what deciding a stored declaration reads, three statements built once (their compiled form is cached): the columns
# frame.declaration_row uses, as _narrow_records reads them for the backlog, and the parties' names for the reasons
_ONE_HEAD = select(
    _d.id,
    _d.functional_reference_id,
    _d.acceptance_date,
    _d.declaration_office_id,
    _d.procedure_code,
    _d.transport_mode_code,
    _d.departure_country_code,
    _d.national_extensions,
).where(_d.functional_reference_id == bindparam("reference"))
_ONE_PARTIES = select(_dp.role, _dp.party_id, _dp.aeo_status, _dp.name, _dp.aeo_certificate_id).where(
    _dp.declaration_id == bindparam("id")
)
_ONE_ITEMS = (
    select(
        _g.hs_code,
        _g.origin_country_code,
        _g.customs_value_amount,
        _g.net_mass_kg,
        _g.duty_rate,
        _g.duty_tax_amount,
        _g.duty_regime_code,
        _g.preference_code,
        _g.customs_value_currency,
    )
    .where(_g.declaration_id == bindparam("id"))
    .order_by(_g.sequence_number)
)


def _stored_record(
    conn: Connection, reference: str
) -> tuple[dict[str, Any], tuple[dict[str, str], dict[str, str]]] | None:
    """A stored declaration as the record :func:`_narrow_records` gives (what ``frame.declaration_row`` reads), with
    its parties' names and certificates for rendering reasons; None when no declaration has that reference."""
    head = conn.execute(_ONE_HEAD, {"reference": reference}).first()
    if head is None:
        return None
    record: dict[str, Any] = {
        "functional_reference_id": head.functional_reference_id,
        "acceptance_date": head.acceptance_date,
        "declaration_office_id": head.declaration_office_id,
        "procedure_code": head.procedure_code,
        "transport": {"mode_code": head.transport_mode_code, "departure_country_code": head.departure_country_code}
        if head.transport_mode_code
        else None,
        "national_extensions": head.national_extensions or {},
    }
    names: dict[str, str] = {}
    holders: dict[str, str] = {}
    for party in conn.execute(_ONE_PARTIES, {"id": head.id}):
        if party.role in _PARTY_ROLES:
            record[party.role] = {"id": party.party_id, "aeo_status": party.aeo_status}
        names.setdefault(party.party_id, party.name or "")
        if party.aeo_certificate_id:
            holders[party.aeo_certificate_id] = party.party_id
    record["goods_items"] = [_item_record(r) for r in conn.execute(_ONE_ITEMS, {"id": head.id})]
    return record, (names, holders)


def _conformed(record: Mapping[str, Any], pseudonymiser: Pseudonymiser | None) -> dict[str, Any]:
    """A declaration as one conformed row (parties pseudonymised), in plain Python: what from_declarations and
    pseudonymise_parties give for one declaration, without a polars frame (about 3 ms saved per decision). A
    missing origin or HS code is kept (laned as a gap)."""
    data_row = declaration_row(record)
    for column in PARTY_COLUMNS:
        if data_row.get(column) is not None:
            data_row[column] = pseudonymiser(data_row[column]) if pseudonymiser is not None else None
    return conform_row(data_row, gaps=True)


def _currency(record: Mapping[str, Any]) -> str | None:
    """The currency of a declaration's values as the risk engine reads them (its largest goods item's)."""
    items = record.get("goods_items") or []
    if not items:
        return None
    main = max(items, key=lambda i: float(i.get("customs_value_amount") or 0))
    return main.get("customs_value_currency")


def _decide_one(
    platform: Platform,
    record: Mapping[str, Any],
    found: Sequence[signal_records.Signal],
    seed: int | None,
) -> tuple[dict[str, Any], str | None]:
    """The lane and reasons of one declaration online (nothing stored): its row as :func:`lanes.assign_one` gives
    it, with the model's contributions, and the model version. ``record``: the declaration as a dict (a model dump
    or the narrow record of a stored one); ``found``: its signals, one per event."""
    conformed = _conformed(record, platform.pseudonymiser)
    reference, accepted = conformed["reference"], conformed["date"]
    online = _online(platform)
    version, model = online.model if online.model else (None, None)
    policy_key, policy = _cached_policy(platform)
    thresholds = online.thresholds.get(policy_key)
    if thresholds is None:
        thresholds = lane_rules.thresholds_for(model.reference_scores_, policy) if model is not None else {}
        online.thresholds[policy_key] = thresholds
    draw_seed = seed if seed is not None else int.from_bytes(hashlib.sha256(reference.encode()).digest()[:4], "big")
    x = model.matrix([conformed]) if model is not None else None
    score = rank = None
    if model is not None:
        probabilities, ranks = model.scores([conformed], x=x)
        score, rank = float(probabilities[0]), float(ranks[0])
    row = lane_rules.assign_one(
        conformed,
        score,
        [p for p in online.profiles if p.valid_on(accepted)],
        policy,
        seed=draw_seed,
        signals=[s.model_dump(mode="json") for s in found],
        thresholds=thresholds,
        gaps=gap_rules.gaps_of(conformed, online.nomenclatures),
    )
    row["rank_score"] = rank
    row["contributions"] = (
        json.dumps(model.contributions([conformed], x=x)[0]) if model is not None and row["lane"] != "green" else "[]"
    )
    evidence = model.builder_.evidence(conformed) if model is not None and model.builder_ is not None else None
    row["facts"] = reason_text.Facts(conformed, evidence, _currency(record))
    return row, version


def _answer(row: Mapping[str, Any], version: str | None) -> dict[str, Any]:
    return score_display.shown(
        {
            "reference": row["reference"],
            "lane": row["lane"],
            "score": row["score"] if version else None,
            "model_version": version,
            "random_draw": row["random_draw"],
            "reasons": reasons_of(row, version),
        }
    )


def decide(
    platform: Platform,
    actor: Identity,
    reference: str,
    *,
    seed: int | None = None,
    purpose: str | None = None,
    lang: str = "en",
) -> dict[str, Any]:
    """Lane the STORED declaration ``reference`` online and store the decision: lane, probability, reasons
    (profiles, model contributions, signals, random draw). Target rates are met through thresholds set on the
    model's reference scores. Needs decisions:write; an unknown reference is refused (404), so no decision is
    ever stored for a declaration that is not stored, and what is laned is what is stored, not a copy sent along.
    The reasons come back rendered for ``actor`` (parties masked without personal_data:read)."""
    actor.require(Permission.DECISIONS_WRITE)
    if not isinstance(reference, str):
        raise RiskDataError(
            "a decision is taken on a stored declaration, named by its functional reference; to score a "
            "declaration without storing anything use assess (POST /risk/what-if)",
            field="reference",
        )
    with platform.engine.connect() as conn:
        stored = _stored_record(conn, reference)
        if stored is None:
            raise DeclarationNotFoundError(reference)
        record, names = stored
        found = signal_records.distinct(signal_records.for_stored_one(conn, reference))
    row, version = _decide_one(platform, record, found, seed)
    facts = row.pop("facts")
    # the decision, its score count and its audit entry are committed (durably) before the answer
    decision_writer.submit(platform.engine, _write_decisions, actor, _decision_rows([row], version), version)
    return _rendered(
        platform.engine, actor, _answer(row, version), names, platform.pseudonymiser, purpose, lang, facts, found
    )


def assess(
    platform: Platform,
    actor: Identity,
    data: Mapping[str, Any] | Declaration,
    *,
    seed: int | None = None,
    purpose: str | None = None,
    lang: str = "en",
) -> dict[str, Any]:
    """What-if: the lane and reasons ``data`` (a declaration, stored or not) would get online, exactly as
    :func:`decide` computes them, with NOTHING stored (no decision, no score count): a body can never change a
    stored declaration's lane. Needs declarations:read."""
    actor.require(Permission.DECLARATIONS_READ)
    declaration, gaps = _tolerant_declaration(data)
    found = signal_records.distinct(_what_if_signals(platform.engine, actor, declaration))
    record = declaration.model_dump(mode="json")
    for (index, name), value in gaps.items():  # the codes as sent (or missing): laned as gaps, never replaced
        record["goods_items"][index][name] = value
    row, version = _decide_one(platform, record, found, seed)
    facts = row.pop("facts")
    names = signal_records.names_of(declaration)
    return _rendered(
        platform.engine, actor, _answer(row, version), names, platform.pseudonymiser, purpose, lang, facts, found
    )


# goods item codes a what-if may leave missing or unknown: laned with the gap as a reason (risk/gaps.py)
_TOLERATED = {"origin_country_code": "AQ", "hs_code": "010121"}  # stand-ins, validation only


def _tolerant_declaration(data: Mapping[str, Any] | Declaration) -> tuple[Declaration, dict[tuple[int, str], Any]]:
    """The what-if's declaration, validated. A goods item's origin or HS code that is missing or unknown (``ZZ``,
    a code not in the nomenclature) is no reason to refuse a what-if: it is validated with a stand-in and returned
    beside (item index, field) -> the value sent (None when missing), which :func:`assess` puts back before scoring,
    so the declaration is laned with the gap as a reason. Anything else invalid is refused (400, naming the field)."""
    if isinstance(data, Declaration):
        return data, {}
    try:
        return Declaration.model_validate(data), {}
    except ValidationError as exc:
        errors = exc.errors()
    gaps: dict[tuple[int, str], Any] = {}
    items = data.get("goods_items") if isinstance(data, Mapping) else None
    for error in errors:
        loc = error["loc"]
        tolerated = (
            isinstance(items, list)
            and len(loc) == 3
            and loc[0] == "goods_items"
            and isinstance(loc[1], int)
            and loc[2] in _TOLERATED
            and 0 <= loc[1] < len(items)
            and isinstance(items[loc[1]], Mapping)
        )
        if not tolerated:
            raise RiskDataError(
                f"the declaration is not valid: {error['msg']}", field=".".join(str(p) for p in loc)
            ) from None
        value = items[loc[1]].get(loc[2])  # type: ignore[index]
        gaps[(int(loc[1]), str(loc[2]))] = value if isinstance(value, str) and value.strip() else None
    patched = {**data, "goods_items": [dict(item) for item in items]}  # type: ignore[union-attr]
    for (index, name), _ in gaps.items():
        patched["goods_items"][index][name] = _TOLERATED[name]
    try:
        return Declaration.model_validate(patched), gaps
    except ValidationError as exc:
        first = exc.errors()[0]
        raise RiskDataError(
            f"the declaration is not valid: {first['msg']}", field=".".join(str(p) for p in first["loc"])
        ) from exc


# subjects that identify a trader: a reader without personal_data:read may not look their signals up by naming them
_TRADER_SUBJECTS = frozenset({signal_records.SubjectType.PARTY, signal_records.SubjectType.CERTIFICATE})


def _what_if_signals(engine: Engine, actor: Identity, declaration: Declaration) -> list[signal_records.Signal]:
    """The signals a what-if lanes with. A reader with personal_data:read: every subject of the body, as online.
    Anyone else: the body's subjects that identify no trader (containers, vehicles, vessels, documents, the
    reference) plus the signals of the stored declaration of that reference — never signals looked up by a trader
    id or AEO certificate the caller wrote, which would turn any list of trader ids into their pseudonyms and
    their history, as a party search by trader number would (refused there too)."""
    if actor.can(Permission.PERSONAL_DATA_READ):
        return signal_records.for_declaration(engine, declaration)
    subjects = [(t, i) for t, i in signal_records.subjects_of(declaration) if t not in _TRADER_SUBJECTS]
    with engine.connect() as conn:
        stored = signal_records.for_stored_one(conn, declaration.functional_reference_id)
    return signal_records.merged(stored, signal_records.for_subjects(engine, subjects))


SCORE_REPORT_COLUMNS = ("row", "reference", "column", "value", "reason")


def write_problem_report(problems: Sequence[RowProblem], path: Path) -> None:
    """The rows of a scored file that could not be scored, as CSV for a spreadsheet (row, reference, the file's
    column, value, reason; cells that a spreadsheet would run as a formula escaped, as the import report)."""
    from opencustoms.declarations.importer import write_problem_csv

    rows = ((p.row, p.reference, p.column, p.value, p.reason) for p in problems)
    write_problem_csv(path, rows, SCORE_REPORT_COLUMNS)


def score_file(
    platform: Platform,
    actor: Identity,
    file: Path,
    *,
    layout: str = "kcs",
    output: Path | None = None,
    seed: int = 0,
    report: Path | None = None,
    progress: JobProgress | None = None,
    lang: str | None = None,
) -> dict[str, Any]:
    """Lanes with reasons for every declaration of a file that can be scored (quotas over those); optionally written
    out (with ``lang``, each decision also with its reasons said as sentences in that language — ``explanation`` —
    and its ``top_reason``, as the queue says them). Nothing is stored. A row that cannot be scored at all (no
    reference, no date, no value, a number that is not one) is reported — ``rejected`` and ``problems`` (row,
    reference, the file's column, value, reason), written to ``report`` as CSV — and never stops the others. A
    declaration with missing or unknown risk-relevant codes (origin empty or ``ZZ``, HS code missing or not in the
    nomenclature, no office) is scored and laned with each gap as a reason (:mod:`opencustoms.risk.gaps`;
    ``missing_data`` counts them). Each declaration is laned with its signals, as online: those of the stored
    declaration of the same reference (every subject it shows) and those about the reference and the parties the
    file names."""
    actor.require(Permission.DECLARATIONS_READ)
    from opencustoms.reference.service import nomenclatures

    progress = or_none(progress)
    progress.phase("reading the file", 1)
    raw, problems = read_rows(file, layout)
    if report is not None:
        write_problem_report(problems, report)
    progress.advance(1)
    current = batch_model(platform.engine)
    version, model = current if current else (None, None)
    result = {
        "model_version": version,
        "rejected": len({(p.row, p.reference) for p in problems}),
        "problems": [dataclasses.asdict(p) for p in problems],
    }
    if raw.height == 0:
        return {
            "declarations": 0,
            "lanes": dict.fromkeys(("red", "yellow", "blue", "green"), 0),
            "missing_data": 0,
        } | result
    progress.phase("features, scores and lanes", raw.height)
    gaps = gap_rules.frame_gaps(raw, nomenclatures(platform.engine))
    found = _file_signals(platform.engine, raw, by_trader=actor.can(Permission.PERSONAL_DATA_READ))
    frame = pseudonymise_parties(raw, platform.pseudonymiser)
    decisions = decide_frame(
        frame,
        model=model,
        profiles=load_profiles(platform.engine),
        policy=lane_policy(platform),
        seed=seed,
        signals=found,
        gaps=gaps,
    )
    progress.advance(decisions.height)
    if output is not None:
        progress.phase("writing the decisions", decisions.height)
        view = signal_records.ReaderView(
            masked=not actor.can(Permission.PERSONAL_DATA_READ), pseudonymiser=platform.pseudonymiser
        )
        rendered = (
            decisions.with_columns(
                pl.Series("reasons", [[view.text(t) for t in texts] for texts in decisions["reasons"].to_list()])
            )
            if found
            else decisions
        )
        if lang is not None:
            rendered = _with_sentences(rendered, frame, model, lang, view, found)
        write_decisions(_with_display(rendered) if version else rendered, output)
        progress.advance(decisions.height)
    return summary(decisions) | {"missing_data": len(gaps)} | result


def _with_sentences(
    decisions: pl.DataFrame,
    frame: pl.DataFrame,
    model: RiskModel | None,
    lang: str,
    view: signal_records.ReaderView,
    signals: Mapping[str, Sequence[Mapping[str, Any]]],
) -> pl.DataFrame:
    """A file's decisions with ``explanation`` (every reason as a sentence in ``lang``, the model's evidence as
    "sentence — strength") and ``top_reason``, from the model's fitted references. The file's currency is not
    known to the engine: unit values are written per kg with the generic currency sign (¤)."""
    explanations, tops = [], []
    for decision, row in zip(decisions.iter_rows(named=True), frame.iter_rows(named=True), strict=True):
        contributions = json.loads(decision.get("contributions") or "[]")
        reasons = [{"kind": "", "text": view.text(t)} for t in decision["reasons"]]
        if contributions:
            reasons.append({"kind": "model", "text": "", "contributions": contributions})
        evidence = model.builder_.evidence(row) if model is not None and model.builder_ and contributions else None
        found = [signal_records.Signal.model_validate(s) for s in signals.get(decision["reference"], ())]
        said = reason_text.explain(reasons, lang, reason_text.Facts(row, evidence, "¤"), _signal_sentences(found))
        lines = [r["text"] for r in said if r["text"]]
        lines += [f"{c['text']} — {c['strength_text']}" for r in said for c in r.get("contributions") or []]
        explanations.append(lines)
        tops.append(reason_text.top_reason([r for r in said if r["text"] or r.get("contributions")]))
    return decisions.with_columns(
        pl.Series("explanation", explanations, dtype=pl.List(pl.Utf8)), pl.Series("top_reason", tops, dtype=pl.Utf8)
    )


def _with_display(decisions: pl.DataFrame) -> pl.DataFrame:
    """A file's decisions with the score as officers read it: ``score_percent`` and ``band`` beside ``score``."""
    scores = decisions["score"].to_list()
    return decisions.with_columns(
        pl.Series("score_percent", [score_display.percent(v) for v in scores], dtype=pl.Float64),
        pl.Series("band", [score_display.band(v) for v in scores], dtype=pl.Utf8),
    )


def _signal_dicts(found: Iterable[signal_records.Signal]) -> list[dict[str, Any]]:
    return [s.model_dump(mode="json") for s in signal_records.distinct(found)]


def _file_signals(engine: Engine, frame: pl.DataFrame, *, by_trader: bool) -> dict[str, list[dict[str, Any]]]:
    """The signals of a file's declarations (parties not yet pseudonymised), by reference, one per event; those
    about the parties the file names only ``by_trader`` (a reader with personal_data:read: see _what_if_signals)."""
    references = [r for r in frame["reference"].to_list() if r]
    stored = signal_records.for_stored(engine, references)
    parties = [c for c in PARTY_COLUMNS if c in frame.columns] if by_trader else []
    subjects: dict[tuple[str, str], set[str]] = {}
    for row in frame.select("reference", *parties).iter_rows(named=True):
        reference = row["reference"]
        if not reference:
            continue
        subjects.setdefault((signal_records.SubjectType.DECLARATION.value, reference), set()).add(reference)
        for column in parties:
            if row[column]:
                subjects.setdefault((signal_records.SubjectType.PARTY.value, row[column]), set()).add(reference)
    named: dict[str, list[signal_records.Signal]] = {}
    pairs = list(subjects)
    for start in range(0, len(pairs), signal_records.STORED_CHUNK):
        for s in signal_records.for_subjects(engine, pairs[start : start + signal_records.STORED_CHUNK]):
            for reference in subjects[(s.subject_type.value, s.subject_id)]:
                named.setdefault(reference, []).append(s)
    out = {}
    for reference in set(stored) | set(named):
        out[reference] = _signal_dicts(signal_records.merged(stored.get(reference, []), named.get(reference, [])))
    return out


def write_decisions(decisions: pl.DataFrame, output: Path) -> None:
    flat = decisions.with_columns(pl.col("reasons").list.join(" | "), pl.col("profile_hits").list.join(","))
    if "explanation" in flat.columns:
        flat = flat.with_columns(pl.col("explanation").list.join(" | "))
    if output.suffix == ".parquet":
        decisions.write_parquet(output)
    elif output.suffix == ".jsonl":
        decisions.write_ndjson(output)
    else:  # for people to open in a spreadsheet: text that would run as a formula is quoted
        spreadsheet_frame(flat).write_csv(output)


def summary(decisions: pl.DataFrame) -> dict[str, Any]:
    counts = dict(decisions.group_by("lane").len().iter_rows())
    return {
        "declarations": decisions.height,
        "lanes": {lane: int(counts.get(lane, 0)) for lane in ("red", "yellow", "blue", "green")},
    }


def score_backlog(
    platform: Platform,
    actor: Identity,
    *,
    seed: int = 0,
    scope: str = "awaiting",
    progress: JobProgress | None = None,
) -> dict[str, Any]:
    """Decide the stored declarations that await a decision (quotas over them), each with its signals as online;
    decisions stored (decisions:write). ``scope`` (:data:`BACKLOG_SCOPES`): ``awaiting`` (default) lanes the
    declarations without a decision that were not inspected — never yesterday's history; ``rescore`` also lanes
    again those whose latest decision is red, yellow or blue and that were not inspected yet; ``all`` lanes every
    declaration without a decision, inspected ones included. An empty backlog lanes nothing (0 declarations).
    The long loop is :func:`decide_frame` over the whole backlog (features, model, lanes, reasons)."""
    actor.require(Permission.DECISIONS_WRITE)
    from opencustoms.reference.service import nomenclatures

    progress = or_none(progress)
    progress.phase("reading the backlog", None)
    try:
        raw = stored_frame(platform.engine, scope=scope)
    except RiskDataError as exc:
        if exc.field != "declarations":
            raise
        return {
            "declarations": 0,
            "lanes": dict.fromkeys(("red", "yellow", "blue", "green"), 0),
            "model_version": None,
            "scope": scope,
            "missing_data": 0,
        }
    progress.advance(raw.height)
    progress.phase("features, scores and lanes", raw.height)
    gaps = gap_rules.frame_gaps(raw, nomenclatures(platform.engine))
    frame = pseudonymise_parties(raw, platform.pseudonymiser)
    found = signal_records.for_stored(platform.engine, frame["reference"].to_list())
    current = batch_model(platform.engine)
    version, model = current if current else (None, None)
    decisions = decide_frame(
        frame,
        model=model,
        profiles=load_profiles(platform.engine),
        policy=lane_policy(platform),
        seed=seed,
        signals={reference: _signal_dicts(signals) for reference, signals in found.items()},
        gaps=gaps,
    )
    progress.advance(decisions.height)
    progress.phase("storing the decisions", decisions.height)
    _store_decisions(platform.engine, actor, decisions, version)
    progress.advance(decisions.height)
    return summary(decisions) | {"model_version": version, "scope": scope, "missing_data": len(gaps)}


QUEUE_STATUSES = ("awaiting", "inspected", "released")


@dataclass(frozen=True)
class QueueFilters:
    """What the officers' queue shows (every filter optional). ``lane``: green, yellow, red or blue; ``status``
    (derived from the store, never stored): ``inspected`` — an inspection result is recorded; ``released`` — not
    inspected and the latest decision is green (green is release without control); ``awaiting`` — neither: not
    laned yet or laned red, yellow or blue and not inspected yet. ``date_from`` / ``date_to``: the declaration's
    acceptance date (inclusive); ``office``: the declaration office; ``officer``: the officer the declaration is
    assigned to (:func:`assign`); ``hs_chapter``: two digits, any goods item; ``origin``: a country code, any goods
    item."""

    lane: str | None = None
    status: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    office: str | None = None
    officer: str | None = None
    hs_chapter: str | None = None
    origin: str | None = None

    def checked(self) -> QueueFilters:
        """The filters normalised, or a RiskDataError naming the filter that is wrong and how to write it."""
        if self.lane is not None and self.lane not in lane_rules.RANK:
            raise RiskDataError(f"unknown lane {self.lane!r}; choose green, yellow, red or blue", field="lane")
        if self.status is not None and self.status not in QUEUE_STATUSES:
            raise RiskDataError(f"unknown status {self.status!r}; choose {', '.join(QUEUE_STATUSES)}", field="status")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise RiskDataError(
                f"date_from {self.date_from} is after date_to {self.date_to}; swap them", field="date_from"
            )
        chapter = (self.hs_chapter or "").strip() or None
        if chapter is not None and not (len(chapter) == 2 and chapter.isascii() and chapter.isdigit()):
            raise RiskDataError(
                f"hs_chapter {self.hs_chapter!r} is not an HS chapter; give its two digits, e.g. 84", field="hs_chapter"
            )
        origin = (self.origin or "").strip().upper() or None
        if origin is not None and not (len(origin) == 2 and origin.isascii() and origin.isalpha()):
            raise RiskDataError(
                f"origin {self.origin!r} is not a country code; give two letters, e.g. CN", field="origin"
            )
        for name in ("office", "officer"):
            value = getattr(self, name)
            if value is not None and len(value) > 64:
                raise RiskDataError(f"{name} is limited to 64 characters", field=name)
        return dataclasses.replace(
            self,
            hs_chapter=chapter,
            origin=origin,
            office=(self.office or "").strip() or None,
            officer=(self.officer or "").strip() or None,
        )


def _status_column() -> Any:
    from sqlalchemy import case

    inspected = declarations.c.id.in_(select(inspection_results.c.declaration_id))
    return case((inspected, "inspected"), (risk_decisions.c.lane == "green", "released"), else_="awaiting")


def _queue_query(f: QueueFilters) -> Any:
    from sqlalchemy import exists

    d, rd, a, g = declarations.c, risk_decisions.c, risk_assignments.c, goods_items.c
    inspected = d.id.in_(select(inspection_results.c.declaration_id))
    query = (
        select(
            risk_decisions,
            d.id.label("declaration_id"),
            d.acceptance_date,
            d.declaration_office_id.label("office"),
            _status_column().label("status"),
            a.officer,
        )
        .join(declarations, d.functional_reference_id == rd.reference)
        .outerjoin(risk_assignments, a.reference == rd.reference)
        .where(rd.id.in_(_latest_decisions()))
    )
    if f.lane is not None:
        query = query.where(rd.lane == f.lane)
    if f.status == "inspected":
        query = query.where(inspected)
    elif f.status == "released":
        query = query.where(~inspected, rd.lane == "green")
    elif f.status == "awaiting":
        query = query.where(~inspected, rd.lane != "green")
    if f.date_from is not None:
        query = query.where(d.acceptance_date >= f.date_from)
    if f.date_to is not None:
        query = query.where(d.acceptance_date <= f.date_to)
    if f.office is not None:
        query = query.where(d.declaration_office_id == f.office)
    if f.officer is not None:
        query = query.where(a.officer == f.officer)
    if f.hs_chapter is not None:
        query = query.where(exists().where(g.declaration_id == d.id, g.hs_code.startswith(f.hs_chapter)))
    if f.origin is not None:
        query = query.where(exists().where(g.declaration_id == d.id, g.origin_country_code == f.origin))
    return query


def queue(
    engine: Engine,
    actor: Identity,
    lane: str | None = None,
    *,
    limit: int = 50,
    offset: int = 0,
    filters: QueueFilters | None = None,
    pseudonymiser: Pseudonymiser | None = None,
    purpose: str | None = None,
    lang: str = "en",
) -> list[dict[str, Any]]:
    """The officers' queue: the latest decision of each stored declaration that passes ``filters`` (``lane`` is a
    shortcut for ``filters.lane``), most likely fraud first — by probability, then by the rank score stored beside
    it (the raw model score: calibration puts many declarations on one step), then oldest decision. Each row:
    the decision (``score`` the probability in [0, 1], ``score_percent``, ``band``), its ``status``, the assigned
    ``officer``, the declaration's acceptance date, office, HS code and origin of its largest goods item, total
    ``value`` and currency, ``importer`` (trader id and name with personal_data:read, else its pseudonym only) and
    ``top_reason`` (:func:`opencustoms.risk.explain.top_reason`); reasons said in ``lang`` and rendered for
    ``actor``. A read that shows personal data is audited."""
    actor.require(Permission.DECLARATIONS_READ)
    f = filters or QueueFilters()
    f = (dataclasses.replace(f, lane=lane) if lane is not None else f).checked()
    if not 1 <= limit <= 10_000:
        raise RiskDataError("limit must be between 1 and 10,000", field="limit")
    if offset < 0:
        raise RiskDataError("offset must be 0 or more", field="offset")
    rd = risk_decisions.c
    query = (
        _queue_query(f)
        .order_by(rd.score.desc().nulls_last(), rd.rank_score.desc().nulls_last(), rd.id)
        .limit(limit)
        .offset(offset)
    )
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
        details = _queue_details(conn, [r["declaration_id"] for r in rows])
    masked = not actor.can(Permission.PERSONAL_DATA_READ)
    shown_rows, revealed = [], []
    for row in rows:
        detail = details.get(row.pop("declaration_id"), {})
        importer = detail.pop("importer", None)
        if importer is not None:
            if masked:
                importer = {"id": pseudonymiser(importer["id"]) if pseudonymiser else None, "name": None}
            else:
                revealed.append(row["reference"])
        shown_rows.append(score_display.shown({**row, **detail, "importer": importer}))
    return present_decisions(engine, actor, shown_rows, pseudonymiser, purpose, revealed=revealed, lang=lang)


def queue_counts(engine: Engine, actor: Identity, filters: QueueFilters | None = None) -> dict[str, int]:
    """How many declarations each lane of the queue holds under ``filters`` (their lane ignored): the dashboard's
    tabs."""
    actor.require(Permission.DECLARATIONS_READ)
    f = dataclasses.replace((filters or QueueFilters()).checked(), lane=None)
    listed = _queue_query(f).subquery()
    with engine.connect() as conn:
        rows = conn.execute(select(listed.c.lane, func.count()).group_by(listed.c.lane)).all()
    return {str(lane): int(n) for lane, n in rows}


def _queue_details(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """HS code and origin of the largest goods item, total value and currency, and the importer (else the
    declarant: id and name) of stored declarations, by id."""
    if not ids:
        return {}
    g, p = goods_items.c, declaration_parties.c
    out: dict[int, dict[str, Any]] = {i: {"value": 0.0} for i in ids}
    largest: dict[int, float] = {}
    for r in conn.execute(
        select(g.declaration_id, g.hs_code, g.origin_country_code, g.customs_value_amount, g.customs_value_currency)
        .where(g.declaration_id.in_(list(ids)))
        .order_by(g.declaration_id, g.sequence_number)
    ):
        value = float(r.customs_value_amount or 0)
        row = out[r.declaration_id]
        row["value"] += value
        if r.declaration_id not in largest or value > largest[r.declaration_id]:
            largest[r.declaration_id] = value
            row.update(hs_code=r.hs_code, origin=r.origin_country_code, currency=r.customs_value_currency)
    for party in conn.execute(
        select(p.declaration_id, p.role, p.party_id, p.name).where(
            p.declaration_id.in_(list(ids)), p.role.in_(("importer", "declarant"))
        )
    ):
        row = out[party.declaration_id]
        if party.role == "importer" or "importer" not in row:
            row["importer"] = {"id": party.party_id, "name": party.name}
    return out


def assign(engine: Engine, actor: Identity, reference: str, officer: str | None) -> dict[str, Any]:
    """Assign a stored declaration of the queue to an officer (a user of this installation), or take the assignment
    back (``officer`` None). Needs decisions:write (who chooses what is examined); audited (action ``assign``,
    object ``risk_assignment``, the reference, the officer before and after)."""
    from opencustoms.store.tables import users

    actor.require(Permission.DECISIONS_WRITE)
    officer = (officer or "").strip() or None
    with engine.begin() as conn:
        if repository.id_of(conn, reference) is None:
            raise DeclarationNotFoundError(reference)
        if officer is not None:
            known = conn.execute(
                select(users.c.username).where(users.c.username == officer, users.c.active.is_(True))
            ).first()
            if known is None:
                raise RiskDataError(
                    f"no active user {officer!r} to assign {reference!r} to; see `opencustoms users list`",
                    field="officer",
                )
        a = risk_assignments.c
        previous = conn.execute(select(a.officer).where(a.reference == reference)).scalar()
        conn.execute(delete(risk_assignments).where(a.reference == reference))
        now = utcnow()
        if officer is not None:
            conn.execute(
                insert(risk_assignments).values(
                    reference=reference, officer=officer, assigned_at=now, assigned_by=actor.username
                )
            )
        record(
            conn,
            actor,
            "assign" if officer is not None else "unassign",
            "risk_assignment",
            reference,
            detail={"officer": officer, "previous": previous},
        )
    return {"reference": reference, "officer": officer, "previous": previous, "assigned_at": now}


def explain(
    engine: Engine,
    actor: Identity,
    reference: str,
    *,
    pseudonymiser: Pseudonymiser | None = None,
    purpose: str | None = None,
    lang: str = "en",
) -> dict[str, Any]:
    """The latest decision about a declaration, with every reason (said in ``lang`` and rendered for ``actor``,
    as :func:`queue`)."""
    actor.require(Permission.DECLARATIONS_READ)
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(risk_decisions)
                .where(risk_decisions.c.reference == reference)
                .order_by(risk_decisions.c.id.desc())
            )
            .mappings()
            .first()
        )
    if row is None:
        raise DecisionNotFoundError(
            f"no risk decision for declaration {reference!r}; lane it first "
            "(`opencustoms risk score --backlog` or POST /risk/decisions/{reference})",
            field="reference",
        )
    [shown] = present_decisions(
        engine, actor, [score_display.shown(dict(row))], pseudonymiser, purpose, lang=lang, price=True
    )
    return shown


# --- what a reader sees of reasons and signals ---------------------------------------------------------------


def _view(
    actor: Identity, pseudonymiser: Pseudonymiser | None, names: tuple[dict[str, str], dict[str, str]]
) -> signal_records.ReaderView:
    return signal_records.ReaderView(
        masked=not actor.can(Permission.PERSONAL_DATA_READ),
        pseudonymiser=pseudonymiser,
        names=names[0],
        holders=names[1],
    )


def _signal_sentences(found: Iterable[signal_records.Signal]) -> reason_text.SignalSentence:
    """How a decision's signal reasons are said in a language: by the emitting pillar's sentence
    (:func:`opencustoms.signals.describe`) from the evidence of the signal the reason was made of — found by kind and
    stored text among the declaration's signals — else as stored."""
    by_text: dict[tuple[str, str], Mapping[str, Any]] = {}
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    for s in found:
        by_text[(s.kind, lane_rules.clean_text(s.reason))] = s.evidence
        by_kind.setdefault(s.kind, []).append(s.evidence)

    def sentence(kind: str, reason: str, lang: str) -> str:
        evidence = by_text.get((kind, reason))
        if evidence is None and len(by_kind.get(kind, ())) == 1:
            evidence = by_kind[kind][0]
        return reason if evidence is None else signal_records.describe(kind, evidence, lang, reason)

    return sentence


def _render_reasons(
    reasons: Iterable[Mapping[str, Any]],
    view: signal_records.ReaderView,
    lang: str = "en",
    facts: reason_text.Facts | None = None,
    found: Iterable[signal_records.Signal] = (),
) -> list[dict[str, Any]]:
    """Reasons said in the reader's language with their evidence (:mod:`opencustoms.risk.explain`) and rendered
    for one reader (parties masked); a signal reason listed twice (decisions stored before signals were counted
    once per event) is shown once. The values a sentence states are masked as its text is (a signal's stored
    reason names parties by token, or by name in texts stored before tokens)."""
    out, seen = [], set()
    for reason in reason_text.explain(list(reasons), lang, facts, _signal_sentences(found)):
        text = view.text(reason["text"])
        if reason.get("kind") == "signal":
            if text in seen:
                continue
            seen.add(text)
        values = {k: view.text(v) if isinstance(v, str) else v for k, v in (reason.get("values") or {}).items()}
        out.append({**reason, "text": text, "values": values})
    return out


_builders: dict[tuple[str, str, str], Any] = {}
_builders_lock = threading.Lock()


def _evidence_builder(engine: Engine, conn: Connection, version: str) -> Any:
    """The fitted feature tables of a model version (its file checked against the registered hash), kept for
    the few versions whose decisions are being read; None when the file is gone (reasons then say less)."""
    row = conn.execute(
        select(risk_models.c.path, risk_models.c.file_hash).where(risk_models.c.version == version)
    ).first()
    if row is None:
        return None
    key = (str(engine.url), version, row.file_hash)
    with _builders_lock:
        if key not in _builders:
            try:
                builder = _load_verified(row.path, row.file_hash).builder_
            except (RiskModelError, OSError, ValueError) as exc:
                _log.warning("reasons of model %s said without its references: %s", version, exc)
                builder = None
            if len(_builders) >= 4:
                _builders.pop(next(iter(_builders)))
            _builders[key] = builder
        return _builders[key]


def _decision_facts(
    engine: Engine,
    conn: Connection,
    rows: Sequence[Mapping[str, Any]],
    pseudonymiser: Pseudonymiser | None,
    *,
    every: bool = False,
) -> dict[tuple[str, str | None], reason_text.Facts]:
    """For the decisions whose reasons include the model's contributions (``every``: each decision a model took):
    the declaration as the model read it and the evidence of the version that decided, by (reference, model
    version)."""
    wanted = {
        (r["reference"], r.get("model_version"))
        for r in rows
        if r.get("model_version") and (every or any(reason.get("contributions") for reason in r.get("reasons") or []))
    }
    if not wanted:
        return {}
    references = sorted({reference for reference, _ in wanted})
    ids: list[int] = []
    for start in range(0, len(references), 500):
        ids += (
            conn.execute(
                select(declarations.c.id).where(
                    declarations.c.functional_reference_id.in_(references[start : start + 500])
                )
            )
            .scalars()
            .all()
        )
    records = {r["functional_reference_id"]: r for r in _narrow_records(conn, sorted(ids))} if ids else {}
    builders = {version: _evidence_builder(engine, conn, version) for _, version in wanted if version}
    out = {}
    for reference, version in wanted:
        record = records.get(reference)
        if record is None or not record.get("goods_items"):
            continue
        conformed = _conformed(record, pseudonymiser)
        builder = builders.get(version)
        evidence = builder.evidence(conformed) if builder is not None else None
        if evidence is not None and pseudonymiser is None:  # the parties' statistics are keyed by pseudonym
            evidence["stats"] = {
                k: v for k, v in evidence["stats"].items() if not set(STAT_KEYS[k]) & set(PARTY_COLUMNS)
            }
        out[(reference, version)] = reason_text.Facts(conformed, evidence, _currency(record))
    return out


def _audit_revealed(engine: Engine, actor: Identity, references: Sequence[str], purpose: str | None) -> None:
    """A read that showed personal data (a trader's name, id or certificate number in a reason or a signal) is
    audited as declaration reads are: action read, object the declaration's reference."""
    if references:
        with engine.begin() as conn:
            record_many(conn, actor, "read", "risk_decision", list(dict.fromkeys(references)), purpose=purpose)


def present_decisions(
    engine: Engine,
    actor: Identity,
    rows: Sequence[Mapping[str, Any]],
    pseudonymiser: Pseudonymiser | None,
    purpose: str | None = None,
    *,
    revealed: Sequence[str] = (),
    lang: str = "en",
    price: bool = False,
) -> list[dict[str, Any]]:
    """Stored decisions as ``actor`` may see them, in ``lang``: every reason said as a sentence with its evidence
    (the model's from the fitted references of the version that decided), every party or certificate a reason
    names (tokens, and names in texts stored before tokens) rendered through the reader's view, and the
    ``top_reason`` (with ``price``: also the unit value against the price reference the deciding model used,
    whatever the lane); reads that show personal data audited (with ``revealed``: references whose rows show
    personal data otherwise, e.g. the queue's importer)."""
    with engine.connect() as conn:
        names = signal_records.stored_names(conn, [r["reference"] for r in rows])
        facts = _decision_facts(engine, conn, rows, pseudonymiser, every=price)
        with_signals = {
            r["reference"] for r in rows if any(reason.get("kind") == "signal" for reason in r.get("reasons") or [])
        }
        found = signal_records.for_stored(conn, sorted(with_signals)) if with_signals else {}
    out, revealed = [], list(revealed)
    for row in rows:
        view = _view(actor, pseudonymiser, names.get(row["reference"], ({}, {})))
        reasons = _render_reasons(
            row.get("reasons") or [],
            view,
            lang,
            facts.get((row["reference"], row.get("model_version"))),
            found.get(row["reference"], ()),
        )
        shown = {**row, "reasons": reasons, "top_reason": reason_text.top_reason(reasons)}
        if price:
            known = facts.get((row["reference"], row.get("model_version")))
            shown["price"] = reason_text.price(known, lang) if known is not None and known.evidence else None
        out.append(shown)
        if view.revealed:
            revealed.append(row["reference"])
    _audit_revealed(engine, actor, revealed, purpose)
    return out


def _rendered(
    engine: Engine,
    actor: Identity,
    answer: dict[str, Any],
    names: tuple[dict[str, str], dict[str, str]],
    pseudonymiser: Pseudonymiser,
    purpose: str | None,
    lang: str = "en",
    facts: reason_text.Facts | None = None,
    found: Iterable[signal_records.Signal] = (),
) -> dict[str, Any]:
    view = _view(actor, pseudonymiser, names)
    answer["reasons"] = _render_reasons(answer["reasons"], view, lang, facts, found)
    answer["top_reason"] = reason_text.top_reason(answer["reasons"])
    if view.revealed:
        _audit_revealed(engine, actor, [answer["reference"]], purpose)
    return answer


def declaration_signals(
    engine: Engine,
    actor: Identity,
    reference: str,
    *,
    pseudonymiser: Pseudonymiser | None = None,
    purpose: str | None = None,
    lang: str | None = None,
) -> list[signal_records.Signal]:
    """The signals about a stored declaration (one per event, oldest first), as ``actor`` may see them: subject,
    reason and evidence rendered through the reader's view (with ``lang``, the reason written in that language,
    :func:`opencustoms.signals.describe`); a read that shows personal data is audited."""
    actor.require(Permission.DECLARATIONS_READ)
    with engine.connect() as conn:
        found = signal_records.distinct(signal_records.for_stored_one(conn, reference))
        names = signal_records.stored_names(conn, [reference])[reference]
    view = _view(actor, pseudonymiser, names)
    shown = [view.signal(s, lang) for s in found]
    if view.revealed:
        _audit_revealed(engine, actor, [reference], purpose)
    return shown


# --- feedback ------------------------------------------------------------------------------------------------


def record_inspection(
    engine: Engine,
    actor: Identity,
    reference: str,
    outcome: str,
    revenue: float | None = None,
    *,
    note: str | None = None,
    source: str = "officer",
) -> dict[str, Any]:
    """Store what an inspection found in the core's inspection_results (the only labels retraining uses)."""
    declaration_service.record_inspections(
        engine, actor, [declaration_service.InspectionResult(reference, outcome, revenue, note)], source=source
    )
    return {"reference": reference, "outcome": outcome, "revenue_recovered": revenue}


def import_inspections(
    engine: Engine, actor: Identity, file: Path, *, map_file: Path | None = None, **options: Any
) -> inspections.InspectionImportReport:
    """Inspection history in bulk from a CSV, JSON Lines or Parquet file (:mod:`opencustoms.risk.inspections`):
    recorded as `record_inspection` records one result, idempotent on (reference, inspection date)."""
    mapping = inspections.read_column_map(map_file) if map_file else None
    return inspections.import_inspections(engine, actor, file, mapping=mapping, **options)


def record_inspections_batch(
    engine: Engine, actor: Identity, records: Sequence[Mapping[str, Any]]
) -> inspections.InspectionImportReport:
    """A batch of inspection results (records with the fields of :data:`~opencustoms.risk.inspections.FIELDS`)."""
    return inspections.import_records(engine, actor, [dict(r) for r in records])


def simulate(
    data: Path | None,
    *,
    layout: str = "kcs",
    frame: pl.DataFrame | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Replay a labelled file week by week, or a labelled ``frame`` the caller built (the demo's frames)."""
    if frame is None:
        if data is None:
            raise RiskDataError("give a data file or a number of demo declarations", field="data")
        frame = read_frame(data, layout)
    return replay.simulate(frame, progress=progress, **options)


def valuation_flags(file: Path, history: Path, *, layout: str = "kcs", window_days: int = 365) -> pl.DataFrame:
    return valuation.flags(read_frame(file, layout), read_frame(history, layout), window_days=window_days)


VALUATION_RECENT_DAYS = 30  # without ``since``: check the goods items of the newest 30 days of declarations


def _stored_goods_items(engine: Engine, start: dt.date) -> pl.DataFrame:
    """Goods items of stored import declarations accepted on or after ``start`` (only the columns valuation reads)."""
    query = (
        select(
            declarations.c.functional_reference_id.label("reference"),
            goods_items.c.sequence_number.label("item"),
            declarations.c.acceptance_date.label("date"),
            goods_items.c.hs_code,
            goods_items.c.origin_country_code.label("origin"),
            goods_items.c.customs_value_amount.label("value"),
            goods_items.c.customs_value_currency.label("currency"),
            goods_items.c.net_mass_kg.label("net_mass"),
        )
        .join(goods_items, goods_items.c.declaration_id == declarations.c.id)
        .where(declarations.c.type_code == "import", declarations.c.acceptance_date >= start)
    )
    schema = {
        "reference": pl.Utf8,
        "item": pl.Int32,
        "date": pl.Date,
        "hs_code": pl.Utf8,
        "origin": pl.Utf8,
        "value": pl.Float64,
        "currency": pl.Utf8,
        "net_mass": pl.Float64,
    }
    with engine.connect() as conn:
        rows = [
            (r[0], r[1], r[2], r[3], r[4], float(r[5]), r[6], None if r[7] is None else float(r[7]))
            for r in conn.execute(query)
        ]
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.with_columns(pl.col("hs_code").str.slice(0, 6).alias("hs6")).drop("hs_code")


def valuation_flags_stored(
    engine: Engine,
    actor: Identity,
    *,
    since: dt.date | None = None,
    limit: int = 100,
    window_days: int = 365,
    min_sample: int = 10,
) -> dict[str, Any]:
    """Under- and over-valued goods items of the stored import declarations accepted on or after ``since``
    (default: the newest 30 days), each against the reference price band built from the stored goods items of
    the ``window_days`` before ``since`` (HS6 x origin, else HS6, else HS4, at least ``min_sample`` items; per
    currency). Each flag carries its evidence: band, reference unit value, sample size, level, period. Declared
    values are only read, never changed (WCO guidance: a reference price flags, it does not replace)."""
    actor.require(Permission.RISK_MANAGE)
    if limit < 1:
        raise RiskDataError("limit must be at least 1", field="limit")
    if window_days < 1:
        raise RiskDataError("window_days must be at least 1", field="window_days")
    with engine.connect() as conn:
        newest = conn.execute(
            select(func.max(declarations.c.acceptance_date)).where(declarations.c.type_code == "import")
        ).scalar()
    if newest is None:
        raise RiskDataError("no stored import declarations to check; import some first", field="declarations")
    since = since or newest - dt.timedelta(days=VALUATION_RECENT_DAYS - 1)
    items = _stored_goods_items(engine, since - dt.timedelta(days=window_days))
    history, checked = items.filter(pl.col("date") < since), items.filter(pl.col("date") >= since)
    parts = []
    for currency in checked["currency"].unique().sort().to_list():
        mine = history.filter(pl.col("currency") == currency)
        if mine.height == 0:
            continue
        table = valuation.bands(mine, until=since, window_days=window_days, min_sample=min_sample)
        parts.append(valuation.check(checked.filter(pl.col("currency") == currency), table, keep=("item", "currency")))
    result = pl.concat(parts) if parts else None
    flagged = (
        result.filter(pl.col("flag").is_in(["under", "over"]))
        .with_columns((pl.col("unit_value") / pl.col("reference_unit_value")).alias("ratio"))
        .sort(pl.col("ratio").log().abs(), "reference", "item", descending=[True, False, False])
        if result is not None
        else None
    )
    counts = dict(result.group_by("flag").len().iter_rows()) if result is not None else {}
    return {
        "since": since,
        "until": newest,
        "window_days": window_days,
        "min_sample": min_sample,
        "history_from": since - dt.timedelta(days=window_days),
        "checked": int(checked.height),
        "counts": {k: int(counts.get(k, 0)) for k in ("under", "over", "within", "no reference")},
        "unusable": int(checked.height - (result.height if result is not None else 0)),
        "flags": flagged.head(limit).to_dicts() if flagged is not None else [],
    }


# --- profiles ------------------------------------------------------------------------------------------------


def save_profile(engine: Engine, actor: Identity, data: Mapping[str, Any]) -> dict[str, Any]:
    """Add a profile, or a new version of one (profiles are never changed in place)."""
    actor.require(Permission.RISK_MANAGE)
    payload = {k: v for k, v in data.items() if k != "version"}
    try:
        profile = Profile.model_validate({**payload, "version": 1})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ProfileError(
            f"invalid profile: {str(first['msg']).removeprefix('Value error, ')}",
            field=".".join(str(p) for p in first["loc"]),
        ) from exc
    with engine.begin() as conn:
        latest = conn.execute(
            select(func.max(risk_profiles.c.version)).where(risk_profiles.c.id == profile.id)
        ).scalar()
        profile.version = (latest or 0) + 1
        conn.execute(insert(risk_profiles).values(**profile.to_row(), created_at=utcnow(), created_by=actor.username))
        record(
            conn,
            actor,
            "create" if profile.version == 1 else "new_version",
            "risk_profile",
            f"{profile.id}@{profile.version}",
            detail={"reason": profile.reason, "lane": profile.lane},
        )
    return profile.model_dump(mode="json", by_alias=True)


def _latest_rows(engine: Engine) -> list[dict[str, Any]]:
    latest = (
        select(risk_profiles.c.id, func.max(risk_profiles.c.version).label("v")).group_by(risk_profiles.c.id).subquery()
    )
    query = (
        select(risk_profiles)
        .join(latest, (risk_profiles.c.id == latest.c.id) & (risk_profiles.c.version == latest.c.v))
        .order_by(risk_profiles.c.id)
    )
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def load_profiles(engine: Engine, on: dt.date | None = None) -> list[Profile]:
    """The latest version of every profile (valid on ``on`` when given; batch matching checks each declaration's
    date against the validity period itself)."""
    out = []
    for row in _latest_rows(engine):
        profile = Profile.model_validate(
            {k: row[k] for k in ("id", "version", "lane", "weight", "reason", "criteria", "valid_from", "valid_to")}
        )
        if on is None or profile.valid_on(on):
            out.append(profile)
    return out


def list_profiles(engine: Engine, actor: Identity, on: dt.date | None = None) -> list[dict[str, Any]]:
    actor.require(Permission.DECLARATIONS_READ)
    return [p.model_dump(mode="json", by_alias=True) for p in load_profiles(engine, on)]


def profile_history(engine: Engine, actor: Identity, profile_id: str) -> list[dict[str, Any]]:
    actor.require(Permission.DECLARATIONS_READ)
    with engine.connect() as conn:
        rows = [
            dict(r)
            for r in conn.execute(
                select(risk_profiles).where(risk_profiles.c.id == profile_id).order_by(risk_profiles.c.version)
            ).mappings()
        ]
    if not rows:
        raise ProfileNotFoundError(f"no risk profile {profile_id!r}", field="id")
    return rows


def retire_profile(engine: Engine, actor: Identity, profile_id: str, on: dt.date | None = None) -> dict[str, Any]:
    """End a profile's validity (as a new version whose valid_to is ``on``, default today)."""
    rows = profile_history(engine, actor, profile_id)
    last = rows[-1]
    end = on or dt.date.today()
    data = {k: last[k] for k in ("id", "lane", "weight", "reason", "criteria", "valid_from")}
    if end < last["valid_from"]:
        end = last["valid_from"]
    return save_profile(engine, actor, {**data, "valid_to": end})


def decision_history(
    engine: Engine,
    actor: Identity,
    reference: str,
    *,
    pseudonymiser: Pseudonymiser | None = None,
    purpose: str | None = None,
    lang: str = "en",
) -> list[dict[str, Any]]:
    """Every risk decision taken on one declaration, oldest first (reasons said in ``lang``, rendered for
    ``actor``)."""
    actor.require(Permission.DECLARATIONS_READ)
    with engine.connect() as conn:
        rows = conn.execute(
            select(risk_decisions).where(risk_decisions.c.reference == reference).order_by(risk_decisions.c.id)
        ).mappings()
        found = [score_display.shown({k: as_utc(v) for k, v in row.items()}) for row in rows]
    return present_decisions(engine, actor, found, pseudonymiser, purpose, lang=lang)


def lane_counts(engine: Engine, actor: Identity) -> dict[str, int]:
    """How many declarations each lane holds (the latest decision of each declaration)."""
    actor.require(Permission.DECLARATIONS_READ)
    latest = _latest_decisions()
    with engine.connect() as conn:
        rows = conn.execute(
            select(risk_decisions.c.lane, func.count()).where(risk_decisions.c.id.in_(latest)).group_by("lane")
        ).all()
    return {str(lane): int(n) for lane, n in rows}

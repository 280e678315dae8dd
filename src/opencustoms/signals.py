"""Signals: the small typed records the pillars exchange.

Ledger, documents and IoT *emit* signals ("AEO certificate suspended", "e-seal opened outside a customs zone",
"certificate of origin revoked", "plate read does not match the declaration"); the risk engine *reads* the signals
that concern a declaration. Pillars never import one another: they meet here and in the model.

A signal's subject is what it is about: a declaration (by functional_reference_id), a party (trader id), a
container (ISO 6346), a vehicle (registration), a vessel (IMO or MMSI), a certificate or a document (its id).
``for_declaration`` gathers every signal whose subject appears on a declaration. Emitting is idempotent by id, so a
pillar that re-sends after a crash does not double-count.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Engine, bindparam, select, tuple_

from opencustoms.model import Declaration
from opencustoms.store.bulk import bulk_insert
from opencustoms.store.database import as_utc
from opencustoms.store.tables import signals as signals_table


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class SubjectType(StrEnum):
    DECLARATION = "declaration"
    PARTY = "party"
    CONTAINER = "container"
    VEHICLE = "vehicle"
    VESSEL = "vessel"
    CERTIFICATE = "certificate"
    DOCUMENT = "document"
    ADMINISTRATION = "administration"  # e.g. a partner administration whose log showed a forked history


class Signal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), max_length=36)
    kind: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z0-9_.]+$", max_length=64)] = Field(
        description="'<pillar>.<what>', e.g. 'ledger.aeo_suspended', 'iot.seal_opened_outside_zone'."
    )
    subject_type: SubjectType
    subject_id: Annotated[str, Field(min_length=1, max_length=128)]
    severity: Severity
    source: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=32)]
    reason: Annotated[str, Field(min_length=1, max_length=2000)] = Field(description="Plain language, for officers.")
    evidence: dict[str, Any] = Field(default_factory=dict)
    observed_at: dt.datetime


def _row(signal: Signal, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": signal.id,
        "kind": signal.kind,
        "subject_type": signal.subject_type.value,
        "subject_id": signal.subject_id,
        "severity": signal.severity.value,
        "source": signal.source,
        "reason": signal.reason,
        "evidence": signal.evidence or None,
        "observed_at": signal.observed_at,
        "recorded_at": now,
    }


def emit(target: Engine | Connection, signals: Sequence[Signal]) -> int:
    """Store signals (in the caller's transaction when given a Connection); known ids are skipped.
    Returns how many were new."""
    if not signals:
        return 0
    if isinstance(target, Engine):
        with target.begin() as conn:
            return emit(conn, signals)
    unique = list({s.id: s for s in signals}.values())
    known: set[str] = set()
    for start in range(0, len(unique), 5000):  # stay below the databases' bound-parameter limits
        chunk = [s.id for s in unique[start : start + 5000]]
        known.update(target.execute(select(signals_table.c.id).where(signals_table.c.id.in_(chunk))).scalars())
    now = dt.datetime.now(dt.UTC)
    fresh = [_row(s, now) for s in unique if s.id not in known]
    bulk_insert(target, signals_table, fresh)
    return len(fresh)


def _from_row(row: Any) -> Signal:
    observed = as_utc(row["observed_at"])
    return Signal(
        id=row["id"],
        kind=row["kind"],
        subject_type=row["subject_type"],
        subject_id=row["subject_id"],
        severity=row["severity"],
        source=row["source"],
        reason=row["reason"],
        evidence=row["evidence"] or {},
        observed_at=observed,
    )


def for_subjects(
    engine: Engine, subjects: Iterable[tuple[SubjectType | str, str]], since: dt.datetime | None = None
) -> list[Signal]:
    """Signals about any of the (subject_type, subject_id) pairs, oldest first."""
    pairs = sorted({(SubjectType(t).value, i) for t, i in subjects if i})
    if not pairs:
        return []
    query = _FOR_SUBJECTS if since is None else _FOR_SUBJECTS.where(signals_table.c.observed_at >= since)
    with engine.connect() as conn:
        return [_from_row(r) for r in conn.execute(query, {"pairs": pairs}).mappings()]


# one statement whatever the number of subjects (a row-value IN, compiled once and cached; an OR of one AND per
# subject was compiled again for every count of subjects, 5x slower per online decision)
_FOR_SUBJECTS = (
    select(signals_table)
    .where(tuple_(signals_table.c.subject_type, signals_table.c.subject_id).in_(bindparam("pairs", expanding=True)))
    .order_by(signals_table.c.observed_at, signals_table.c.id)
)


def subjects_of(declaration: Declaration) -> list[tuple[SubjectType, str]]:
    """Everything on a declaration that a signal can be about."""
    out: list[tuple[SubjectType, str]] = [(SubjectType.DECLARATION, declaration.functional_reference_id)]
    out += [(SubjectType.PARTY, p.id) for p in declaration.parties().values()]
    out += [
        (SubjectType.CERTIFICATE, p.aeo_certificate_id) for p in declaration.parties().values() if p.aeo_certificate_id
    ]
    out += [(SubjectType.DOCUMENT, d.id) for d in declaration.additional_documents]
    t = declaration.transport
    if t is not None:
        out += [(SubjectType.CONTAINER, c) for c in t.container_ids]
        out += [(SubjectType.VESSEL, v) for v in (t.vessel_imo, t.vessel_mmsi) if v]
        if t.id and t.mode_code.value == "3":
            out.append((SubjectType.VEHICLE, t.id))
    return out


def for_declaration(engine: Engine, declaration: Declaration, since: dt.datetime | None = None) -> list[Signal]:
    return for_subjects(engine, subjects_of(declaration), since)

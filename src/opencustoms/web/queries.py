"""Read-only queries the dashboard needs and no service offers (yet). Each checks the reader's permission the way
the owning service does; none writes. Candidates to move into the pillars' services."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, func, select

from opencustoms.security.roles import Permission
from opencustoms.security.service import Identity
from opencustoms.store.tables import declarations, inspection_results


def _aware(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def declaration_history(engine: Engine, actor: Identity, reference: str) -> dict[str, list[dict[str, Any]]]:
    """Every risk decision and inspection result of one declaration, oldest first."""
    from opencustoms.risk.tables import risk_decisions

    actor.require(Permission.DECLARATIONS_READ)
    with engine.connect() as conn:
        decisions = [
            {k: _aware(v) for k, v in r.items()}
            for r in conn.execute(
                select(risk_decisions).where(risk_decisions.c.reference == reference).order_by(risk_decisions.c.id)
            ).mappings()
        ]
        inspections = [
            {k: _aware(v) for k, v in r.items()}
            for r in conn.execute(
                select(
                    inspection_results.c.recorded_at,
                    inspection_results.c.outcome,
                    inspection_results.c.revenue_recovered,
                    inspection_results.c.recorded_by,
                    inspection_results.c.source,
                    inspection_results.c.detail,
                )
                .join(declarations, declarations.c.id == inspection_results.c.declaration_id)
                .where(declarations.c.functional_reference_id == reference)
                .order_by(inspection_results.c.id)
            ).mappings()
        ]
    return {"decisions": decisions, "inspections": inspections}


def lane_counts(engine: Engine, actor: Identity) -> dict[str, int]:
    """How many declarations each lane holds (latest decision per declaration)."""
    from opencustoms.risk.tables import risk_decisions

    actor.require(Permission.DECLARATIONS_READ)
    latest = select(func.max(risk_decisions.c.id)).group_by(risk_decisions.c.reference).scalar_subquery()
    with engine.connect() as conn:
        rows = conn.execute(
            select(risk_decisions.c.lane, func.count()).where(risk_decisions.c.id.in_(latest)).group_by("lane")
        ).all()
    return {str(lane): int(n) for lane, n in rows}

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


def recent_documents(engine: Engine, actor: Identity, limit: int = 100) -> list[dict[str, Any]]:
    """Documents issued here, newest first, with whether each was revoked."""
    from opencustoms.documents.tables import document_revocations, issued_documents

    actor.require(Permission.DOCUMENTS_READ)
    d = issued_documents.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(d.document_id, d.template, d.issued_at, d.target_hash, d.merkle_root)
            .order_by(d.issued_at.desc())
            .limit(max(1, min(limit, 1000)))
        ).all()
        hashes = {h for r in rows for h in (r.target_hash, r.merkle_root)}
        revoked = set(
            conn.execute(
                select(document_revocations.c.hash).where(document_revocations.c.hash.in_(hashes or {""}))
            ).scalars()
        )
    return [
        {
            "document_id": r.document_id,
            "template": r.template,
            "issued_at": _aware(r.issued_at),
            "target_hash": r.target_hash,
            "revoked": r.target_hash in revoked or r.merkle_root in revoked,
        }
        for r in rows
    ]


def certificate_numbers(engine: Engine, actor: Identity, text: str, limit: int = 50) -> list[str]:
    """AEO certificate numbers whose number, holder id or holder name contains ``text`` (every log held). The
    caller reads each through ``ledger.service.status``, which applies the sharing rules."""
    from opencustoms.ledger.tables import ledger_certificates

    actor.require(Permission.LEDGER_READ)
    c = ledger_certificates.c
    pattern = f"%{text.strip().lower()}%"
    query = select(c.certificate_number).distinct().order_by(c.certificate_number).limit(max(1, min(limit, 500)))
    if text.strip():
        query = query.where(
            func.lower(c.certificate_number).like(pattern)
            | func.lower(c.holder_id).like(pattern)
            | func.lower(c.holder_name).like(pattern)
        )
    with engine.connect() as conn:
        return [str(n) for n in conn.execute(query).scalars()]


def map_state(engine: Engine, actor: Identity, *, limit: int = 500) -> dict[str, Any]:
    """What the transit map draws: zones, each movement's corridor and latest position, newest movements first."""
    from opencustoms.iot.tables import iot_events, iot_transits, iot_zones

    actor.require(Permission.DECLARATIONS_READ)
    t, e = iot_transits.c, iot_events.c
    with engine.connect() as conn:
        zones = [
            dict(r)
            for r in conn.execute(
                select(iot_zones.c.zone_id, iot_zones.c.name, iot_zones.c.zone_type, iot_zones.c.geometry)
            ).mappings()
        ]
        movements = conn.execute(select(iot_transits).order_by(t.departure_time.desc()).limit(limit)).all()
        out = []
        for m in movements:
            devices = list(dict.fromkeys([*m.tracker_device_ids, *m.seal_device_ids]))
            last = (
                conn.execute(
                    select(e.latitude, e.longitude, e.device_time, e.speed_kmh)
                    .where(e.device_id.in_(devices), e.latitude.is_not(None))
                    .order_by(e.device_time.desc())
                    .limit(1)
                ).first()
                if devices
                else None
            )
            out.append(
                {
                    "movement_id": m.movement_id,
                    "reference": m.functional_reference_id,
                    "vehicle_id": m.vehicle_id,
                    "status": m.status,
                    "corridor": m.corridor,
                    "tolerance_m": m.tolerance_m,
                    "position": [last.latitude, last.longitude] if last else None,
                    "position_time": _aware(last.device_time) if last else None,
                    "speed_kmh": last.speed_kmh if last else None,
                }
            )
    return {"zones": zones, "movements": out}


def vessel_tracks(engine: Engine, actor: Identity, *, points_per_vessel: int = 400) -> list[dict[str, Any]]:
    """Stored AIS positions per vessel (MMSI), thinned to at most ``points_per_vessel`` points each."""
    from opencustoms.iot.tables import iot_events

    actor.require(Permission.DECLARATIONS_READ)
    e = iot_events.c
    tracks: dict[str, list[tuple[Any, float, float, float | None]]] = {}
    with engine.connect() as conn:
        for r in conn.execute(
            select(e.subject_id, e.device_time, e.latitude, e.longitude, e.speed_kmh)
            .where(e.kind == "ais_position", e.latitude.is_not(None))
            .order_by(e.subject_id, e.device_time)
        ):
            tracks.setdefault(str(r.subject_id), []).append((r.device_time, r.latitude, r.longitude, r.speed_kmh))
    out = []
    for mmsi, points in tracks.items():
        step = max(1, len(points) // points_per_vessel)
        kept = points[::step]
        if kept[-1] is not points[-1]:
            kept.append(points[-1])
        out.append(
            {
                "mmsi": mmsi,
                "positions": len(points),
                "first": _aware(points[0][0]),
                "last": _aware(points[-1][0]),
                "track": [[round(p[1], 5), round(p[2], 5)] for p in kept],
                "speed_kmh": points[-1][3],
            }
        )
    return out

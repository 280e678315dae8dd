"""Transit and gates: the live map of movements, corridors and alerts (short polling of a JSON view), the gate
decision queue (release / inspect) with the reads, the expected values and the radiation alarm; vessels."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from opencustoms.errors import OpenCustomsError
from opencustoms.iot import service as iot
from opencustoms.security.roles import Permission
from opencustoms.web.core import PREFIX, Page

router = APIRouter(prefix=PREFIX, include_in_schema=False)
POLL_MS = 4000


def _position(alert: dict[str, Any], fallback: list[float] | None) -> list[float] | None:
    """Where an alert happened: the position in its evidence, else the vehicle's latest known position."""
    evidence = alert.get("evidence") or {}
    for key in ("position", "first_position", "last_position"):
        value = evidence.get(key)
        if isinstance(value, list | tuple) and len(value) == 2:
            return [float(value[0]), float(value[1])]
    if isinstance(evidence.get("latitude"), int | float) and isinstance(evidence.get("longitude"), int | float):
        return [float(evidence["latitude"]), float(evidence["longitude"])]
    return fallback


@router.get("/transits")
def transits(request: Request) -> Response:
    page = Page(request)
    user = page.user(Permission.DECLARATIONS_READ)
    return page.render("transits.html", rows=iot.list_transits(page.engine, user), poll_ms=POLL_MS)


@router.get("/transits/map.json")
def transit_map(request: Request) -> Response:
    page = Page(request)
    user = page.user(Permission.DECLARATIONS_READ)
    state = iot.map_state(page.engine, user)
    where = {m["movement_id"]: m["position"] for m in state["movements"]}
    alerts = iot.list_alerts(page.engine, user, context_type="transit", limit=200)
    state["alerts"] = [
        {
            "id": a["id"],
            "kind": a["kind"],
            "severity": a["severity"],
            "movement_id": a["context_id"],
            "observed_at": a["observed_at"].isoformat(),
            "reason": a["reason"],
            "position": _position(a, where.get(a["context_id"])),
        }
        for a in alerts
    ]
    for m in state["movements"]:
        m["position_time"] = m["position_time"].isoformat() if m["position_time"] else None
    return page.finish(JSONResponse(state))


@router.get("/transits/{movement_id}")
def transit(request: Request, movement_id: str) -> Response:
    page = Page(request)
    user = page.user(Permission.DECLARATIONS_READ)
    report = iot.transit_report(page.engine, user, movement_id)
    return page.render("transit.html", report=report)


def _gate_context(page: Page, **extra: Any) -> dict[str, Any]:
    user = page.user(Permission.DECLARATIONS_READ)
    pending = iot.gate_queue(page.engine, user, "pending")
    decided = [r for r in iot.gate_queue(page.engine, user, None) if r["status"] != "pending"][-20:]
    return {"pending": pending, "decided": list(reversed(decided)), "errors": {}, **extra}


@router.get("/gates")
def gates(request: Request, notice: str | None = None) -> Response:
    page = Page(request)
    return page.render("gates.html", notice=notice, poll_ms=POLL_MS, **_gate_context(page))


@router.get("/gates/rows")
def gate_rows(request: Request) -> Response:
    page = Page(request)
    return page.render("gate_rows.html", **_gate_context(page))


@router.post("/gates/{decision_id}")
async def decide(request: Request, decision_id: str) -> Response:
    page = Page(request)
    user = page.user(Permission.INSPECTIONS_WRITE)
    form = await page.form()
    decision = str(form.get("decision") or "")
    note = str(form.get("note") or "") or None
    errors: dict[str, str] = {}
    if decision not in ("release", "inspect"):
        errors[decision_id] = page._("Choose release or inspect.")
    elif note and len(note) > 500:
        errors[decision_id] = page._("The note is limited to 500 characters.")
    else:
        try:
            iot.decide_gate(page.engine, user, decision_id, decision, note)
        except OpenCustomsError as exc:
            errors[decision_id] = exc.message
    if request.headers.get("hx-request"):
        return page.render("gate_rows.html", status=200 if not errors else 422, **_gate_context(page, errors=errors))
    if errors:
        return page.render("gates.html", status=422, poll_ms=POLL_MS, **_gate_context(page, errors=errors))
    return page.redirect(f"{PREFIX}/gates", notice=page._("Decision recorded."))


@router.get("/vessels")
def vessels(request: Request, notice: str | None = None) -> Response:
    page = Page(request)
    user = page.user(Permission.DECLARATIONS_READ)
    alerts = iot.list_alerts(page.engine, user, context_type="vessel", limit=200)
    tracks = iot.vessel_tracks(page.engine, user)
    return page.render("vessels.html", alerts=alerts, tracks=tracks, notice=notice, poll_ms=POLL_MS * 5)


@router.get("/vessels/map.json")
def vessel_map(request: Request) -> Response:
    page = Page(request)
    user = page.user(Permission.DECLARATIONS_READ)
    tracks = iot.vessel_tracks(page.engine, user)
    zones = [z for z in iot.map_state(page.engine, user, limit=0)["zones"] if z["zone_type"] == "port"]
    alerts = iot.list_alerts(page.engine, user, context_type="vessel", limit=200)
    last = {t["mmsi"]: t["track"][-1] for t in tracks if t["track"]}
    body = {
        "zones": zones,
        "vessels": [{**t, "first": t["first"].isoformat(), "last": t["last"].isoformat()} for t in tracks],
        "alerts": [
            {
                "id": a["id"],
                "kind": a["kind"],
                "severity": a["severity"],
                "mmsi": a["context_id"],
                "observed_at": a["observed_at"].isoformat(),
                "reason": a["reason"],
                "position": _position(a, last.get(a["context_id"])),
            }
            for a in alerts
        ],
    }
    return page.finish(JSONResponse(body))


@router.post("/vessels/analyse")
async def analyse(request: Request) -> Response:
    page = Page(request)
    user = page.user(Permission.RISK_MANAGE)
    await page.form()
    ports = [z["zone_id"] for z in iot.map_state(page.engine, user, limit=0)["zones"] if z["zone_type"] == "port"]
    result = iot.analyse_vessels(page.engine, user, port_zone_ids=ports)
    return page.redirect(
        f"{PREFIX}/vessels",
        notice=page._(
            "%(vessels)s vessels analysed, %(alerts)s new alerts.",
            vessels=result["vessels"],
            alerts=result["new_alerts"],
        ),
    )

"""Transit and gates: the live map of movements, corridors and alerts (short polling of a JSON view), the gate
decision queue (release / inspect) with the reads, the expected values and the radiation alarm; vessels; scan review
(the queue of X-ray / CT scans, one scan's images beside the declaration's goods, the analyst's finding)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from opencustoms.declarations import service as declarations
from opencustoms.errors import OpenCustomsError
from opencustoms.iot import service as iot
from opencustoms.security.roles import Permission
from opencustoms.web.core import PREFIX, SECURITY_HEADERS, Page

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


def tile_origin(url: str) -> str:
    """The origin of a tile URL template, as a Content-Security-Policy source ({s}.host admits every subdomain)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"


def _map_page(page: Page, template: str, **context: Any) -> Response:
    """A map page: the tile server's URL when the administration has one (OPENCUSTOMS_MAP_TILE_URL), and then a
    Content-Security-Policy admitting that origin for images only; else the vendored vector base map."""
    settings = page.platform.settings
    tile_url = settings.map_tile_url
    response = page.render(template, tile_url=tile_url, tile_attribution=settings.map_tile_attribution, **context)
    if tile_url:
        csp = SECURITY_HEADERS["Content-Security-Policy"]
        response.headers["Content-Security-Policy"] = csp.replace(
            "img-src 'self' data:", f"img-src 'self' data: {tile_origin(tile_url)}"
        )
    return response


@router.get("/transits")
def transits(request: Request) -> Response:
    page = Page(request)
    user = page.user(Permission.DECLARATIONS_READ)
    return _map_page(page, "transits.html", rows=iot.list_transits(page.engine, user), poll_ms=POLL_MS)


@router.get("/transits/map.json")
def transit_map(request: Request) -> Response:
    page = Page(request)
    user = page.user(Permission.DECLARATIONS_READ)
    state = iot.map_state(page.engine, user)
    where = {m["movement_id"]: m["position"] for m in state["movements"]}
    alerts = iot.list_alerts(page.engine, user, context_type="transit", limit=200, lang=page.lang)
    state["alerts"] = [
        {
            "id": a["id"],
            "kind": a["kind"],
            "kind_label": a["kind_label"],
            "severity": a["severity"],
            "movement_id": a["context_id"],
            "observed_at": a["observed_at"].isoformat(),
            "reason": a["text"],
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
    report = iot.transit_report(page.engine, user, movement_id, lang=page.lang)
    return page.render("transit.html", report=report)


def _gate_context(page: Page, **extra: Any) -> dict[str, Any]:
    user = page.user(Permission.DECLARATIONS_READ)
    pending = iot.gate_queue(page.engine, user, "pending", lang=page.lang)
    decided = [r for r in iot.gate_queue(page.engine, user, None, lang=page.lang) if r["status"] != "pending"][-20:]
    context = {"pending": pending, "decided": list(reversed(decided)), "errors": {}, "poll_ms": POLL_MS}
    return {**context, **extra}


@router.get("/gates")
def gates(request: Request, notice: str | None = None) -> Response:
    page = Page(request)
    return page.render("gates.html", notice=notice, **_gate_context(page))


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
        return page.render("gates.html", status=422, **_gate_context(page, errors=errors))
    return page.redirect(f"{PREFIX}/gates", notice=page._("Decision recorded."))


@router.get("/vessels")
def vessels(request: Request, notice: str | None = None) -> Response:
    page = Page(request)
    user = page.user(Permission.DECLARATIONS_READ)
    alerts = iot.list_alerts(page.engine, user, context_type="vessel", limit=200, lang=page.lang)
    tracks = iot.vessel_tracks(page.engine, user)
    vessels = iot.vessel_identities(page.engine, user, [t["mmsi"] for t in tracks] + [a["context_id"] for a in alerts])
    return _map_page(
        page, "vessels.html", alerts=alerts, tracks=tracks, vessels=vessels, notice=notice, poll_ms=POLL_MS * 5
    )


@router.get("/vessels/map.json")
def vessel_map(request: Request) -> Response:
    page = Page(request)
    user = page.user(Permission.DECLARATIONS_READ)
    tracks = iot.vessel_tracks(page.engine, user)
    zones = iot.map_state(page.engine, user, limit=0)["zones"]  # ports, and the customs offices and gates beside them
    alerts = iot.list_alerts(page.engine, user, context_type="vessel", limit=200, lang=page.lang)
    last = {t["mmsi"]: t["track"][-1] for t in tracks if t["track"]}
    body = {
        "zones": zones,
        "vessels": [{**t, "first": t["first"].isoformat(), "last": t["last"].isoformat()} for t in tracks],
        "alerts": [
            {
                "id": a["id"],
                "kind": a["kind"],
                "kind_label": a["kind_label"],
                "severity": a["severity"],
                "mmsi": a["context_id"],
                "observed_at": a["observed_at"].isoformat(),
                "reason": a["text"],
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


# --- scan review -------------------------------------------------------------------------------------------------

SCAN_STATUSES = ("open", "pending", "in_review", "reviewed", "all")
REGION_RE = re.compile(r"^\s*([a-z][a-z0-9_-]{0,31})\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)(?:\s+(.{1,200}))?\s*$")


def _scan_store(page: Page) -> iot.ScanStore:
    return iot.ScanStore.for_data_dir(page.platform.settings.data_dir)


@router.get("/scans")
def scans(request: Request, status: str = "open", site: str | None = None, notice: str | None = None) -> Response:
    page = Page(request)
    user = page.user(Permission.DECLARATIONS_READ)
    status = status if status in SCAN_STATUSES else "open"
    site = (site or "").strip() or None
    rows = iot.scan_queue(page.engine, user, status=status, site=site, limit=200)
    flagged = [
        r
        for r in iot.scan_queue(page.engine, user, status="reviewed", limit=200)
        if r["finding"] in ("suspicious", "discrepancy")
    ][:20]
    return page.render(
        "scans.html",
        rows=rows,
        flagged=flagged,
        counts=iot.scan_counts(page.engine, user),
        scan_status=status,
        statuses=SCAN_STATUSES,
        site=site or "",
        notice=notice,
    )


def _scan_context(page: Page, scan_id: str, **extra: Any) -> dict[str, Any]:
    user = page.user(Permission.DECLARATIONS_READ)
    scan = iot.get_scan(page.engine, user, scan_id)
    expected = []
    for reference in scan["functional_reference_ids"]:
        try:
            declaration, masked = declarations.get(
                page.engine, user, reference, page.platform.pseudonymiser, "dashboard"
            )
        except OpenCustomsError:
            continue
        expected.append({"d": declaration, "masked": masked})
    return {
        "scan": scan,
        "expected": expected,
        "findings": iot.FINDINGS,
        "values": {},
        "errors": {},
        **extra,
    }


@router.get("/scans/{scan_id}")
def scan(request: Request, scan_id: str, notice: str | None = None) -> Response:
    page = Page(request)
    return page.render("scan.html", notice=notice, **_scan_context(page, scan_id))


@router.get("/scans/{scan_id}/views/{view}.png")
def scan_view(request: Request, scan_id: str, view: str) -> Response:
    page = Page(request)
    user = page.user(Permission.DECLARATIONS_READ)
    if request.query_params.get("full") == "1":  # the stored PNG, 16-bit kept
        data, _ = iot.scan_image(page.engine, user, _scan_store(page), scan_id, view)
    else:
        data = iot.scan_display(page.engine, user, _scan_store(page), scan_id, view)
    return page.finish(Response(data, media_type="image/png"))


def validate_finding(page: Page, form: dict[str, Any], views: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    finding = str(form.get("finding") or "")
    if finding not in iot.FINDINGS:
        errors["finding"] = page._("Choose what the image shows: clear, suspicious or discrepancy.")
    notes = str(form.get("notes") or "")
    if len(notes) > 4000:
        errors["notes"] = page._("The notes are limited to 4,000 characters.")
    elif finding in ("suspicious", "discrepancy") and not notes:
        errors["notes"] = page._("Say what the image shows and where, for the inspecting officer.")
    regions = []
    for number, line in enumerate(str(form.get("regions") or "").splitlines(), 1):
        if not line.strip():
            continue
        match = REGION_RE.match(line)
        if not match or match.group(1) not in views:
            errors["regions"] = page._(
                "Line %(n)s: write one region per line as: view x y width height [label], e.g. top 120 40 60 30.",
                n=number,
            )
            break
        view, x, y, w, h, label = match.groups()
        region: dict[str, Any] = {"view": view, "x": int(x), "y": int(y), "w": int(w), "h": int(h)}
        if label:
            region["label"] = label.strip()
        regions.append(region)
    return {"finding": finding, "notes": notes or None, "regions": regions}, errors


@router.post("/scans/{scan_id}/finding")
async def scan_finding(request: Request, scan_id: str) -> Response:
    page = Page(request)
    user = page.user(Permission.SCANS_REVIEW)
    form = await page.form()
    views = [v["view"] for v in iot.get_scan(page.engine, user, scan_id)["views"]]
    values, errors = validate_finding(page, form, views)
    if not errors:
        try:
            iot.record_finding(page.engine, user, scan_id, values["finding"], values["notes"], values["regions"])
        except OpenCustomsError as exc:
            field = (exc.field or "finding").split(".")[0].split("[")[0]
            errors[field if field in ("finding", "notes", "regions") else "finding"] = exc.message
        else:
            return page.redirect(f"{PREFIX}/scans", notice=page._("Finding recorded for scan %(id)s.", id=scan_id))
    return page.render("scan.html", status=422, **_scan_context(page, scan_id, values=form, errors=errors))


@router.post("/scans/{scan_id}/claim")
async def scan_claim(request: Request, scan_id: str) -> Response:
    page = Page(request)
    user = page.user(Permission.SCANS_REVIEW)
    form = await page.form()
    try:
        if form.get("action") == "release":
            iot.release_scan(page.engine, user, scan_id)
            notice = page._("Scan returned to the queue.")
        else:
            iot.assign_scan(page.engine, user, scan_id)
            notice = page._("Scan claimed: you review it.")
    except OpenCustomsError as exc:
        return page.render("scan.html", status=409, **_scan_context(page, scan_id, errors={"claim": exc.message}))
    return page.redirect(f"{PREFIX}/scans/{scan_id}", notice=notice)

"""The risk queue by lane, a declaration's full picture, and the inspection-result form that feeds the risk engine."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opencustoms.declarations import service as declarations
from opencustoms.errors import OpenCustomsError
from opencustoms.iot import service as iot
from opencustoms.risk import service as risk
from opencustoms.risk.errors import DecisionNotFoundError
from opencustoms.security.roles import Permission
from opencustoms.web.core import PREFIX, Page

router = APIRouter(prefix=PREFIX, include_in_schema=False)
LANES = ("red", "yellow", "blue", "green")
OUTCOMES = ("fraud", "compliant")


@router.get("/queue")
def queue(request: Request, lane: str = "red") -> Response:
    page = Page(request)
    user = page.user(Permission.DECLARATIONS_READ)
    if lane not in LANES:
        lane = "red"
    pseudonymiser = page.platform.pseudonymiser
    rows = risk.queue(page.engine, user, lane, limit=100, pseudonymiser=pseudonymiser, purpose="dashboard")
    counts = risk.lane_counts(page.engine, user)
    return page.render("queue.html", lane=lane, lanes=LANES, rows=rows, counts=counts)


def _detail(page: Page, reference: str, **extra: Any) -> dict[str, Any]:
    user = page.user(Permission.DECLARATIONS_READ)
    pseudonymiser = page.platform.pseudonymiser
    declaration, masked = declarations.get(page.engine, user, reference, pseudonymiser, "dashboard")
    try:
        decision = risk.explain(page.engine, user, reference, pseudonymiser=pseudonymiser, purpose="dashboard")
    except DecisionNotFoundError:
        decision = None
    # the stored declaration's signals, rendered for this reader (not looked up from a masked copy's parties)
    found = risk.declaration_signals(page.engine, user, reference, pseudonymiser=pseudonymiser, purpose="dashboard")
    history = {
        "decisions": risk.decision_history(
            page.engine, user, reference, pseudonymiser=pseudonymiser, purpose="dashboard"
        ),
        "inspections": declarations.inspection_history(page.engine, user, reference),
    }
    transits = [t for t in iot.list_transits(page.engine, user) if t["functional_reference_id"] == reference]
    alerts = []
    for t in transits:
        alerts += iot.list_alerts(page.engine, user, context_type="transit", context_id=t["movement_id"])
    return {
        "d": declaration,
        "masked": masked,
        "decision": decision,
        "signals": found,
        "history": history,
        "transits": transits,
        "alerts": alerts,
        "scans": iot.scans_for_declaration(page.engine, user, reference),
        "outcomes": OUTCOMES,
        "values": {},
        "errors": {},
        **extra,
    }


@router.get("/declarations/{reference}")
def declaration(request: Request, reference: str, notice: str | None = None) -> Response:
    page = Page(request)
    return page.render("declaration.html", notice=notice, **_detail(page, reference))


def validate_inspection(page: Page, form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    outcome = str(form.get("outcome") or "")
    if outcome not in OUTCOMES:
        errors["outcome"] = page._("Choose what the inspection found: fraud or compliant.")
    revenue: float | None = None
    raw = str(form.get("revenue") or "").replace(",", ".")
    if raw:
        try:
            revenue = float(raw)
        except ValueError:
            errors["revenue"] = page._("Give the revenue recovered as a number, e.g. 1250.50.")
        else:
            if revenue < 0 or revenue != revenue or revenue > 1e12:
                errors["revenue"] = page._("The revenue recovered must be between 0 and 1,000,000,000,000.")
    if outcome == "compliant" and revenue:
        errors["revenue"] = page._("A compliant declaration recovers no revenue; leave it empty or choose fraud.")
    note = str(form.get("note") or "")
    if len(note) > 2000:
        errors["note"] = page._("The note is limited to 2,000 characters.")
    return {"outcome": outcome, "revenue": revenue, "note": note or None}, errors


@router.post("/declarations/{reference}/inspection")
async def inspection(request: Request, reference: str) -> Response:
    page = Page(request)
    user = page.user(Permission.INSPECTIONS_WRITE)
    form = await page.form()
    values, errors = validate_inspection(page, form)
    if not errors:
        try:
            risk.record_inspection(
                page.engine, user, reference, values["outcome"], values["revenue"], note=values["note"]
            )
        except OpenCustomsError as exc:
            errors[exc.field or "outcome"] = exc.message
        else:
            return page.redirect(f"{PREFIX}/declarations/{reference}", notice=page._("Inspection result recorded."))
    return page.render("declaration.html", status=422, **_detail(page, reference, values=form, errors=errors))

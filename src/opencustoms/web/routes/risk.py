"""The risk queue by lane, a declaration's full picture, and the inspection-result form that feeds the risk engine."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opencustoms.classification import service as classification
from opencustoms.classification.errors import ClassificationError
from opencustoms.declarations import service as declarations
from opencustoms.documents import service as documents
from opencustoms.errors import OpenCustomsError
from opencustoms.iot import service as iot
from opencustoms.ledger import service as ledger
from opencustoms.risk import scores
from opencustoms.risk import service as risk
from opencustoms.risk.errors import DecisionNotFoundError, RiskDataError
from opencustoms.security.roles import Permission
from opencustoms.web.core import PREFIX, Page

router = APIRouter(prefix=PREFIX, include_in_schema=False)
LANES = ("red", "yellow", "blue", "green")
OUTCOMES = ("fraud", "compliant")


QUEUE_FILTERS = ("status", "date_from", "date_to", "office", "officer", "hs_chapter", "origin")


def queue_filters(page: Page, lane: str | None) -> tuple[risk.QueueFilters, dict[str, str], dict[str, str]]:
    """The queue's filters from the query string (default: what awaits a decision or an inspection), the values
    as typed (to fill the form again) and an error per filter that is wrong."""
    params = page.request.query_params
    values = {name: str(params.get(name) or "").strip() for name in QUEUE_FILTERS}
    values["status"] = values["status"] or "awaiting"
    errors: dict[str, str] = {}
    dates: dict[str, dt.date | None] = {}
    for name in ("date_from", "date_to"):
        try:
            dates[name] = dt.date.fromisoformat(values[name]) if values[name] else None
        except ValueError:
            dates[name] = None
            errors[name] = page._("Write the date as YYYY-MM-DD, e.g. 2026-12-07.")
    filters = risk.QueueFilters(
        lane=lane,
        status=None if values["status"] == "any" else values["status"],
        date_from=dates["date_from"],
        date_to=dates["date_to"],
        office=values["office"] or None,
        officer=values["officer"] or None,
        hs_chapter=values["hs_chapter"] or None,
        origin=values["origin"] or None,
    )
    try:
        filters = filters.checked()
    except RiskDataError as exc:
        errors[exc.field or "status"] = {
            "status": page._("Choose awaiting, inspected, released or any."),
            "date_from": page._("The first day comes after the last; swap them."),
            "hs_chapter": page._("Give the HS chapter as two digits, e.g. 84."),
            "origin": page._("Give the country of origin as two letters, e.g. CN."),
        }.get(exc.field or "", exc.message)
    return filters, values, errors


@router.get("/queue")
def queue(request: Request, lane: str = "") -> Response:
    page = Page(request)
    user = page.user(Permission.DECLARATIONS_READ)
    chosen = lane if lane in LANES else None
    filters, values, errors = queue_filters(page, chosen)
    pseudonymiser = page.platform.pseudonymiser
    rows = (
        []
        if errors
        else risk.queue(
            page.engine,
            user,
            limit=100,
            filters=filters,
            pseudonymiser=pseudonymiser,
            purpose="dashboard",
            lang=page.lang,
        )
    )
    counts = {} if errors else risk.queue_counts(page.engine, user, filters)
    kept = urlencode({k: v for k, v in values.items() if v and not errors.get(k)})
    return page.render(
        "queue.html",
        lane=chosen,
        lanes=LANES,
        rows=rows,
        counts=counts,
        values=values,
        errors=errors,
        statuses=(*risk.QUEUE_STATUSES, "any"),
        kept=kept,
        percent=lambda score: page.percent(scores.percent_text(score)),
        status=422 if errors else 200,
    )


def _aeo_on_record(page: Page, declaration: Any) -> dict[str, list[dict[str, Any]] | None]:
    """Per party role, the AEO certificates the ledger holds for that party (through the ledger service, as
    this reader may see them: pseudonymised parties are looked up by their pseudonym); None when the reader
    cannot read the ledger or the party cannot be looked up, so the page shows only what was declared."""
    user = page.user()
    found: dict[str, list[dict[str, Any]] | None] = {}
    for role, party in declaration.parties().items():
        if not user.can(Permission.LEDGER_READ) or not party.id:
            found[role] = None
            continue
        try:
            found[role] = ledger.certificates_of(
                page.engine, user, party.id, page.platform.pseudonymiser, purpose="dashboard"
            )
        except OpenCustomsError:
            found[role] = None
    return found


def _vessel(page: Page, declaration: Any) -> dict[str, Any] | None:
    """The declared vessel as AIS knows it (name, flag, type), when the declaration names one by MMSI."""
    transport = declaration.transport
    if transport is None or not transport.vessel_mmsi:
        return None
    mmsi = transport.vessel_mmsi
    found = iot.vessel_identities(page.engine, page.user(), [mmsi]).get(mmsi)
    if found is not None and transport.vessel_imo and not found.get("imo"):
        found = {**found, "imo": transport.vessel_imo}
    return found


def _detail(page: Page, reference: str, **extra: Any) -> dict[str, Any]:
    user = page.user(Permission.DECLARATIONS_READ)
    pseudonymiser = page.platform.pseudonymiser
    declaration, masked = declarations.get(page.engine, user, reference, pseudonymiser, "dashboard")
    try:
        decision = risk.explain(
            page.engine, user, reference, pseudonymiser=pseudonymiser, purpose="dashboard", lang=page.lang
        )
    except DecisionNotFoundError:
        decision = None
    # the stored declaration's signals, rendered for this reader (not looked up from a masked copy's parties)
    found = risk.declaration_signals(
        page.engine, user, reference, pseudonymiser=pseudonymiser, purpose="dashboard", lang=page.lang
    )
    history = {
        "decisions": risk.decision_history(
            page.engine, user, reference, pseudonymiser=pseudonymiser, purpose="dashboard", lang=page.lang
        ),
        "inspections": declarations.inspection_history(page.engine, user, reference),
    }
    transits = [t for t in iot.list_transits(page.engine, user) if t["functional_reference_id"] == reference]
    alerts = []
    for t in transits:
        alerts += iot.list_alerts(
            page.engine, user, context_type="transit", context_id=t["movement_id"], lang=page.lang
        )
    numbers = [doc.id for doc in declaration.additional_documents]
    issued = documents.issued_numbers(page.engine, user, numbers) if user.can(Permission.DOCUMENTS_READ) else set()
    try:  # HS suggestions beside the goods items; a model that cannot be used does not take the page down
        hs_suggestions = classification.suggest_for_goods(
            page.engine, user, [(g.sequence_number, g.description, g.hs_code) for g in declaration.goods_items]
        )
        hs_problem = None
    except ClassificationError as exc:
        hs_suggestions, hs_problem = {}, exc.message
    return {
        "d": declaration,
        "masked": masked,
        "hs_suggestions": hs_suggestions,
        "hs_problem": hs_problem,
        "issued": issued,
        "names": declarations.code_names(page.engine, declaration, page.lang),
        "aeo": _aeo_on_record(page, declaration),
        "vessel": _vessel(page, declaration),
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

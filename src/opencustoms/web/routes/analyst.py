"""Risk analyst pages (risk profiles: list, create or new version, history, retire; model versions with their
metrics, promote) and the audit log for the data-protection officer."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opencustoms.errors import OpenCustomsError
from opencustoms.risk import service as risk
from opencustoms.security import service as security
from opencustoms.security.roles import Permission
from opencustoms.web.core import PREFIX, Page

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PROFILE_LANES = ("red", "yellow", "blue", "green")
EXAMPLE_CRITERIA = (
    '{"all_of": [{"field": "hs6", "op": "prefix", "value": "7318"}, {"field": "origin", "op": "eq", "value": "CN"}]}'
)


def _profiles(page: Page, **extra: Any) -> Response:
    user = page.user(Permission.DECLARATIONS_READ)
    values = extra.pop("values", None) or {
        "lane": "yellow",
        "weight": "1.0",
        "valid_from": dt.date.today().isoformat(),
        "criteria": EXAMPLE_CRITERIA,
    }
    return page.render(
        "profiles.html",
        profiles=risk.list_profiles(page.engine, user),
        lanes=PROFILE_LANES,
        values=values,
        errors=extra.pop("errors", {}),
        **extra,
    )


@router.get("/risk/profiles")
def profiles(request: Request, notice: str | None = None) -> Response:
    return _profiles(Page(request), notice=notice)


def validate_profile(page: Page, form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    data: dict[str, Any] = {}
    for key in ("id", "reason", "lane", "valid_from"):
        if not form.get(key):
            errors[key] = page._("This field is required.")
        else:
            data[key] = form[key]
    if form.get("valid_to"):
        data["valid_to"] = form["valid_to"]
    try:
        data["weight"] = float(str(form.get("weight") or "1").replace(",", "."))
    except ValueError:
        errors["weight"] = page._("Give the weight as a number, e.g. 1.0.")
    try:
        data["criteria"] = json.loads(str(form.get("criteria") or ""))
    except ValueError as exc:
        errors["criteria"] = page._("The criteria are not valid JSON: %(problem)s", problem=str(exc))
    return data, errors


@router.post("/risk/profiles")
async def save_profile(request: Request) -> Response:
    page = Page(request)
    user = page.user(Permission.RISK_MANAGE)
    form = await page.form()
    data, errors = validate_profile(page, form)
    if not errors:
        try:
            saved = risk.save_profile(page.engine, user, data)
        except OpenCustomsError as exc:
            field = (exc.field or "criteria").split(".")[0]
            errors[field if field in form else "criteria"] = exc.message
        else:
            return page.redirect(
                f"{PREFIX}/risk/profiles/{saved['id']}",
                notice=page._("Profile saved (version %(v)s).", v=saved["version"]),
            )
    return _profiles(page, values=form, errors=errors)


@router.get("/risk/profiles/{profile_id}")
def profile(request: Request, profile_id: str, notice: str | None = None) -> Response:
    page = Page(request)
    user = page.user(Permission.DECLARATIONS_READ)
    history = risk.profile_history(page.engine, user, profile_id)
    trail = (
        security.read_audit(page.engine, user, object_type="risk_profile", limit=200)
        if user.can(Permission.AUDIT_READ)
        else None
    )
    if trail is not None:
        trail = [t for t in trail if str(t["object_id"] or "").split("@")[0] == profile_id]
    return page.render("profile.html", history=history, profile_id=profile_id, trail=trail, notice=notice)


@router.post("/risk/profiles/{profile_id}/retire")
async def retire(request: Request, profile_id: str) -> Response:
    page = Page(request)
    user = page.user(Permission.RISK_MANAGE)
    await page.form()
    risk.retire_profile(page.engine, user, profile_id)
    return page.redirect(f"{PREFIX}/risk/profiles/{profile_id}", notice=page._("Profile retired."))


@router.get("/risk/models")
def models(request: Request, notice: str | None = None) -> Response:
    page = Page(request)
    user = page.user(Permission.RISK_MANAGE)
    rows = risk.list_models(page.engine, user)
    for row in rows:
        metrics = (row.get("metrics") or {}).get("valid") or {}
        row["bars"] = [
            (name.removeprefix("precision@"), float(value))
            for name, value in metrics.items()
            if name.startswith("precision@") and isinstance(value, int | float)
        ]
        row["auc"] = metrics.get("auc")
    return page.render("models.html", rows=rows, notice=notice)


@router.post("/risk/models/{version}/promote")
async def promote(request: Request, version: str) -> Response:
    page = Page(request)
    user = page.user(Permission.RISK_MANAGE)
    await page.form()
    risk.promote_model(page.engine, user, version)
    return page.redirect(f"{PREFIX}/risk/models", notice=page._("Model %(v)s promoted.", v=version))


@router.get("/audit")
def audit(request: Request, object_type: str = "", object_id: str = "", who: str = "", limit: int = 100) -> Response:
    page = Page(request)
    user = page.user(Permission.AUDIT_READ)
    limit = max(1, min(limit, 1000))
    rows = security.read_audit(
        page.engine,
        user,
        object_type=object_type.strip() or None,
        object_id=object_id.strip() or None,
        who=who.strip() or None,
        limit=limit,
    )
    filters = {"object_type": object_type, "object_id": object_id, "who": who, "limit": limit}
    return page.render("audit.html", rows=rows, filters=filters)

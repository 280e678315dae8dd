"""Risk analyst pages (risk profiles: list, create or new version, history, retire; model versions with their
evaluation charts — precision@n% and recall@n% against random and rules-only, feature importance, score drift —
and promote; valuation flags with their bands) and the audit log for the data-protection officer.

Charts are inline SVG drawn on the server (the CSP allows no script but our own, and no charting library is
needed): this module turns the risk service's numbers into coordinates; ``_charts.html`` draws them."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from opencustoms.errors import OpenCustomsError
from opencustoms.risk import lifecycle
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


# --- charts: numbers to SVG coordinates ------------------------------------------------------------------------

CHART_W, CHART_H = 440, 230
PAD_L, PAD_R, PAD_T, PAD_B = 44, 12, 12, 34
SERIES_STYLE = {
    "model": {"stroke": "#1f4e79", "width": "2.5", "dash": ""},
    "rules": {"stroke": "#b03a2e", "width": "2", "dash": "6 3"},
    "random": {"stroke": "#6b6b6b", "width": "1.5", "dash": "2 3"},
    "perfect": {"stroke": "#2e7d4f", "width": "1.2", "dash": "1 3"},
}


def _plot_box() -> tuple[float, float, float, float]:
    return PAD_L, PAD_T, CHART_W - PAD_L - PAD_R, CHART_H - PAD_T - PAD_B


def line_chart(shares: list[float], series: list[tuple[str, str, list[float | None]]]) -> dict[str, Any]:
    """A line chart over inspection shares (x, in %) of values in [0, 1] (y); ``series`` are (key, label, values)."""
    x0, y0, w, h = _plot_box()
    lo, hi = shares[0], shares[-1]

    def x(share: float) -> float:
        return round(x0 + (share - lo) / ((hi - lo) or 1) * w, 1)

    def y(value: float) -> float:
        return round(y0 + (1 - max(0.0, min(1.0, value))) * h, 1)

    lines = []
    for key, label, values in series:
        points = " ".join(f"{x(q)},{y(v)}" for q, v in zip(shares, values, strict=True) if v is not None)
        if points:
            lines.append({"key": key, "label": label, "points": points, **SERIES_STYLE[key]})
    x_ticks = [{"x": x(q), "label": f"{q:.0%}"} for q in shares if round(q * 100) in (1, 5, 10, 15, 20, 25, 30)]
    y_ticks = [{"y": y(v), "label": f"{v:.2f}"} for v in (0.0, 0.25, 0.5, 0.75, 1.0)]
    return {
        "width": CHART_W,
        "height": CHART_H,
        "box": {"x": x0, "y": y0, "w": w, "h": h},
        "lines": lines,
        "x_ticks": x_ticks,
        "y_ticks": y_ticks,
    }


def feature_bars(features: list[dict[str, Any]]) -> dict[str, Any]:
    """Horizontal bars of each feature's share of the model's total gain."""
    label_w, bar_w, row_h = 190, 210, 17
    top = max((f["share"] for f in features), default=0) or 1
    rows = [
        {
            "y": i * row_h,
            "label": f["feature"],
            "width": round(f["share"] / top * bar_w, 1),
            "value": f"{f['share']:.1%}",
        }
        for i, f in enumerate(features)
    ]
    return {"width": label_w + bar_w + 56, "height": len(rows) * row_h + 4, "label_w": label_w, "rows": rows}


def histogram_pair(reference: list[int], current: list[int] | None) -> dict[str, Any]:
    """Side-by-side bars per score bin: share of the reference scores and of the scores since promotion."""
    x0, y0, w, h = _plot_box()
    bins = len(reference)
    ref_total, cur_total = sum(reference) or 1, sum(current or []) or 1
    ref_share = [c / ref_total for c in reference]
    cur_share = [c / cur_total for c in current] if current and sum(current) else None
    top = max(ref_share + (cur_share or [])) or 1
    slot = w / bins
    bars = []
    for i in range(bins):
        for j, (key, shares) in enumerate((("reference", ref_share), ("current", cur_share))):
            if shares is None:
                continue
            height = shares[i] / top * h
            bars.append(
                {
                    "key": key,
                    "x": round(x0 + i * slot + 1 + j * (slot - 2) / 2, 1),
                    "y": round(y0 + h - height, 1),
                    "w": round((slot - 2) / 2, 1),
                    "h": round(height, 1),
                    "title": f"{i / bins:.2f}–{(i + 1) / bins:.2f}: {shares[i]:.1%}",
                }
            )
    x_ticks = [{"x": round(x0 + v * w, 1), "label": f"{v:.1f}"} for v in (0, 0.2, 0.4, 0.6, 0.8, 1.0)]
    y_ticks = [{"y": round(y0 + h - f * h, 1), "label": f"{f * top:.0%}"} for f in (0, 0.5, 1.0)]
    return {
        "width": CHART_W,
        "height": CHART_H,
        "box": {"x": x0, "y": y0, "w": w, "h": h},
        "bars": bars,
        "x_ticks": x_ticks,
        "y_ticks": y_ticks,
    }


def band_strip(row: dict[str, Any]) -> dict[str, Any]:
    """A small log-scale strip: the band, the reference unit value and the declared unit value."""
    width, pad = 180, 8
    values = [row["band_low"], row["band_high"], row["unit_value"], row["reference_unit_value"]]
    lo, hi = math.log(min(values)) - 0.3, math.log(max(values)) + 0.3

    def x(value: float) -> float:
        return round(pad + (math.log(value) - lo) / (hi - lo) * (width - 2 * pad), 1)

    return {
        "width": width,
        "band_x": x(row["band_low"]),
        "band_w": round(x(row["band_high"]) - x(row["band_low"]), 1),
        "reference_x": x(row["reference_unit_value"]),
        "declared_x": x(row["unit_value"]),
    }


def drift_message(page: Page, drift: dict[str, Any]) -> tuple[str, list[str]]:
    """(kind, plain-language sentences) for a version's drift since promotion."""
    psi = drift.get("psi")
    if drift.get("histogram_reference") is None:
        return "none", [page._("No reference scores are stored with this version; retrain it to follow drift.")]
    if psi is None:
        if drift.get("since") is None:
            return "none", [page._("Never promoted: it has not scored declarations to compare yet.")]
        return "none", [page._("Nothing scored since its promotion yet.")]
    value = f"{psi:.3f}"
    if psi < lifecycle.WATCH:
        return "stable", [
            page._(
                "Stable: scores since promotion look like the reference period's (PSI %(psi)s, below 0.1).", psi=value
            )
        ]
    if psi < lifecycle.ALERT:
        return "watch", [
            page._(
                "Watch: scores since promotion have moved from the reference period's (PSI %(psi)s, 0.1 to 0.25).",
                psi=value,
            ),
            page._("Look at what changed in the declarations."),
        ]
    return "drift", [
        page._(
            "Drift: scores since promotion no longer look like the reference period's (PSI %(psi)s, above 0.25).",
            psi=value,
        ),
        page._("Retrain the model or check the data feed."),
    ]


def model_view(page: Page, row: dict[str, Any], drift: dict[str, Any]) -> dict[str, Any]:
    """What the models page shows of one version."""
    metrics = (row.get("metrics") or {}).get("valid") or {}
    view = dict(row)
    view["bars"] = [
        (name.removeprefix("precision@"), float(value))
        for name, value in metrics.items()
        if name.startswith("precision@") and isinstance(value, int | float)
    ]
    view["auc"] = metrics.get("auc")
    report = row.get("report") or {}
    evaluation = report.get("evaluation")
    view["report"] = report
    view["evaluation"] = evaluation
    if evaluation:
        curves = evaluation["curves"]
        labels = {
            "model": page._("this model"),
            "rules": page._("rules only"),
            "random": page._("random"),
            "perfect": page._("perfect selector"),
        }
        for metric in ("precision", "recall"):
            view[f"{metric}_chart"] = line_chart(
                evaluation["shares"],
                [(k, labels[k], curves[k][metric]) for k in ("perfect", "random", "rules", "model") if k in curves],
            )
        view["legend"] = [{"label": labels[k], **SERIES_STYLE[k]} for k in ("model", "rules", "random", "perfect")]
        view["figures"] = [
            {
                "share": share,
                "inspected": evaluation["inspected"][i],
                **{f"p_{k}": curves[k]["precision"][i] for k in curves},
                **{f"r_{k}": curves[k]["recall"][i] for k in curves},
            }
            for i, share in enumerate(evaluation["shares"])
            if round(share * 100) in (1, 2, 5, 10, 15, 20, 25, 30)
        ]
    view["features"] = feature_bars(report.get("feature_importance") or [])
    view["drift"] = drift
    view["drift_kind"], view["drift_text"] = drift_message(page, drift)
    view["histogram"] = (
        histogram_pair(drift["histogram_reference"], drift["histogram_current"])
        if drift.get("histogram_reference")
        else None
    )
    return view


@router.get("/risk/models")
def models(request: Request, notice: str | None = None) -> Response:
    page = Page(request)
    user = page.user(Permission.RISK_MANAGE)
    rows = [
        model_view(page, row, risk.score_drift(page.engine, user, row["version"]))
        for row in risk.list_models(page.engine, user)
    ]
    return page.render("models.html", rows=rows, notice=notice)


@router.get("/risk/valuation")
def valuation(
    request: Request, since: str = "", window_days: str = "365", min_sample: str = "10", limit: str = "100"
) -> Response:
    page = Page(request)
    user = page.user(Permission.RISK_MANAGE)
    values = {"since": since, "window_days": window_days, "min_sample": min_sample, "limit": limit}
    errors: dict[str, str] = {}
    day = None
    if since.strip():
        try:
            day = dt.date.fromisoformat(since.strip())
        except ValueError:
            errors["since"] = page._("Give the date as YYYY-MM-DD.")
    numbers: dict[str, int] = {}
    for key, low, high in (("window_days", 1, 3650), ("min_sample", 3, 10_000), ("limit", 1, 1000)):
        try:
            numbers[key] = int(values[key] or "0")
            if not low <= numbers[key] <= high:
                raise ValueError
        except ValueError:
            errors[key] = page._("Give a whole number from %(low)s to %(high)s.", low=low, high=high)
    result = None
    if not errors:
        try:
            result = risk.valuation_flags_stored(page.engine, user, since=day, **numbers)
        except OpenCustomsError as exc:
            errors[exc.field if exc.field in values else "since"] = exc.message
    if result is not None:
        for row in result["flags"]:
            row["strip"] = band_strip(row)
    return page.render("valuation.html", status=422 if errors else 200, result=result, values=values, errors=errors)


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
    return page.render("audit.html", rows=rows, filters=filters, check=None)


@router.post("/audit/verify")
async def audit_verify(request: Request) -> Response:
    """Check the whole chain (as `opencustoms audit verify`) and show the outcome above the latest entries."""
    page = Page(request)
    user = page.user(Permission.AUDIT_READ)
    await page.form()
    settings = page.platform.settings
    check = await run_in_threadpool(  # a walk over the whole chain: off the event loop
        security.verify_audit,
        page.engine,
        user,
        key_file=security.audit_signing_key_file(settings),
        sign_interval_minutes=settings.audit_sign_interval_minutes,
    )
    rows = security.read_audit(page.engine, user, limit=100)
    filters = {"object_type": "", "object_id": "", "who": "", "limit": 100}
    return page.render("audit.html", status=200 if check["ok"] else 409, rows=rows, filters=filters, check=check)


@router.get("/classification")
def classification_page(request: Request) -> Response:
    """The misclassification signals, newest first, and (for risk:manage) the HS model versions."""
    from opencustoms.classification import mismatch
    from opencustoms.classification import service as classification

    page = Page(request)
    user = page.user(Permission.DECLARATIONS_READ)
    found = mismatch.recent(page.engine, user, lang=page.lang)
    versions = classification.models(page.engine, user) if user.can(Permission.RISK_MANAGE) else None
    return page.render("classification.html", signals=found, versions=versions)

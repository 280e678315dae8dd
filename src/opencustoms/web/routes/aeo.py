"""The AEO registry: search certificates in every log held, one certificate's status and history with its
inclusion proofs, partner logs and their health, the latest EVM anchor of this node's log, fork and split-view
alarms. Readers without personal data see holders as pseudonyms and histories without entry content (the ledger
service decides: ``sees_holders``, ``history``)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opencustoms.ledger import service as ledger
from opencustoms.security.roles import Permission
from opencustoms.web.core import PREFIX, Page

router = APIRouter(prefix=PREFIX + "/aeo", include_in_schema=False)


@router.get("")
def registry(request: Request, q: str = "") -> Response:
    page = Page(request)
    user = page.user(Permission.LEDGER_READ)
    q = q.strip()[:100]
    rows = ledger.search_certificates(page.engine, user, q, page.platform.pseudonymiser, purpose="dashboard")
    logs = ledger.logs(page.engine, user)
    alarms = ledger.alarms(page.engine, user)
    anchor = ledger.latest_anchor(page.engine, user)  # from this node's records: the page never calls the chain
    return page.render(
        "aeo.html",
        q=q,
        rows=rows,
        by_holder=ledger.sees_holders(user),
        logs=logs,
        alarms=list(reversed(alarms))[:50],
        anchor=anchor,
    )


@router.get("/{number}")
def certificate(request: Request, number: str) -> Response:
    page = Page(request)
    user = page.user(Permission.LEDGER_READ)
    current = ledger.status(page.engine, user, number, pseudonymiser=page.platform.pseudonymiser, purpose="dashboard")
    history = ledger.history(page.engine, user, number, origin=current["origin"], purpose="dashboard")
    for item in history["entries"]:
        body = item["entry"].get("body")
        try:  # the signed body is canonical JSON text; restricted entries, and readers without contents, get none
            item["body"] = json.loads(body) if isinstance(body, str) else (body or {})
        except ValueError:
            item["body"] = {}
    return page.render("aeo_certificate.html", current=current, history=history)

"""The exchange with partner administrations: partners and their agreements, the export records received with
their match to our imports and the mirror discrepancies found. Parties are pseudonymised for readers without
personal data (the exchange's service decides)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from opencustoms.exchange import service as exchange
from opencustoms.ledger import service as ledger
from opencustoms.ledger.keys import KeyStore
from opencustoms.security.roles import Permission
from opencustoms.web.core import PREFIX, Page

router = APIRouter(prefix=PREFIX + "/exchange", include_in_schema=False)
STATUSES = ("matched", "unmatched", "not_declared")


@router.get("")
def received(request: Request, status: str = "") -> Response:
    page = Page(request)
    user = page.user(Permission.DECLARATIONS_READ)
    chosen = status if status in STATUSES else None
    keys = KeyStore.for_data_dir(page.platform.settings.data_dir)
    partners = exchange.partner_list(page.engine, user, exchange.directory(ledger.partner_directory(page.engine, keys)))
    inbox = exchange.inbox(page.engine, user, page.platform.pseudonymiser, match_status=chosen, limit=200)
    return page.render("exchange.html", partners=partners, inbox=inbox, chosen=chosen, statuses=STATUSES)

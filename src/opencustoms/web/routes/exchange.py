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


@router.get("/mirror")
def mirror(request: Request, partner: str = "", annual: bool = False) -> Response:
    """Our imports against a partner's exports by HS6 and month, the largest gaps drawn as paired bars."""
    page = Page(request)
    user = page.user(Permission.RISK_MANAGE)
    keys = KeyStore.for_data_dir(page.platform.settings.data_dir)
    codes = sorted(exchange.directory(ledger.partner_directory(page.engine, keys)))
    chosen = partner.upper() if partner.upper() in codes else (codes[0] if codes else None)
    result = exchange.mirror_statistics(page.engine, user, chosen, annual=annual, top=30) if chosen else None
    chart = _paired_bars(result["rows"][:12]) if result and result["rows"] else None
    return page.render("exchange_mirror.html", codes=codes, chosen=chosen, annual=annual, result=result, chart=chart)


def _paired_bars(rows: list[dict[str, object]]) -> dict[str, object]:
    """Coordinates of one pair of horizontal bars per cell (export value above, import value below), on one scale."""
    label_w, bar_w, row_h = 150, 420, 30
    most = max(max(float(str(r["export_value"])), float(str(r["import_value"]))) for r in rows) or 1.0
    drawn = []
    for i, r in enumerate(rows):
        export, imported = float(str(r["export_value"])), float(str(r["import_value"]))
        drawn.append(
            {
                "y": 6 + i * row_h,
                "label": f"HS {r['hs6']} · {r['period']}",
                "export_w": round(bar_w * export / most, 1),
                "import_w": round(bar_w * imported / most, 1),
                "export": f"{export:,.0f} {r['currency']}",
                "imported": f"{imported:,.0f} {r['currency']}",
            }
        )
    return {"width": label_w + bar_w + 120, "height": 12 + len(rows) * row_h, "label_w": label_w, "rows": drawn}

"""Aggregate mirror statistics: our imports from the partner's country against its exports, by HS6 and month, from
the records it sent or from a UN Comtrade CSV, ranked by the value at stake; from the service, the API and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ledger_testnodes import client_for
from test_exchange import pair, send_all  # noqa: F401 - the fixture
from typer.testing import CliRunner

from opencustoms.exchange import mirror, service
from opencustoms.exchange.errors import ExchangeError
from opencustoms.security.roles import Role
from opencustoms.security.service import Identity, create_user, issue_token

COMTRADE = (
    "Classification,Year,Period,Period Desc.,Aggregate Level,Is Leaf Code,TradeFlow Code,TradeFlow,Reporter Code,"
    "Reporter,Reporter ISO,Partner Code,Partner,Partner ISO,2nd Partner Code,2nd Partner,2nd Partner ISO,"
    "Customs Proc. Code,Customs,Mode of Transport Code,Mode of Transport,Commodity Code,Commodity,Qty Unit Code,"
    "Qty Unit,Qty,Alt Qty Unit Code,Alt Qty Unit,Alt Qty,Netweightkg,GrossWeightkg,TradeValueUS,CIF TradeValue,"
    "FOB Trade Value (US$),Flag\n"
    # Argentina's exports of boneless beef to Brazil in March 2025 (FOB given), and lines the reading must skip
    "H5,2025,202503,March 2025,6,1,2,Export,32,Argentina,ARG,76,Brazil,BRA,,,,,,,,020130,Beef,8,kg,,,,,4000,,"
    "31000,,30000,0\n"
    "H5,2025,202503,March 2025,6,1,1,Import,32,Argentina,ARG,76,Brazil,BRA,,,,,,,,020130,Beef,8,kg,,,,,4000,,"
    "99999,,,0\n"
    "H5,2025,202503,March 2025,6,1,2,Export,858,Uruguay,URY,76,Brazil,BRA,,,,,,,,020130,Beef,8,kg,,,,,4000,,"
    "88888,,,0\n"
    "H5,2025,202503,March 2025,2,0,2,Export,32,Argentina,ARG,76,Brazil,BRA,,,,,,,,02,Meat,8,kg,,,,,4000,,"
    "77777,,,0\n"
    # no FOB value: the trade value is used
    "H5,2025,202504,April 2025,6,1,2,Export,32,Argentina,ARG,76,Brazil,BRA,,,,,,,,020230,Beef frozen,8,kg,,,,,"
    "500,,2000,,,0\n"
)


def test_the_records_sent_against_our_imports_by_hs6_and_month(pair) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    ar, br = pair
    send_all(ar, br)
    analyst = Identity.of("rita", "BR", [Role.RISK_ANALYST])
    result = service.mirror_statistics(br.engine, analyst, "AR")
    assert (result["source"], result["partner_country"], result["period"]) == ("inbox", "AR", "month")
    top = result["rows"][0]
    # exported in March 2025: 9,000 + 5,000 + 7,000 + 7,000 of 020130; declared here: 4,000 + 7,700 of 020130
    assert (top["hs6"], top["period"], top["currency"]) == ("020130", "2025-03", "USD")
    assert (top["export_value"], top["import_value"], top["export_records"], top["import_items"]) == (
        28000.0,
        11700.0,
        4,
        2,
    )
    assert top["at_stake"] == pytest.approx(28000 * 0.95 - 11700) and top["outside_band"] is True
    cells = {(r["hs6"], r["period"]): r for r in result["rows"]}
    assert cells[("020230", "2025-03")]["export_value"] == 0.0  # declared here under another HS6 only
    assert cells[("020130", "2025-09")]["import_value"] == 5500.0  # BR-IM-9, long after
    yearly = service.mirror_statistics(br.engine, analyst, "AR", annual=True)
    assert {(r["hs6"], r["period"]) for r in yearly["rows"]} == {("020130", "2025"), ("020230", "2025")}
    with pytest.raises(Exception, match="risk:manage"):
        service.mirror_statistics(br.engine, Identity.of("otto", "BR", [Role.OFFICER]), "AR")


def test_a_comtrade_file_stands_in_for_a_partner_that_does_not_exchange(pair, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    _, br = pair
    path = tmp_path / "comtrade.csv"
    path.write_text(COMTRADE)
    result = service.mirror_statistics(br.engine, br.operator, "AR", comtrade=path)
    cells = {(r["hs6"], r["period"]): r for r in result["rows"]}
    assert result["source"] == "comtrade"
    assert cells[("020130", "2025-03")]["export_value"] == 30000.0  # FOB, not the 31,000 trade value
    assert cells[("020130", "2025-03")]["import_value"] == 11700.0
    assert cells[("020230", "2025-04")]["export_value"] == 2000.0
    assert sum(r["export_records"] for r in result["rows"]) == 2  # imports, other reporters, HS2 lines skipped
    bad = tmp_path / "other.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ExchangeError, match="Comtrade") as caught:
        service.mirror_statistics(br.engine, br.operator, "AR", comtrade=bad)
    assert caught.value.field == "comtrade"
    assert mirror.comtrade_text(COMTRADE, "UY", "BR").cells  # Uruguay's line, read for Uruguay


def test_the_api_and_the_command_line(pair, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from opencustoms.cli import app
    from opencustoms.config import get_settings
    from opencustoms.store.database import open_database

    ar, br = pair
    send_all(ar, br)
    create_user(br.engine, br.operator, "rita", "BR", [Role.RISK_ANALYST.value])
    with client_for(br, issue_token(br.engine, br.operator, "rita")) as http:
        r = http.get("/exchange/mirror", params={"partner": "AR", "top": 1})
        assert r.status_code == 200 and len(r.json()["rows"]) == 1 and r.json()["rows"][0]["hs6"] == "020130"
        assert http.get("/exchange/mirror", params={"partner": "A-R"}).status_code == 422
    for name, value in br.env().items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    open_database.cache_clear()
    path = tmp_path / "comtrade.csv"
    path.write_text(COMTRADE)
    try:
        result = CliRunner().invoke(app, ["exchange", "mirror", "AR", "--comtrade", str(path), "--annual"])
    finally:
        get_settings.cache_clear()
        open_database.cache_clear()
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["source"] == "comtrade" and shown["rows"][0]["period"] == "2025"


def test_the_analyst_page_draws_the_largest_gaps(pair) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from fastapi.testclient import TestClient
    from web_helpers import csrf_of

    from opencustoms.api import create_app
    from opencustoms.config import Settings
    from opencustoms.context import Platform

    ar, br = pair
    send_all(ar, br)
    create_user(br.engine, br.operator, "rita", "BR", [Role.RISK_ANALYST.value])
    app = create_app(Platform(Settings(database_url=br.url, data_dir=br.data_dir, administration="BR")))
    with TestClient(app, follow_redirects=False) as client:
        form = client.get("/ui/login")
        token = issue_token(br.engine, br.operator, "rita")
        data = {"username": "rita", "token": token, "csrf_token": csrf_of(form.text), "next": "/ui/"}
        assert client.post("/ui/login", data=data).status_code == 303
        page = client.get("/ui/exchange/mirror?partner=AR", headers={"Accept-Language": "fr"})
        assert page.status_code == 200, page.text
        assert "Statistiques miroir" in page.text and "hors fourchette" in page.text
        # one pair of bars per cell: 020130 in March and September, 020230 in March
        assert page.text.count('<rect class="export"') == 3 and page.text.count('<rect class="import"') == 3
        assert "28,000 USD / 11,700 USD" in page.text
        assert "/ui/exchange/mirror" in client.get("/ui/exchange").text  # linked for an analyst

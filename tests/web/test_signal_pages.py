"""Signals and IoT alerts in the officer's language (issue #14): the declaration page's Signals table and alert list,
the transit page, the gates page and the API's alerts speak French to a French reader, with parties and AEO
certificates still masked for readers without the personal-data permission."""

from __future__ import annotations

import html
from typing import Any

from sqlalchemy import select
from web_helpers import HELD_BACK, Site


def _suspend_an_importer(site: Site) -> tuple[str, str, str, str]:
    """Issue an AEO certificate to the named importer of a stored declaration and suspend it on the ledger:
    (the declaration's reference, the importer's id and name, the certificate's number)."""
    from opencustoms.ledger import service as ledger
    from opencustoms.ledger.entries import AEOCertificate
    from opencustoms.ledger.keys import KeyStore
    from opencustoms.security.service import local_operator
    from opencustoms.store.tables import declaration_parties as p
    from opencustoms.store.tables import declarations as d

    with site.engine.connect() as conn:
        reference, party_id, name = conn.execute(
            select(d.c.functional_reference_id, p.c.party_id, p.c.name)
            .join(p, p.c.declaration_id == d.c.id)
            .where(p.c.role == "importer", p.c.name.is_not(None))
            .order_by(d.c.id)
            .limit(1)
        ).one()
    number = "NLAEO" + party_id[-6:]
    operator = local_operator("NL")
    keystore = KeyStore.for_data_dir(site.platform.settings.data_dir)
    address = {"line": "Maasboulevard 1", "city_name": "Rotterdam", "country_code": "NL"}
    holder = {"name": name, "id": party_id, "country_code": "NL", "address": address}
    certificate = {"certificate_number": number, "type": "both", "issue_date": "2024-05-02", "holder": holder}
    ledger.issue(site.engine, operator, keystore, AEOCertificate.model_validate(certificate))
    ledger.change_status(site.engine, operator, keystore, "aeo.suspended", number, "audit findings")
    return reference, party_id, name, number


def test_the_declaration_page_writes_signals_in_french(client_for: Any, site: Site) -> None:
    reference, party_id, name, number = _suspend_an_importer(site)
    officer = client_for("officer")
    french = html.unescape(officer.get(f"/ui/declarations/{reference}", headers={"Accept-Language": "fr"}).text)
    signals_block = french[french.index("<h2>Signaux</h2>") :]
    assert "Certificat OEA suspendu" in signals_block  # the kind in words
    assert f"Le certificat OEA {number} de {name} ({party_id}) (opencustoms/NL/aeo) est suspendu" in signals_block
    assert "is suspended" not in signals_block and "<td>ledger.aeo_suspended</td>" not in french
    assert "<td>moyenne</td>" in signals_block  # the severity by name
    english = html.unescape(officer.get(f"/ui/declarations/{reference}", headers={"Accept-Language": "en"}).text)
    assert f"AEO certificate {number} of {name} ({party_id}) (opencustoms/NL/aeo) is suspended" in english
    assert "AEO certificate suspended" in english
    # a reader without the personal-data permission reads the same sentence with pseudonyms
    masked = html.unescape(
        client_for("analyst").get(f"/ui/declarations/{reference}", headers={"Accept-Language": "fr"}).text
    )
    shown = masked[masked.index("<h2>Signaux</h2>") :]
    shown = shown[: shown.index("</table>")]
    assert "Le certificat OEA " in shown and "est suspendu" in shown
    assert name not in masked and party_id not in masked and number not in shown


def test_transit_alerts_in_french_on_the_declaration_and_transit_pages(client_for: Any, site: Site) -> None:
    assert site.send_held_back() > 0  # the truck whose e-seal is opened outside every customs zone
    officer = client_for("officer")
    reference = site.references["transit"]
    french = html.unescape(officer.get(f"/ui/declarations/{reference}", headers={"Accept-Language": "fr"}).text)
    alerts_block = french[french.index("<h2>Mouvements de transit et alertes IoT</h2>") :]
    assert "Scellé électronique ouvert hors zone douanière\u202f: Le scellé électronique" in alerts_block
    assert "hors de toute zone autorisée" in alerts_block and "outside every authorised zone" not in alerts_block
    signals_block = french[french.index("<h2>Signaux</h2>") : french.index("<h2>Mouvements de transit")]
    assert "Scellé électronique ouvert hors zone douanière" in signals_block
    assert "a été ouvert" in signals_block and "<td>critique</td>" in signals_block
    transit = html.unescape(officer.get(f"/ui/transits/{HELD_BACK}", headers={"Accept-Language": "fr"}).text)
    assert "Scellé électronique ouvert hors zone douanière</strong>: Le scellé électronique" in transit
    english = html.unescape(officer.get(f"/ui/transits/{HELD_BACK}", headers={"Accept-Language": "en"}).text)
    assert "E-seal opened outside a customs zone</strong>: E-seal " in english


def test_gate_reasons_and_api_alerts_in_french(client_for: Any, site: Site) -> None:
    officer = client_for("officer")
    gates = html.unescape(officer.get("/ui/gates", headers={"Accept-Language": "fr"}).text)
    assert "Plaque lue NL-99-XYZ ; les déclarations attendent" in gates  # the plate-mismatch scenario
    assert "Aucune déclaration ne mentionne le véhicule DE-UN-123" in gates
    assert "the declarations expect" not in gates and "no declaration names vehicle" not in gates

    api = client_for(None)
    api.headers["Authorization"] = f"Bearer {site.tokens['officer']}"
    alerts = api.get("/iot/alerts", params={"context_type": "transit"}, headers={"Accept-Language": "fr"})
    assert alerts.status_code == 200, alerts.text
    rows = alerts.json()
    assert rows and all(row["text"] and row["kind_label"] for row in rows)
    assert any(row["text"].startswith(("Le véhicule", "Aucune position")) for row in rows)
    assert all(not row["reason"][0].isupper() for row in rows)  # the stored English reason is kept as it was
    english = api.get("/iot/alerts", params={"context_type": "transit"}, headers={"Accept-Language": "en"})
    assert {row["kind_label"] for row in english.json()} & {"GPS silence", "Corridor deviation", "Long stop"}
    queue = api.get("/iot/gate/queue", headers={"Accept-Language": "fr"}).json()
    assert any("Plaque lue NL-99-XYZ" in r["text"] for d in queue for r in d["reasons"])

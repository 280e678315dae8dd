"""The demo's ledger, documents, IoT and users: every pillar seeded with data that matches the generated declarations.

Everything goes through the pillars' services, as an installation's would:

- **ledger**: this administration's log with AEO certificates for some of the declarations' importers and
  declarants (their declared certificate numbers; some suspended, one revoked), and a partner administration's
  log, kept by a second node with its own key under ``<demo>/partner-<CODE>/``, replicated into ours by
  ``ledger.pull`` over the partner's real HTTP API (in-process), as a partner's log is replicated in production;
- **documents**: certificates of origin for declarations that claim a preference with one (one revoked, one
  listing other goods than those declared), and the origin check of those declarations (signals);
- **iot**: trucks moving declared sea containers under transit with e-seals and GPS trackers (one seal opened
  outside a customs zone, one truck off its corridor), gate passages of declared road vehicles (one plate read
  that does not match), AIS tracks of declared vessels (one port call, one AIS gap) analysed, and a scan reviewed
  as suspicious;
- **users**: one sign-in per role, with a token, and a password for staff.

The fixed content is in ``data/pillars.toml``; what must match the declarations is chosen from them, in the
generator's order, so the same seed gives the same choices.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import secrets
import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opencustoms.context import Platform
from opencustoms.progress import Progress, or_none
from opencustoms.security import service as security

DATA = Path(__file__).parent / "data" / "pillars.toml"
STAFF_ROLES = ("officer", "risk_analyst", "administrator", "supervisor", "data_protection_officer")
_AEO_TYPES = {"F": "both", "C": "simplification", "S": "security"}


def load_config(path: Path = DATA) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


# --- what the declarations offer ------------------------------------------------------------------------------------


@dataclass
class Picks:
    """What the seeding needs from the generated declarations, chosen in their order (deterministic per seed)."""

    aeo: dict[str, list[tuple[dict[str, Any], str]]] = field(default_factory=dict)  # status -> [(party, kind)]
    exporters: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # country -> parties
    origin: list[dict[str, Any]] = field(default_factory=list)  # declarations claiming a preference with a CoO
    sea: list[tuple[str, str]] = field(default_factory=list)  # (reference, container) of sea declarations
    road: list[tuple[str, str, str]] = field(default_factory=list)  # (reference, plate, container)
    vessels: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (mmsi, imo, name) -> declarations
    shipped: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # country -> imports in containers from it


def pick(declarations: Iterable[dict[str, Any]], config: dict[str, Any]) -> Picks:
    """Choose AEO holders, exporters, certificates of origin, containers, plates and vessels from
    ``declarations`` (the generator's dicts)."""
    picks = Picks()
    seen_parties: set[str] = set()
    wanted = config["ledger"]
    limits = {"certified": wanted["certified"], "suspended": wanted["suspended"], "revoked": wanted["revoked"]}
    limits["certified"] += wanted["revoked"] + wanted["suspended"]  # to make up for too few declared ones
    n_origin = config["documents"]["certificates"]
    for data in declarations:
        for role in ("importer", "declarant"):
            party = data.get(role) or {}
            status, number = party.get("aeo_status"), party.get("aeo_certificate_id")
            if status in limits and number and party["id"] not in seen_parties:
                chosen = picks.aeo.setdefault(status, [])
                if len(chosen) < limits[status]:
                    chosen.append((party, number))
                    seen_parties.add(party["id"])
        exporter = data.get("exporter")
        if exporter and exporter["country_code"] in config["partner"]["candidates"]:
            known = picks.exporters.setdefault(exporter["country_code"], [])
            if len(known) < config["partner"]["certificates"] and exporter["id"] not in {p["id"] for p in known}:
                known.append(exporter)
        transport = data.get("transport") or {}
        containers = transport.get("container_ids") or []
        if exporter and exporter["country_code"] in config["partner"]["candidates"] and containers:
            shipped = picks.shipped.setdefault(exporter["country_code"], [])
            if len(shipped) < config["exchange"]["records"]:
                shipped.append(data)
        claims = {
            (g.get("preference") or {}).get("proving_document_id") for g in data["goods_items"] if g.get("preference")
        }
        if len(picks.origin) < n_origin and claims - {None} and data.get("exporter") and data.get("importer"):
            picks.origin.append(data)
        if transport.get("mode_code") == "1" and transport.get("vessel_mmsi"):
            picks.vessels[(transport["vessel_mmsi"], transport.get("vessel_imo") or "", transport["id"])] += 1
            if containers and len(picks.sea) < len(config["iot"]["trucks"]):
                picks.sea.append((data["functional_reference_id"], containers[0]))
        if transport.get("mode_code") == "3" and containers and len(picks.road) < config["iot"]["gate_passages"]:
            picks.road.append((data["functional_reference_id"], transport["id"], containers[0]))
    return picks


# --- the documents pillar's identity --------------------------------------------------------------------------------


@contextlib.contextmanager
def demo_issuer(config: dict[str, Any]) -> Iterator[None]:
    """The demo's explicit issuer identity (name, DNS-TXT domain, store address) for the documents pillar while
    the demo runs: set as its OPENCUSTOMS_DOCUMENTS_* settings, restored on exit."""
    from opencustoms.documents.config import get_document_settings

    values = {
        f"OPENCUSTOMS_DOCUMENTS_{key.upper()}": str(config["documents"][key])
        for key in ("issuer_name", "identity_domain", "store_address")
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    get_document_settings.cache_clear()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_document_settings.cache_clear()


# --- ledger -----------------------------------------------------------------------------------------------------------


def _holder(party: dict[str, Any]) -> dict[str, Any]:
    address = party["address"]
    holder = {
        "name": party["name"],
        "id": party["id"],
        "address": {k: address[k] for k in ("line", "city_name", "postcode_id", "country_code") if address.get(k)},
        "country_code": party["country_code"],
    }
    if party.get("tax_id"):
        holder["tax_id"] = party["tax_id"]
    return holder


def _aeo_type(number: str) -> str:
    """The certificate's type from its number (``NLAEOF…``: F full, C customs simplifications, S security)."""
    kind = number[5:6] if number[2:5] == "AEO" else ""
    return _AEO_TYPES.get(kind, "both")


def _certificate(party: dict[str, Any], number: str, kind: str, issued: dt.date) -> Any:
    from opencustoms.ledger.entries import AEOCertificate

    return AEOCertificate.model_validate(
        {"certificate_number": number, "holder": _holder(party), "type": kind, "issue_date": issued.isoformat()}
    )


def seed_ledger(
    platform: Platform, operator: security.Identity, picks: Picks, config: dict[str, Any], progress: Progress
) -> dict[str, Any]:
    """This administration's log: certificates for the picked holders, with the declared suspensions and one
    revocation (a certified holder when no declared revoked one was met)."""
    from opencustoms.ledger import service as ledger
    from opencustoms.ledger.keys import KeyStore

    cfg = config["ledger"]
    code = platform.administration_code
    keys = KeyStore.for_data_dir(platform.settings.data_dir)
    ledger.init_log(platform.engine, operator, keys, code)
    ledger.certify_officer(platform.engine, operator, keys, cfg["officer"])
    officer = ledger.local_officer(code, cfg["officer"])
    # the declared statuses where the declarations offer enough holders; else certified holders make up the
    # numbers (the ledger, not the declaration, is then right: the declaration still claims certified)
    spare = list(picks.aeo.get("certified", []))
    revoked = picks.aeo.get("revoked", [])[: cfg["revoked"]]
    suspended = picks.aeo.get("suspended", [])[: cfg["suspended"]]
    for chosen, wanted in ((revoked, cfg["revoked"]), (suspended, cfg["suspended"])):
        while len(chosen) < wanted and len(spare) > 1:
            chosen.append(spare.pop())
    certified = spare[: cfg["certified"]]
    everyone = certified + suspended + revoked
    progress.phase("ledger: issuing AEO certificates", len(everyone))
    first = dt.date.fromisoformat(cfg["first_issue_date"])
    for k, (party, number) in enumerate(everyone):
        issued = first + dt.timedelta(days=30 * k)
        ledger.issue(platform.engine, officer, keys, _certificate(party, number, _aeo_type(number), issued))
        progress.advance()
    for _, number in suspended:
        ledger.change_status(platform.engine, officer, keys, "suspend", number, cfg["suspend_reason"])
    for _, number in revoked:
        ledger.change_status(platform.engine, officer, keys, "revoke", number, cfg["revoke_reason"])
    return {
        "origin": ledger.own_log(platform.engine).origin,
        "certified": [n for _, n in certified],
        "suspended": [n for _, n in suspended],
        "revoked": [n for _, n in revoked],
    }


def seed_partner(
    platform: Platform, operator: security.Identity, picks: Picks, config: dict[str, Any], progress: Progress
) -> dict[str, Any] | None:
    """A partner administration's node (its own database, data folder and keys) issuing certificates for the
    declarations' exporters of its country; this node registers its log and replicates it with ``ledger.pull``
    through the partner's HTTP API."""
    import warnings

    from opencustoms.config import Settings
    from opencustoms.ledger import service as ledger
    from opencustoms.ledger.keys import KeyStore

    cfg = config["partner"]
    code = next((c for c in cfg["candidates"] if picks.exporters.get(c)), None)
    if code is None:
        return None
    progress.phase(f"ledger: partner administration {code}, its log replicated here", None)
    directory = platform.settings.data_dir / f"partner-{code}"
    directory.mkdir(parents=True, exist_ok=True)
    partner = Platform(
        Settings(database_url=f"sqlite:///{directory / 'partner.db'}", data_dir=directory, administration=code)
    )
    engine = partner.initialise()
    security.ensure_administration(engine, code, cfg["name"], code)
    partner_operator = security.local_operator(code)
    partner_keys = KeyStore.for_data_dir(directory)
    ledger.init_log(engine, partner_operator, partner_keys, code)
    ledger.certify_officer(engine, partner_operator, partner_keys, cfg["officer"])
    officer = ledger.local_officer(code, cfg["officer"])
    first = dt.date.fromisoformat(config["ledger"]["first_issue_date"])
    numbers = []
    for k, party in enumerate(picks.exporters[code]):
        number = f"{code}AEO{k + 1:06d}"
        certificate = _certificate(party, number, "both", first + dt.timedelta(days=45 * k))
        ledger.issue(engine, officer, partner_keys, certificate)
        numbers.append(number)
    for number in numbers[: cfg["suspended"]]:
        ledger.change_status(engine, officer, partner_keys, "suspend", number, cfg["suspend_reason"])
    # the partner gives this node an account and a token; this node registers the partner's log with it
    own = platform.administration_code
    security.ensure_administration(engine, own, f"Customs {own}", own)
    username = f"node-{own.lower()}"
    security.create_user(engine, partner_operator, username, own, ["partner"], f"{own}'s ledger node")
    token = security.issue_token(engine, partner_operator, username, "demo replication")
    keys = KeyStore.for_data_dir(platform.settings.data_dir)
    verifier_key = ledger.own_log(engine).verifier_key
    origin = ledger.add_partner(platform.engine, operator, keys, verifier_key, None, code, token)["origin"]
    with warnings.catch_warnings():  # starlette's TestClient warns about a future httpx package
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from opencustoms.api import create_app

    with TestClient(
        create_app(partner),
        base_url=f"http://{code.lower()}.partner.invalid",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        pulled = ledger.pull(platform.engine, operator, keys, origin, clients={origin: client})
    engine.dispose()
    return {"code": code, "origin": origin, "certificates": numbers, "suspended": numbers[: cfg["suspended"]]} | {
        "pulled": pulled
    }


# --- exchange -------------------------------------------------------------------------------------------------------


def _fresh_container(k: int) -> str:
    """A valid ISO 6346 number no generated declaration carries (owner code ZZX)."""
    from opencustoms.reference import codes

    for digit in range(10):
        try:
            return codes.check_container_number(f"ZZXU{k:06d}{digit}")
        except ValueError:
            continue
    raise ValueError(f"no check digit for ZZXU{k:06d}")  # every serial has exactly one


def _export_of(
    data: dict[str, Any], reference: str, code: str, days_before: int, cfg: dict[str, Any]
) -> dict[str, Any]:
    """The partner's export declaration of the consignment our import ``data`` declares: same parties, containers,
    goods, mass and quantity; the value at the exporting border (FOB = our CIF / freight_factor)."""
    accepted = dt.date.fromisoformat(str(data["acceptance_date"])) - dt.timedelta(days=days_before)
    transport = data["transport"]
    return {
        "functional_reference_id": reference,
        "type_code": "export",
        "acceptance_date": accepted.isoformat(),
        "declaration_office_id": f"{code}EXP01",
        "declarant": data["exporter"],
        "exporter": data["exporter"],
        "importer": data["importer"],
        "transport": {
            "mode_code": transport["mode_code"],
            "container_ids": list(transport["container_ids"]),
            "unloading_location": transport.get("unloading_location"),
        },
        "goods_items": [
            {
                "sequence_number": g["sequence_number"],
                "hs_code": str(g["hs_code"])[:6],
                "quantity": g.get("quantity"),
                "quantity_unit": g.get("quantity_unit"),
                "net_mass_kg": g.get("net_mass_kg"),
                "customs_value_amount": f"{float(g['customs_value_amount']) / cfg['freight_factor']:.2f}",
                "customs_value_currency": g["customs_value_currency"],
                "origin_country_code": g["origin_country_code"],
            }
            for g in data["goods_items"]
        ],
    }


def seed_exchange(
    platform: Platform,
    operator: security.Identity,
    picks: Picks,
    code: str,
    config: dict[str, Any],
    progress: Progress,
) -> dict[str, Any] | None:
    """The partner administration's node sends this node, signed, its export declarations of a share of our imports
    from its country — some declared here at a fraction of their export value (undervaluation on import), some
    with another origin than the exporter's (false origin), and a few exports never declared here — through its
    outbox and our real HTTP API (in-process); this node verifies, stores, matches them and raises the mirror
    discrepancies as signals. Returns what was injected and how well matching found it."""
    import warnings

    from opencustoms.config import Settings
    from opencustoms.exchange import service as exchange
    from opencustoms.ledger import service as ledger
    from opencustoms.ledger.keys import KeyStore

    shipped = picks.shipped.get(code) or []
    if not shipped:
        return None
    cfg = config["exchange"]
    progress.phase(f"exchange: partner {code} sends its export declarations, matched to our imports", None)
    own = platform.administration_code
    directory = platform.settings.data_dir / f"partner-{code}"
    partner = Platform(
        Settings(database_url=f"sqlite:///{directory / 'partner.db'}", data_dir=directory, administration=code)
    )
    partner_operator = security.local_operator(code)
    partner_keys = KeyStore.for_data_dir(directory)
    # this node gives the partner an account to deliver with; the partner registers this node's key and address
    username = f"exchange-{code.lower()}"
    security.create_user(platform.engine, operator, username, code, ["partner"], f"{code}'s exchange node")
    token = security.issue_token(platform.engine, operator, username, "demo exchange")
    ledger.add_partner(
        partner.engine,
        partner_operator,
        partner_keys,
        ledger.own_log(platform.engine).verifier_key,
        f"http://{own.lower()}.demo.invalid",
        own,
        token,
    )
    from opencustoms.declarations import service as declarations

    truth: dict[str, dict[str, Any]] = {}
    undervalued = {d["functional_reference_id"] for d in shipped[: cfg["undervalued"]]}
    false_origin = {
        d["functional_reference_id"] for d in shipped[cfg["undervalued"] : cfg["undervalued"] + cfg["false_origin"]]
    }
    for k, data in enumerate(shipped):
        reference = f"{code}-EX-{k + 1:06d}"
        export = _export_of(data, reference, code, 5 + k % 10, cfg)
        kinds = []
        if data["functional_reference_id"] in undervalued:  # declared here at a fraction of the export value
            for g in export["goods_items"]:
                g["customs_value_amount"] = f"{float(g['customs_value_amount']) * cfg['undervaluation']:.2f}"
            kinds.append("exchange.value_below_export")
        if data["functional_reference_id"] in false_origin:  # the exporter says the goods come from elsewhere
            for g in export["goods_items"]:
                g["origin_country_code"] = code if g["origin_country_code"] != code else cfg["other_origin"]
            kinds.append("exchange.origin_mismatch")
        declarations.create(partner.engine, partner_operator, export)
        truth[reference] = {"import": data["functional_reference_id"], "kinds": kinds}
    earliest = min(dt.date.fromisoformat(str(d["acceptance_date"])) for d in shipped)
    never = []
    for k in range(cfg["never_declared"]):  # shipped to us, never declared here
        data = dict(shipped[k % len(shipped)])
        data["transport"] = dict(data["transport"]) | {"container_ids": [_fresh_container(k + 1)]}
        reference = f"{code}-EX-N{k + 1:05d}"
        days = (earliest - dt.date(earliest.year - 1, 1, 1)).days  # well before anything declared here
        declarations.create(partner.engine, partner_operator, _export_of(data, reference, code, days + k, cfg))
        never.append(reference)
    country = shipped[0]["importer"]["country_code"]  # our importers' country: where the exports are destined
    partners_there = exchange.directory(ledger.partner_directory(partner.engine, partner_keys))
    exchange.set_agreement(partner.engine, partner_operator, partners_there, own, country)
    queued = exchange.queue(partner.engine, partner_operator, ledger.signing_key(partner_keys), partners_there, own)
    with warnings.catch_warnings():  # starlette's TestClient warns about a future httpx package
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from opencustoms.api import create_app

    with TestClient(create_app(platform), base_url=f"http://{own.lower()}.demo.invalid") as client:
        client.headers["Authorization"] = f"Bearer {token}"
        while True:
            sent = exchange.deliver(partner.engine, partner_operator, partners_there, clients={own: client})
            if sent["pending"] == 0 or not (sent["acknowledged"] or sent["refused"]):
                break
    partner.engine.dispose()
    matched = exchange.run_matching(platform.engine, operator)
    received = exchange.inbox(platform.engine, operator, platform.pseudonymiser, sender=code, limit=1000)["items"]
    return {
        "code": code,
        "queued": queued["queued"],
        "matched": matched,
        "quality": _quality(received, truth, never),
        "truth": truth,
        "never_declared": never,
    }


def _quality(received: list[dict[str, Any]], truth: dict[str, dict[str, Any]], never: list[str]) -> dict[str, Any]:
    """How well matching found what the demo injected: precision and recall of the matches, and per discrepancy
    kind, the injected declarations it flagged (recall) and the others it flagged (false alarms)."""
    found = {i["reference"]: i for i in received}
    matched = {r: i["match"]["declaration_reference"] for r, i in found.items() if i["match"]}
    correct = sum(1 for r, d in matched.items() if r in truth and truth[r]["import"] == d)
    kinds: dict[str, dict[str, int]] = {}
    for reference, item in found.items():
        flagged = {d["kind"] for d in (item["match"] or {}).get("discrepancies", [])}
        injected = set(truth.get(reference, {}).get("kinds", []))
        for kind in flagged | injected:
            tally = kinds.setdefault(kind, {"injected": 0, "found": 0, "false_alarms": 0})
            tally["injected"] += kind in injected
            tally["found"] += kind in injected and kind in flagged
            tally["false_alarms"] += kind in flagged and kind not in injected
    return {
        "matches": len(matched),
        "match_precision": round(correct / len(matched), 3) if matched else None,
        "match_recall": round(correct / len(truth), 3) if truth else None,
        "never_declared_found": sum(1 for r in never if found.get(r, {}).get("match_status") == "not_declared"),
        "never_declared": len(never),
        "discrepancies": kinds,
    }


# --- documents --------------------------------------------------------------------------------------------------------


def _trader(party: dict[str, Any]) -> dict[str, Any]:
    address = party.get("address") or {}
    return {
        "id": party["id"],
        "name": party["name"],
        "address_line": address.get("line"),
        "city_name": address.get("city_name"),
        "country_code": party["country_code"],
    }


def _origin_certificate(data: dict[str, Any], config: dict[str, Any], mismatch: bool) -> dict[str, Any]:
    cfg = config["documents"]
    items = [g for g in data["goods_items"] if g.get("preference")]
    number = items[0]["preference"]["proving_document_id"]
    document = next(d for d in data["additional_documents"] if d["id"] == number)
    country = document.get("issuer_country_code") or items[0]["origin_country_code"]
    declared = {g["hs_code"][:6] for g in data["goods_items"]}
    other = next(h for h in cfg["mismatch_hs"] if h not in declared)
    transport = data.get("transport") or {}
    invoice = next((d["id"] for d in data["additional_documents"] if d["type_code"] == "380"), None)
    return {
        "id": number,
        "issue_date": document["issue_date"],
        "fta": items[0]["preference"]["agreement"],
        "exporter": _trader(data["exporter"]),
        "importer": _trader(data["importer"]),
        "consignment": {
            "transport_mode_code": transport.get("mode_code"),
            "transport_means": transport.get("id"),
            "loading_location": transport.get("loading_location"),
            "unloading_location": transport.get("unloading_location"),
            "destination_country_code": data["importer"]["country_code"],
            "invoice_number": invoice,
        },
        "goods_items": [
            {
                "sequence_number": k + 1,
                "hs_code": other if mismatch else g["hs_code"][:6],
                "description": g["description"],
                "quantity": g.get("quantity"),
                "quantity_unit": g.get("quantity_unit"),
                "gross_mass_kg": g.get("gross_mass_kg"),
                "origin_country_code": g["origin_country_code"],
                "origin_criterion": cfg["origin_criterion"],
            }
            for k, g in enumerate(items)
        ],
        "issuing_authority": {"name": cfg["authority"].format(country=country), "country_code": country},
    }


def seed_documents(
    platform: Platform, operator: security.Identity, picks: Picks, config: dict[str, Any], progress: Progress
) -> dict[str, Any]:
    """Certificates of origin for the picked declarations, issued as one batch; the last is revoked, the one before
    lists other goods than those declared. Then each declaration's origin check (its signals)."""
    from opencustoms.declarations import service as declarations
    from opencustoms.documents import service as documents

    chosen = picks.origin
    if not chosen:
        return {"issued": [], "revoked": None, "mismatch": None, "checks": {}}
    progress.phase("documents: issuing certificates of origin, checking the preference claims", len(chosen) + 1)
    mismatch = len(chosen) - 2 if len(chosen) >= 2 else None
    records = [_origin_certificate(d, config, k == mismatch) for k, d in enumerate(chosen)]
    documents.issue(platform.engine, operator, "certificate_of_origin", records)
    progress.advance()
    revoked = records[-1]["id"]
    documents.revoke(platform.engine, operator, revoked, config["documents"]["revoke_reason"])
    checks: dict[str, str] = {}
    for data in chosen:
        reference = data["functional_reference_id"]
        declaration, _ = declarations.get(
            platform.engine, operator, reference, platform.pseudonymiser, purpose="demo origin check"
        )
        for check in documents.check_declaration_origin(platform.engine, operator, declaration):
            checks[reference] = check.verdict
        progress.advance()
    return {
        "issued": [r["id"] for r in records],
        "revoked": revoked,
        "mismatch": records[mismatch]["id"] if mismatch is not None else None,
        "checks": checks,
    }


# --- IoT --------------------------------------------------------------------------------------------------------------


def _ensure_zones(engine: Any, operator: security.Identity) -> None:
    from opencustoms.iot import service as iot
    from opencustoms.iot import simulator

    known = {z["zone_id"] for z in iot.list_zones(engine, operator)}
    for zone_id, name, kind, geometry in (
        ("NLRTM-EXIT", "Rotterdam port exit", "customs_office", simulator.DEPARTURE),
        ("NLVEN-OFFICE", "Venlo inland office", "customs_office", simulator.DESTINATION),
        ("NLRTM-PORT", "Port of Rotterdam", "port", simulator.PORT),
    ):
        if zone_id not in known:
            iot.add_zone(engine, operator, zone_id, name, kind, geometry)


def _vessel_lines(
    vessels: list[tuple[str, str, str]], now: dt.datetime, callsign_prefix: str
) -> tuple[list[str], dict[str, str]]:
    """AIS of the picked vessels over the last 24 hours: the first calls at the port (inside its zone for about
    six hours), the second goes dark for 13 hours, the third steams past; a static report names each."""
    from opencustoms.iot import simulator

    port = simulator.PORT
    start = now - dt.timedelta(hours=24)
    lines: list[str] = []
    story: dict[str, str] = {}
    for k, (mmsi, imo, name) in enumerate(vessels):
        mmsi_n = int(mmsi)
        when = start
        if imo.isdigit():
            lines += simulator.ais_static_lines(mmsi_n, start, int(imo), name[:20], f"{callsign_prefix}{k + 1:04d}")
        for step in range(6 * 23):  # a position every 10 minutes
            when = start + dt.timedelta(minutes=10 * step)
            hours = step / 6
            if k == 0:  # approaches from the west, calls at the port between hours 10 and 16, leaves
                story[mmsi] = "port call"
                if hours < 10:
                    lat, lon, speed = port["latitude"], port["longitude"] - 0.05 * (10 - hours), 10.0
                elif hours < 16:
                    lat, lon, speed = port["latitude"], port["longitude"], 0.0
                else:
                    lat, lon, speed = port["latitude"] + 0.05 * (hours - 16), port["longitude"] - 0.1, 10.0
            elif k == 1:  # silent from hour 4 to hour 17
                story[mmsi] = "AIS gap"
                if 4 <= hours < 17:
                    continue
                lat, lon, speed = 51.80, 2.5 + hours * 0.04, 12.0
            else:
                story[mmsi] = "passage"
                lat, lon, speed = 51.60 + 0.01 * k, 2.0 + hours * 0.05, 14.0
            lines += simulator.ais_position_lines(mmsi_n, when, round(lat, 5), round(lon, 5), speed)
    return lines, story


def seed_iot(
    platform: Platform, operator: security.Identity, picks: Picks, config: dict[str, Any], progress: Progress
) -> dict[str, Any]:
    """Transits of declared sea containers, gate passages of declared road vehicles and AIS tracks of declared
    vessels, fed through IoT ingestion as their devices would send them; then the vessels' analysis."""
    from opencustoms.iot import service as iot
    from opencustoms.iot import simulator
    from opencustoms.iot.events import DeviceType

    cfg = config["iot"]
    engine = platform.engine
    _ensure_zones(engine, operator)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rng = random.Random(len(picks.sea) * 7919 + len(picks.road))
    messages: list[simulator.Message] = []
    transits = []
    progress.phase("IoT: transits, gate passages and vessels", None)
    departure = now - dt.timedelta(hours=cfg["trip_ended_hours_ago"]) - dt.timedelta(minutes=150)
    for k, ((scenario, plate), (reference, container)) in enumerate(zip(cfg["trucks"], picks.sea, strict=False)):
        seal, tracker = f"DEMO-ESEAL-{k + 1:02d}", f"DEMO-GPS-{k + 1:02d}"
        iot.register_device(engine, operator, seal, DeviceType.E_SEAL.value, attributes={"format": "eseal_text"})
        iot.register_device(
            engine, operator, tracker, DeviceType.GPS_TRACKER.value, attributes={"format": "flespi_json"}
        )
        movement = f"DEMO-MOV-{k + 1:02d}"
        iot.create_transit(
            engine,
            operator,
            {
                "movement_id": movement,
                "functional_reference_id": reference,
                "vehicle_id": plate,
                "container_ids": [container],
                "seal_device_ids": [seal],
                "tracker_device_ids": [tracker],
                "corridor": simulator.CORRIDOR,
                "tolerance_m": 500,
                "departure_zone_id": "NLRTM-EXIT",
                "destination_zone_id": "NLVEN-OFFICE",
                "departure_time": departure.isoformat(),
                "time_limit": (departure + dt.timedelta(hours=4)).isoformat(),
                "rules": {"gps_silence_s": 1200, "max_stop_s": 1800, "off_corridor_grace_s": 300},
            },
        )
        sent, _ = simulator.truck_messages(900 + k, scenario, seal, tracker, departure, rng)
        messages += sent
        transits.append({"movement_id": movement, "reference": reference, "scenario": scenario})
    gate = cfg["gate_id"]
    devices = (f"{gate}-LPR", f"{gate}-OCR", f"{gate}-RPM")
    for device_id, kind in zip(
        devices, (DeviceType.PLATE_CAMERA, DeviceType.CONTAINER_OCR_GATE, DeviceType.RADIATION_PORTAL), strict=True
    ):
        iot.register_device(
            engine, operator, device_id, kind.value, attributes={"gate_id": gate, "format": "native_json"}
        )
    passages = []
    for k, (reference, plate, container) in enumerate(picks.road):
        mismatch = k == len(picks.road) - 1
        read = cfg["mismatch_plate"] if mismatch else plate
        when = now - dt.timedelta(minutes=50 - 7 * k)
        messages += simulator.gate_messages(gate, f"DEMO{k + 1:04d}", when, devices, read, container)
        passages.append({"reference": reference, "plate": plate, "read": read})
    vessels = [v for v, _ in sorted(picks.vessels.items(), key=lambda kv: (-kv[1], kv[0]))[: cfg["vessels"]]]
    iot.register_device(
        engine, operator, "DEMO-AIS-RX", DeviceType.AIS_RECEIVER.value, attributes={"format": "nmea_ais"}
    )
    lines, story = _vessel_lines(vessels, now, cfg["vessel_callsign_prefix"])
    for i in range(0, len(lines), 200):
        messages.append(simulator.Message("DEMO-AIS-RX", "ais_receiver", "\n".join(lines[i : i + 200]), now))
    messages.sort(key=lambda m: m.device_time)
    report = iot.ingest_simulated(engine, operator, messages)
    iot.sweep(engine, operator, now)
    analysis = iot.analyse_vessels(engine, operator, port_zone_ids=["NLRTM-PORT"])
    progress.advance(len(messages))
    return {
        "events": len(messages),
        "alerts": len(report.summary()["alerts"]),
        "transits": transits,
        "passages": passages,
        "vessels": story,
        "vessel_alerts": [a["kind"] for a in analysis["alerts"] if a["context_id"] in story],
        "port_calls": [c for c in analysis["port_calls"] if c["mmsi"] in story],
    }


def review_scan(
    platform: Platform, operator: security.Identity, scans: list[dict[str, Any]], config: dict[str, Any]
) -> list[str]:
    """The image analyst's finding on the first scans with a concealed mass: suspicious."""
    from opencustoms.iot import service as iot

    cfg = config["iot"]
    reviewed = []
    for scan in [s for s in scans if s.get("anomaly")][: cfg["scans_reviewed"]]:
        iot.assign_scan(platform.engine, operator, scan["scan_id"])
        iot.record_finding(platform.engine, operator, scan["scan_id"], "suspicious", cfg["scan_finding_notes"])
        reviewed.append(scan["scan_id"])
    return reviewed


# --- users ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignIn:
    username: str
    role: str
    full_name: str
    token: str
    password: str | None  # staff only; machine accounts (partner, device) sign in with their token


def create_users(
    platform: Platform, operator: security.Identity, config: dict[str, Any], partner_code: str | None
) -> list[SignIn]:
    """One account per role with an API token (30 days), and for staff a password (printed once; random)."""
    from opencustoms.security.roles import Role

    accounts = config["users"]["accounts"]
    missing = {r.value for r in Role} - {role for _, role, _ in accounts}
    if missing:  # a role added to the security package must get a demo account here
        raise ValueError(f"data/pillars.toml [users] has no account for the roles {', '.join(sorted(missing))}")
    out = []
    for username, role, full_name in accounts:
        code = platform.administration_code
        if role == "partner" and partner_code:
            code = partner_code  # the account a partner administration's node replicates this node's log with
        security.create_user(platform.engine, operator, username, code, [role], full_name)
        token = security.issue_token(platform.engine, operator, username, "demo", valid_days=30)
        password = None
        if role in STAFF_ROLES:
            password = "-".join(secrets.token_hex(3) for _ in range(3))  # 20 characters, 72 bits
            security.set_password(platform.engine, operator, username, password, platform.settings)
        out.append(SignIn(username, role, full_name, token, password))
    return out


# --- the whole -------------------------------------------------------------------------------------------------------


def seed(
    platform: Platform,
    operator: security.Identity,
    declarations: Iterable[dict[str, Any]],
    progress: Progress | None = None,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Seed the ledger (with a replicated partner log), documents and IoT from ``declarations`` (the generator's
    dicts of the imported declarations). Returns what was seeded, for the summary and the check."""
    config = config or load_config()
    progress = or_none(progress)
    picks = pick(declarations, config)
    ledger = seed_ledger(platform, operator, picks, config, progress)
    partner = seed_partner(platform, operator, picks, config, progress)
    exchange = None
    if partner is not None:
        security.ensure_administration(platform.engine, partner["code"], config["partner"]["name"], partner["code"])
        exchange = seed_exchange(platform, operator, picks, partner["code"], config, progress)
    documents = seed_documents(platform, operator, picks, config, progress)
    iot = seed_iot(platform, operator, picks, config, progress)
    return {"ledger": ledger, "partner": partner, "exchange": exchange, "documents": documents, "iot": iot}

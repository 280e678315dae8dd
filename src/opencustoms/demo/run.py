"""`opencustoms demo`: the main job on embedded defaults.

Generates seeded synthetic declarations (see docs/demo-data.md), writes them as a flat CSV, imports that file
through the same pipeline as any other import into a fresh SQLite database under ./var/demo/, seeds the other
pillars from those declarations (ledger with a replicated partner log, certificates of origin, transits, gate
reads, vessels, scans: see ``pillars``), creates one user per role with an API token (and a password for staff),
and serves the API and the dashboard. ``--check`` runs the same pipeline headless and verifies every pillar through
the API in-process, for CI and newcomers.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console

from opencustoms.config import Settings
from opencustoms.context import Platform
from opencustoms.declarations import service as declarations
from opencustoms.declarations.layouts import FLAT_COLUMNS, FlatLayout
from opencustoms.demo import pillars
from opencustoms.demo.generator import generate
from opencustoms.demo.live import SPEED, LiveDemo
from opencustoms.documents.service import record_issuer
from opencustoms.errors import OpenCustomsError
from opencustoms.model import Declaration
from opencustoms.security import service as security

DEMO_DIR = Path("var") / "demo"
COUNTRY = "NL"


class DemoCheckError(OpenCustomsError):
    status = 500
    title = "Demo check failed"


def write_dataset(directory: Path, count: int, seed: int, console: Console | None = None) -> tuple[Path, Path]:
    """Generated declarations as a flat CSV, and their ground truth (fraud, pattern, revenue at stake)."""
    csv_path, truth_path = directory / "declarations.csv", directory / "ground_truth.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as out, truth_path.open("w", newline="") as truth_out:
        writer = csv.DictWriter(out, fieldnames=list(FLAT_COLUMNS))
        writer.writeheader()
        truth = csv.writer(truth_out)
        truth.writerow(("functional_reference_id", "fraud", "pattern", "revenue_at_stake"))
        for data, t in generate(count, seed=seed, country=COUNTRY):
            writer.writerows(FlatLayout.to_records(Declaration.model_validate(data)))
            truth.writerow((t.functional_reference_id, int(t.fraud), t.pattern or "", t.revenue_at_stake))
    return csv_path, truth_path


def laned(
    platform: Platform,
    operator: security.Identity,
    truth_path: Path,
    seed: int,
    history: float = 0.6,
    inspected: float = 0.3,
) -> dict[str, Any]:
    """Give the demo a past: a random ``inspected`` share of the oldest ``history`` share of declarations was
    inspected (outcomes from the ground truth), the risk model learns from those results only, and every
    declaration that awaits a decision (not inspected) gets a lane with its reasons."""
    import random

    from opencustoms.risk import service as risk

    rows = list(csv.DictReader(truth_path.open()))
    rng = random.Random(seed)
    past = rows[: int(len(rows) * history)]  # the generator yields declarations in date order
    results = [
        declarations.InspectionResult(
            r["functional_reference_id"],
            "fraud" if r["fraud"] == "1" else "compliant",
            float(r["revenue_at_stake"]) if r["fraud"] == "1" else None,
        )
        for r in past
        if rng.random() < inspected
    ]
    declarations.record_inspections(platform.engine, operator, results, source="demo-history")
    model = risk.train_model(platform, operator, None, None, seed=seed, promote=True)
    summary = risk.score_backlog(platform, operator, seed=seed)
    return {"inspected": len(results), "model_version": model["version"], "lanes": summary["lanes"]}


def trained_hs_model(platform: Platform, operator: security.Identity, seed: int) -> dict[str, Any] | None:
    """The HS model learnt from the goods items the past inspections confirmed, promoted (None: too little history,
    as with a very small ``--count``; suggestions then come from the nomenclature texts)."""
    from opencustoms.classification import service as classification
    from opencustoms.classification.errors import ClassificationDataError

    try:
        return classification.train(platform, operator, promote=True, seed=seed)
    except ClassificationDataError:
        return None


def seed_scans(platform: Platform, operator: security.Identity, truth_path: Path, count: int = 4) -> list[Any]:
    """A few scan records with generated container images: fraudulent sea-container declarations get an anomaly
    (a dense mass inside the load), compliant ones a clean load; the newest declarations first."""
    from sqlalchemy import select

    from opencustoms.iot import service as iot
    from opencustoms.iot import simulator
    from opencustoms.store.tables import declaration_containers
    from opencustoms.store.tables import declarations as declarations_table

    rows = list(csv.DictReader(truth_path.open()))
    with platform.engine.connect() as conn:
        with_containers = set(
            conn.execute(
                select(declarations_table.c.functional_reference_id).join(
                    declaration_containers, declaration_containers.c.declaration_id == declarations_table.c.id
                )
            ).scalars()
        )
    fraud = [
        r["functional_reference_id"]
        for r in reversed(rows)
        if r["fraud"] == "1" and r["functional_reference_id"] in with_containers
    ]
    clean = [
        r["functional_reference_id"]
        for r in reversed(rows)
        if r["fraud"] == "0" and r["functional_reference_id"] in with_containers
    ]
    cases = [
        c
        for pair in zip(fraud[: count // 2], clean[: count - count // 2], strict=False)
        for c in ((pair[0], True), (pair[1], False))
    ]
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=2)
    store = iot.ScanStore.for_data_dir(platform.settings.data_dir)
    return simulator.build_scans(platform.engine, operator, store, start, cases)


def prepare(directory: Path, count: int, seed: int, console: Console) -> tuple[Platform, Any, list[Any]]:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    settings = Settings(database_url=f"sqlite:///{directory / 'demo.db'}", data_dir=directory, administration=COUNTRY)
    platform = Platform(settings)
    engine = platform.initialise()
    security.ensure_administration(engine, COUNTRY, "Demo customs administration", COUNTRY)
    operator = security.local_operator(COUNTRY)
    record_issuer(engine, operator, "Demo customs administration", "demo.opencustoms.example")  # documents' identity
    console.print(f"generating {count:,} declarations (seed {seed})")
    csv_path, truth_path = write_dataset(directory, count, seed, console)
    with console.status("importing them through the import pipeline"):
        report = declarations.import_file(engine, operator, csv_path)
    console.print(f"import {report.import_id}: {report.accepted:,} accepted, {report.rejected:,} rejected")
    if report.rejected:
        report.write_csv(directory / "import-problems.csv")
    with console.status("recording past inspections, training the risk model, laning the declarations"):
        risk = laned(platform, operator, truth_path, seed)
    console.print(
        f"risk: model {risk['model_version']} trained on {risk['inspected']:,} past inspections; lanes "
        + ", ".join(f"{lane} {n:,}" for lane, n in sorted(risk["lanes"].items()))
    )
    with console.status("training the HS model on the confirmed goods descriptions"):
        hs_model = trained_hs_model(platform, operator, seed)
    console.print(
        f"classification: HS model {hs_model['version']} trained on {hs_model['training_rows']:,} confirmed goods "
        f'items ({hs_model["classes"]} codes); try `opencustoms hs suggest "laptop computers"`'
        if hs_model
        else "classification: too few confirmed goods descriptions for an HS model; suggestions use the nomenclature"
    )
    with console.status("recording a few X-ray scans for the scan review queue"):
        scans = seed_scans(platform, operator, truth_path)
    console.print(
        f"scans: {len(scans)} X-ray scans waiting for review ({sum(1 for s in scans if s['anomaly'])} "
        "with a concealed mass)"
    )
    console.print(f"ground truth for the risk engine: {truth_path}")
    return platform, report, scans


def seed_pillars(
    platform: Platform, count: int, seed: int, scans: list[Any], console: Console, config: dict[str, Any]
) -> tuple[dict[str, Any], list[pillars.SignIn]]:
    """The ledger (with a partner's replicated log), certificates of origin, transits, gate reads, vessels and a
    reviewed scan, from the imported declarations (regenerated: same seed, same declarations); then one sign-in per
    role, written to tokens.txt and passwords.txt (0600)."""
    from opencustoms.cli.progress import RichProgress

    operator = platform.operator()
    generated = (data for data, _ in generate(count, seed=seed, country=COUNTRY))
    with RichProgress(console) as progress:
        seeded = pillars.seed(platform, operator, generated, progress, config)
        seeded["scans_reviewed"] = pillars.review_scan(platform, operator, scans, config)
        progress.phase("users: one per role, with a token and (staff) a password", None)
        partner = seeded["partner"]["code"] if seeded["partner"] else None
        sign_ins = pillars.create_users(platform, operator, config, partner)
        progress.finish("pillars seeded")
    ledger, partner_log, documents, iot = (seeded[k] for k in ("ledger", "partner", "documents", "iot"))
    console.print(
        f"ledger: {len(ledger['certified']) + len(ledger['suspended']) + len(ledger['revoked'])} AEO certificates "
        f"of the declarations' traders ({len(ledger['suspended'])} suspended, {len(ledger['revoked'])} revoked)"
        + (
            f"; partner {partner_log['code']}'s log replicated ({len(partner_log['certificates'])} certificates of "
            "its exporters)"
            if partner_log
            else ""
        )
    )
    console.print(
        f"documents: {len(documents['issued'])} certificates of origin (revoked {documents['revoked']}, failing the "
        f"origin check {documents['mismatch']}); origin checks: "
        + ", ".join(f"{v} {n}" for v, n in sorted(Counter(documents["checks"].values()).items()))
    )
    console.print(
        f"IoT: {len(iot['transits'])} transits, {len(iot['passages'])} gate passages, {len(iot['vessels'])} vessels "
        f"({', '.join(sorted(iot['vessel_alerts']))}; {len(iot['port_calls'])} port call), {iot['alerts']} alerts; "
        f"{len(seeded['scans_reviewed'])} scan reviewed as suspicious"
    )
    exchange = seeded.get("exchange")
    if exchange:
        quality, found = exchange["quality"], exchange["matched"]
        console.print(
            f"exchange: partner {exchange['code']} sent {exchange['queued']} signed export declarations; "
            f"{found['matched']} matched to our imports (precision {quality['match_precision']}, recall "
            f"{quality['match_recall']}), {quality['never_declared_found']} of {quality['never_declared']} never "
            "declared here found; discrepancies found / injected: "
            + ", ".join(
                f"{kind.removeprefix('exchange.')} {t['found']}/{t['injected']} ({t['false_alarms']} false)"
                for kind, t in sorted(quality["discrepancies"].items())
            )
        )
    for name, value in (("tokens.txt", lambda s: s.token), ("passwords.txt", lambda s: s.password)):
        path = Path(platform.settings.data_dir) / name
        path.write_text("".join(f"{s.username}\t{value(s)}\n" for s in sign_ins if value(s)))
        path.chmod(0o600)
    return seeded, sign_ins


def sign_in_table(sign_ins: list[pillars.SignIn], url: str) -> Any:
    """The demo's accounts as a table: who, which role, the password (staff). Tokens are printed apart, one per
    line and never wrapped (:func:`print_tokens`), so that they can be copied whole from any terminal."""
    from rich.table import Table

    table = Table(title=f"Sign in at {url} with a username and its password", title_justify="left")
    for column in ("username", "role", "password"):
        table.add_column(column, no_wrap=True)
    for s in sign_ins:
        table.add_row(s.username, s.role, s.password or "(machine account: token only)")
    return table


def print_tokens(console: Console, sign_ins: list[pillars.SignIn]) -> None:
    """Each account's API token on a line of its own, not wrapped by the terminal's width."""
    console.print("API tokens (for the API, or the sign-in page's token form):")
    for s in sign_ins:
        console.print(f"  {s.username:<16} {s.token}", soft_wrap=True, markup=False, highlight=False)


def relane_signalled(platform: Platform) -> int:
    """Lane again, online, every stored declaration a signal is about (a suspended or revoked AEO certificate, a
    revoked certificate of origin, a seal opened, a plate that does not match...): the pillars are seeded after the
    backlog was laned, and an officer should see those alerts among the reasons, as when they arrive in service."""
    from sqlalchemy import select

    from opencustoms import signals
    from opencustoms.risk import service as risk
    from opencustoms.store.tables import declarations as declarations_table

    with platform.engine.connect() as conn:
        references = list(conn.execute(select(declarations_table.c.functional_reference_id)).scalars())
        found = signals.for_stored(conn, references)
    # the alerts that move a lane (medium and above, see the lane policy); informational ones only add a reason
    concerned = sorted(
        r for r, found_ in found.items() if any(s.severity in ("medium", "high", "critical") for s in found_)
    )
    operator = platform.operator()
    for reference in concerned:
        risk.decide(platform, operator, reference)
    return len(concerned)


def prepare_with_tokens(
    directory: Path, count: int, seed: int, console: Console
) -> tuple[Platform, dict[str, str], Any]:
    """:func:`prepare` (declarations imported, past inspections, a model, lanes, scans) with the officer, analyst
    and administrator accounts and their API tokens — the installation the browser tests, the migration test and
    the API benchmark start from (the other pillars are not seeded)."""
    platform, report, _scans = prepare(directory, count, seed, console)
    operator = security.local_operator(COUNTRY)
    tokens = {}
    for username, role, full_name in pillars.load_config()["users"]["accounts"][:3]:
        security.create_user(platform.engine, operator, username, COUNTRY, [role], full_name)
        tokens[username] = security.issue_token(platform.engine, operator, username, "demo", valid_days=30)
    return platform, tokens, report


def verify(
    platform: Platform, tokens: dict[str, str], expected: int, live: LiveDemo, seeded: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Exercise the API in-process the way a client would; raise DemoCheckError on any surprise."""
    import warnings

    with warnings.catch_warnings():  # starlette's TestClient warns about a future httpx package
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from opencustoms.api import create_app

    def auth(user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[user]}"}

    with TestClient(create_app(platform)) as client:
        health = client.get("/health").json()
        if health.get("status") != "ok":
            raise DemoCheckError(f"health check failed: {health}")
        for user in tokens:
            me = client.get("/users/me", headers=auth(user))
            if me.status_code != 200 or me.json().get("username") != user:
                raise DemoCheckError(f"the token of {user} does not sign in: {me.status_code} {me.text[:200]}")
        page = client.get("/declarations", params={"limit": 5}, headers=auth("officer")).json()
        if page.get("total") != expected:
            raise DemoCheckError(f"the API lists {page.get('total')} declarations, {expected} were imported")
        imports = client.get("/declarations", params={"limit": 1, "type_code": "import"}, headers=auth("officer"))
        reference = imports.json()["items"][0]["functional_reference_id"]
        full = client.get(f"/declarations/{reference}", headers=auth("officer")).json()
        masked = client.get(f"/declarations/{reference}", headers=auth("analyst")).json()
        if full["pseudonymised"] or not masked["pseudonymised"]:
            raise DemoCheckError("pseudonymisation by role does not behave as documented")
        if masked["declaration"]["importer"]["id"] == full["declaration"]["importer"]["id"]:
            raise DemoCheckError("the analyst saw the real importer identifier")
        audit = client.get("/audit", params={"object_id": reference}, headers=auth("admin")).json()
        if not any(a["actor"] == "officer" and a["action"] == "read" for a in audit):
            raise DemoCheckError("the officer's read was not audited")
        red = client.get("/risk/queue", params={"lane": "red", "limit": 5}, headers=auth("officer")).json()
        if not red or not all(d.get("reasons") for d in red):
            raise DemoCheckError(f"the red lane should list declarations with their reasons: {red}")
        scans = client.get("/iot/scans", headers=auth("officer")).json()
        if not scans or not all(s["views"] for s in scans):
            raise DemoCheckError(f"the scan review queue should list scans with their images: {scans}")
        pillar_counts = verify_pillars(client, auth, seeded) if seeded is not None else {}
        counts = live.tick(until=live.started + dt.timedelta(hours=1))  # an hour of trips, a few new declarations
        if not counts["events"] or not counts["declarations"]:
            raise DemoCheckError(f"the live demo fed nothing: {counts}")
        page = client.get("/declarations", params={"limit": 1}, headers=auth("officer")).json()
        if page["total"] != expected + counts["declarations"]:
            raise DemoCheckError("the live declarations did not reach the API")
    return {"declarations": expected, "sample": reference, "live": counts, "pillars": pillar_counts}


def verify_pillars(client: Any, auth: Any, seeded: dict[str, Any]) -> dict[str, int]:
    """Every pillar has data, as the API serves it: AEO certificates (one suspended, one revoked) and a replicated
    partner log; the partner's export declarations received and an injected undervaluation found; certificates of
    origin (one revoked, one failing the origin check); transits, gate reads, vessels with their alerts; scans
    awaiting review and one reviewed; staff passwords sign in to the dashboard."""

    def get(path: str, user: str = "officer", **params: Any) -> Any:
        response = client.get(path, params=params, headers=auth(user))
        if response.status_code != 200:
            raise DemoCheckError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    logs = {log["role"]: log for log in get("/ledger/logs")}
    if not logs.get("own", {}).get("size"):
        raise DemoCheckError(f"this administration's AEO log is empty: {logs}")
    ledger = seeded["ledger"]
    for number, status in ((ledger["suspended"][0], "suspended"), (ledger["revoked"][0], "revoked")):
        found = get(f"/ledger/certificates/{number}")
        if found.get("status") != status:
            raise DemoCheckError(f"AEO certificate {number} should be {status}: {found}")
    partner = seeded["partner"]
    if partner is not None:
        replica = [log for log in get("/ledger/logs") if log["origin"] == partner["origin"]]
        if not replica or replica[0]["size"] <= 0:
            raise DemoCheckError(f"the partner's log {partner['origin']} was not replicated: {replica}")
        number = partner["certificates"][0]
        if get(f"/ledger/certificates/{number}", origin=partner["origin"]).get("certificate_number") != number:
            raise DemoCheckError(f"the partner's certificate {number} is not served from the replica")
    documents = seeded["documents"]
    if not documents["issued"]:
        raise DemoCheckError("no certificate of origin was issued")
    revoked = get(f"/documents/{documents['revoked']}")
    report = client.post("/documents/verify", json=revoked).json()
    if report.get("valid") is not False or "revoked" not in str(report):
        raise DemoCheckError(f"certificate of origin {documents['revoked']} should verify as revoked: {report}")
    valid = [n for n in documents["issued"] if n not in (documents["revoked"], documents["mismatch"])]
    if valid:
        report = client.post("/documents/verify", json=get(f"/documents/{valid[0]}")).json()
        if report.get("valid") is not True:
            raise DemoCheckError(f"certificate of origin {valid[0]} should verify: {report}")
    failing = [r for r, verdict in documents["checks"].items() if verdict == "mismatch"]
    if documents["mismatch"] and not failing:
        raise DemoCheckError(f"no declaration's preference claim failed the origin check: {documents['checks']}")
    for reference in failing[:1]:
        checks = client.post(f"/documents/origin-checks/{reference}", headers=auth("officer")).json()
        if not any(c.get("verdict") == "mismatch" for c in checks):
            raise DemoCheckError(f"the origin check of {reference} should fail: {checks}")
    transits = get("/iot/transits")
    seeded_transits = {t["movement_id"] for t in seeded["iot"]["transits"]}
    if not seeded_transits <= {t["movement_id"] for t in transits}:
        raise DemoCheckError(f"the transits {sorted(seeded_transits)} are not all served: {transits}")
    passages = [p for status in ("pending", "released", "inspect") for p in get("/iot/gate/queue", status=status)]
    if seeded["iot"]["passages"] and not passages:
        raise DemoCheckError("no gate read reached the gate queue")
    vessel_alerts = get("/iot/alerts", context_type="vessel", limit=1000)
    if not any(a["kind"] == "ais_gap" and a["context_id"] in seeded["iot"]["vessels"] for a in vessel_alerts):
        raise DemoCheckError(f"no AIS gap on the demo's vessels: {[a['kind'] for a in vessel_alerts]}")
    exchange = seeded.get("exchange")
    if exchange:
        received = get("/exchange/inbox", user="officer", sender=exchange["code"], limit=1000)["items"]
        if len(received) != exchange["queued"]:
            raise DemoCheckError(f"{exchange['queued']} export declarations sent, {len(received)} received")
        injected = [r for r, t in exchange["truth"].items() if "exchange.value_below_export" in t["kinds"]]
        flagged = {
            i["reference"]
            for i in received
            if i["match"] and any(d["kind"] == "exchange.value_below_export" for d in i["match"]["discrepancies"])
        }
        if injected and not flagged & set(injected):
            raise DemoCheckError(f"no injected undervaluation was found by the mirror: {injected}")
    reviewed = get("/iot/scans", status="reviewed")
    if seeded["scans_reviewed"] and not any(s["finding"] == "suspicious" for s in reviewed):
        raise DemoCheckError("no scan was reviewed as suspicious")
    return {
        "ledger_entries": int(logs["own"]["size"]),
        "partner_entries": int(logs.get("partner", {}).get("size") or 0),
        "documents": len(documents["issued"]),
        "transits": len(transits),
        "gate_passages": len(passages),
        "vessel_alerts": len(vessel_alerts),
        "scans": len(get("/iot/scans", status="all")),
    }


def check_passwords(platform: Platform, sign_ins: list[pillars.SignIn]) -> None:
    """Each staff password signs in to the dashboard (the sign-in form, in-process)."""
    import re
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from opencustoms.api import create_app

    with TestClient(create_app(platform)) as client:
        for s in sign_ins:
            if s.password is None:
                continue
            client.cookies.clear()
            form = client.get("/ui/login").text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
            answer = client.post(
                "/ui/login",
                data={
                    "method": "password",
                    "username": s.username,
                    "password": s.password,
                    "csrf_token": csrf.group(1) if csrf else "",
                },
                follow_redirects=False,
            )
            if answer.status_code not in (302, 303):
                raise DemoCheckError(f"{s.username}'s password does not sign in: {answer.status_code}")


def main(*, check: bool, count: int, seed: int, host: str, port: int, console: Console) -> None:
    config = pillars.load_config()
    with pillars.demo_issuer(config):  # the documents pillar issues and verifies as the demo's own issuer
        _main(check=check, count=count, seed=seed, host=host, port=port, console=console, config=config)


def _main(
    *, check: bool, count: int, seed: int, host: str, port: int, console: Console, config: dict[str, Any]
) -> None:
    platform, report, scans = prepare(DEMO_DIR, count, seed, console)
    live = LiveDemo(platform, platform.operator(), seed=seed)
    with console.status("registering e-seals, trucks, corridors, a gate and vessels for the live data"):
        live.prepare()
    seeded, sign_ins = seed_pillars(platform, count, seed, scans, console, config)
    with console.status("laning again the declarations the pillars raised alerts about"):
        relaned = relane_signalled(platform)
    console.print(f"risk: {relaned:,} declarations laned again with the alerts raised about them")
    tokens = {s.username: s.token for s in sign_ins}
    if check:
        result = verify(platform, tokens, report.accepted + live.registered, live, seeded)
        check_passwords(platform, sign_ins)
        counts = result["pillars"]
        console.print(
            f"demo check passed: {result['declarations']:,} declarations served, laned, audited and pseudonymised "
            f"by role; ledger {counts['ledger_entries']} entries (partner {counts['partner_entries']}), "
            f"{counts['documents']} certificates of origin, {counts['transits']} transits, {counts['gate_passages']} "
            f"gate decisions, {counts['vessel_alerts']} vessel alerts, {counts['scans']} scans; every role signs in; "
            f"live tick: {result['live']['events']} device events, {result['live']['declarations']} new declarations"
        )
        return
    import uvicorn

    from opencustoms.api import create_app

    live.run_forever()
    console.print(
        f"\nOpenCustoms demo: officer dashboard http://{host}:{port}/ui/, API docs http://{host}:{port}/docs, "
        f"public verification http://{host}:{port}/verify"
    )
    console.print(
        f"Live data: trucks replayed {int(SPEED)}x faster than real time, new declarations every few seconds."
    )
    console.print(sign_in_table(sign_ins, f"http://{host}:{port}/ui/"))
    print_tokens(console, sign_ins)
    console.print(
        f"Tokens also in {DEMO_DIR / 'tokens.txt'}, passwords in {DEMO_DIR / 'passwords.txt'} (both 0600); the "
        "partner and device accounts are machine accounts (token only)."
    )
    console.print("Press Ctrl-C to stop.\n")
    uvicorn.run(create_app(platform), host=host, port=port, log_level="warning")

"""`opencustoms demo`: the main job on embedded defaults.

Generates seeded synthetic declarations (see docs/demo-data.md), writes them as a flat CSV, imports that file
through the same pipeline as any other import into a fresh SQLite database under ./var/demo/, creates three demo
users with API tokens, and serves the API. ``--check`` runs the same pipeline headless and verifies it through the
API in-process, for CI and newcomers.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from rich.console import Console

from opencustoms.config import Settings
from opencustoms.context import Platform
from opencustoms.declarations import service as declarations
from opencustoms.declarations.layouts import FLAT_COLUMNS, FlatLayout
from opencustoms.demo.generator import generate
from opencustoms.demo.live import SPEED, LiveDemo
from opencustoms.documents.service import record_issuer
from opencustoms.errors import OpenCustomsError
from opencustoms.model import Declaration
from opencustoms.security import service as security

DEMO_DIR = Path("var") / "demo"
COUNTRY = "NL"
USERS = (
    ("officer", "officer", "Demo frontline officer"),
    ("analyst", "risk_analyst", "Demo risk analyst"),
    ("admin", "administrator", "Demo IT administrator"),
)


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


def prepare(directory: Path, count: int, seed: int, console: Console) -> tuple[Platform, dict[str, str], Any]:
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
    with console.status("recording a few X-ray scans for the scan review queue"):
        scans = seed_scans(platform, operator, truth_path)
    console.print(
        f"scans: {len(scans)} X-ray scans waiting for review ({sum(1 for s in scans if s['anomaly'])} "
        "with a concealed mass)"
    )
    tokens = {}
    for username, role, full_name in USERS:
        security.create_user(engine, operator, username, COUNTRY, [role], full_name)
        tokens[username] = security.issue_token(engine, operator, username, "demo", valid_days=30)
    (directory / "tokens.txt").write_text("".join(f"{u}\t{t}\n" for u, t in tokens.items()))
    (directory / "tokens.txt").chmod(0o600)
    console.print(f"ground truth for the risk engine: {truth_path}")
    return platform, tokens, report


def verify(platform: Platform, tokens: dict[str, str], expected: int, live: LiveDemo) -> dict[str, Any]:
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
        counts = live.tick(until=live.started + dt.timedelta(hours=1))  # an hour of trips, a few new declarations
        if not counts["events"] or not counts["declarations"]:
            raise DemoCheckError(f"the live demo fed nothing: {counts}")
        page = client.get("/declarations", params={"limit": 1}, headers=auth("officer")).json()
        if page["total"] != expected + counts["declarations"]:
            raise DemoCheckError("the live declarations did not reach the API")
    return {"declarations": expected, "sample": reference, "live": counts}


def main(*, check: bool, count: int, seed: int, host: str, port: int, console: Console) -> None:
    platform, tokens, report = prepare(DEMO_DIR, count, seed, console)
    live = LiveDemo(platform, platform.operator(), seed=seed)
    with console.status("registering e-seals, trucks, corridors, a gate and vessels for the live data"):
        live.prepare()
    if check:
        result = verify(platform, tokens, report.accepted + live.registered, live)
        console.print(
            f"demo check passed: {result['declarations']:,} declarations served, laned, audited and pseudonymised "
            f"by role; live tick: {result['live']['events']} device events, {result['live']['declarations']} new "
            "declarations"
        )
        return
    import uvicorn

    from opencustoms.api import create_app

    live.run_forever()
    console.print(
        f"\nOpenCustoms demo: officer dashboard http://{host}:{port}/ui/ (sign in with a username and its "
        f"token below), API docs http://{host}:{port}/docs, public verification http://{host}:{port}/verify"
    )
    console.print(
        f"Live data: trucks replayed {int(SPEED)}x faster than real time, new declarations every few seconds."
    )
    console.print(f"API tokens (also in {DEMO_DIR / 'tokens.txt'}):")
    for username, token in tokens.items():
        console.print(f"  {username:8} {token}")
    console.print("Press Ctrl-C to stop.\n")
    uvicorn.run(create_app(platform), host=host, port=port, log_level="warning")

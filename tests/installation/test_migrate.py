"""`opencustoms migrate --to URL`: a SQLite installation with every pillar's data (the demo's declarations,
inspections, model, decisions, scans, users and tokens; a profile, a ledger log with a certificate, an issued
document, a device and a zone) moves to PostgreSQL and to another SQLite file with every row, and the target still
checks out: same rows per table, the audit chain verifies (the move is its newest entry), a token authenticates,
the model scores, the ledger verifies. A non-empty target is refused and left as it was."""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from documents_helpers import SETTINGS, coo_record
from ledger_testnodes import LEDGER_OFFICER
from rich.console import Console
from risk_helpers import PROFILE
from sqlalchemy import select
from typer.testing import CliRunner

from opencustoms.config import Settings, get_settings
from opencustoms.context import Platform
from opencustoms.installation import service as installation
from opencustoms.installation.errors import TargetNotEmptyError
from opencustoms.security import service as security
from opencustoms.store.database import open_database
from opencustoms.store.tables import audit_log


def _certificate() -> Any:
    from opencustoms.ledger.entries import AEOCertificate

    address = {"line": "Maasboulevard 1", "city_name": "Rotterdam", "postcode_id": "3011", "country_code": "NL"}
    holder = {"name": "Tulip Trading BV", "id": "NL200000002", "country_code": "NL", "address": address}
    return AEOCertificate.model_validate(
        {
            "certificate_number": "NLAEOF0001",
            "holder": holder,
            "type": "both",
            "issue_date": "2024-01-10",
            "valid_until": "2029-01-09",
        }  # fmt: skip
    )


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A demo installation (300 declarations) with a profile, a ledger certificate, a document, a device, a zone."""
    from opencustoms.demo import run
    from opencustoms.documents import service as documents
    from opencustoms.iot import service as iot
    from opencustoms.ledger import service as ledger
    from opencustoms.ledger.keys import KeyStore
    from opencustoms.risk import service as risk

    directory = tmp_path_factory.mktemp("source") / "installation"
    platform, tokens, _report = run.prepare_with_tokens(directory, 300, 3, Console(quiet=True))
    engine, operator = platform.engine, security.local_operator("NL")
    risk.save_profile(engine, operator, PROFILE)
    keystore = KeyStore.for_data_dir(platform.settings.data_dir)
    ledger.init_log(engine, operator, keystore, "NL")
    ledger.certify_officer(engine, operator, keystore, LEDGER_OFFICER.username)
    ledger.issue(engine, LEDGER_OFFICER, keystore, _certificate())
    documents.issue(engine, operator, "coo", [coo_record("COO-MOVE-1")], SETTINGS)
    iot.register_device(engine, operator, "seal-1", "e_seal", label="e-seal on the Rotterdam transit")
    circle = {"type": "circle", "latitude": 51.9, "longitude": 4.1, "radius_m": 900}
    iot.add_zone(engine, operator, "port", "Port", "port", circle)
    security.sign_audit_head(engine, operator, security.audit_signing_key_file(platform.settings))
    counts = installation.row_counts(engine)
    return {"platform": platform, "tokens": tokens, "counts": counts}


@pytest.fixture
def target_settings(source: dict[str, Any], database_url: str, tmp_path: Path) -> Iterator[Settings]:
    yield Settings(database_url=database_url, data_dir=tmp_path / "moved", administration="NL")
    open_database.cache_clear()


def test_the_whole_installation_moves_and_still_checks_out(
    source: dict[str, Any], target_settings: Settings, tmp_path: Path
) -> None:
    from opencustoms.ledger import service as ledger
    from opencustoms.risk import service as risk

    platform: Platform = source["platform"]
    operator = security.local_operator("NL")
    seen: dict[str, tuple[int, int]] = {}
    report = installation.migrate(
        platform,
        operator,
        target_settings.database_url,
        data_dir=target_settings.data_dir,
        batch_rows=97,  # several batches per table
        progress=lambda table, done, total: seen.__setitem__(table, (done, total)),
    )
    moved = Platform(target_settings)
    counts = installation.row_counts(moved.engine)
    expected = source["counts"] | {"audit_log": source["counts"]["audit_log"] + 1}  # + the move itself
    assert counts == expected
    for table in ("declarations", "inspection_results", "risk_decisions", "risk_models", "risk_profiles",
                  "ledger_entries", "issued_documents", "iot_devices", "iot_zones", "iot_scans", "users",
                  "api_tokens", "audit_log", "audit_signed_heads"):  # fmt: skip
        assert counts[table] > 0, table
    assert report.tables == {name: n for name, n in source["counts"].items()}
    assert all(done == total for done, total in seen.values()) and set(seen) == set(report.tables)

    # the audit chain's newest entry is the move, and the chain verifies with the carried signing key
    with moved.engine.connect() as conn:
        last = conn.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(1)).mappings().one()
    assert (last["action"], last["object_type"], last["detail"]["rows"]) == ("migrate", "installation", report.rows)
    verified = security.verify_audit(
        moved.engine, moved.operator(), key_file=security.audit_signing_key_file(moved.settings)
    )
    assert verified["ok"] and verified["signed_heads"] == 1, verified

    # a token issued on the source still authenticates; the keys and models came along, 0600
    identity = security.authenticate(moved.engine, source["tokens"]["analyst"])
    assert identity.username == "analyst"
    key = Path(target_settings.data_dir) / "ledger" / "keys" / "administration" / "log.key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert (Path(target_settings.data_dir) / "pseudonym.key").read_bytes() == (
        Path(platform.settings.data_dir) / "pseudonym.key"
    ).read_bytes()
    models = risk.list_models(moved.engine, moved.operator())
    assert all(Path(m["path"]).is_relative_to(target_settings.data_dir) for m in models)
    assert not (Path(target_settings.data_dir) / "demo.db").exists()  # the source's database is not a data file

    # the model scores on the target, the ledger verifies, new rows get new ids (sequences moved past the copy)
    reference = _a_reference(moved)
    decision = risk.decide(moved, moved.operator(), reference)
    assert decision["lane"] in {"green", "yellow", "red"} and decision["model_version"] is not None
    assert ledger.verify_log(moved.engine, moved.operator())["size"] == counts["ledger_entries"]
    security.create_user(moved.engine, moved.operator(), "newcomer", "NL", ["officer"])

    # and back again (from PostgreSQL when the target was PostgreSQL): the same rows, the chain still verifies
    before = installation.row_counts(moved.engine)
    back = Settings(database_url=f"sqlite:///{tmp_path / 'back.db'}", data_dir=tmp_path / "back", administration="NL")
    installation.migrate(moved, moved.operator(), back.database_url, data_dir=back.data_dir)
    returned = Platform(back)
    assert installation.row_counts(returned.engine) == before | {"audit_log": before["audit_log"] + 1}
    key_file = security.audit_signing_key_file(returned.settings)
    assert security.verify_audit(returned.engine, returned.operator(), key_file=key_file)["ok"]
    assert security.authenticate(returned.engine, source["tokens"]["analyst"]).username == "analyst"
    assert risk.decide(returned, returned.operator(), reference)["model_version"] == decision["model_version"]


def _a_reference(platform: Platform) -> str:
    from opencustoms.store.tables import declarations

    with platform.engine.connect() as conn:
        return conn.execute(select(declarations.c.functional_reference_id).limit(1)).scalar_one()


def test_a_target_holding_data_is_refused_and_left_as_it_was(source: dict[str, Any], target_settings: Settings) -> None:
    platform: Platform = source["platform"]
    operator = security.local_operator("NL")
    target = Platform(target_settings).initialise()
    security.ensure_administration(target, "NL", "Dutch Customs", "NL")
    before = installation.row_counts(target)
    with pytest.raises(TargetNotEmptyError, match="already holds data .*administrations"):
        installation.migrate(platform, operator, target_settings.database_url)
    assert installation.row_counts(target) == before


def test_the_command_moves_and_says_what_it_did(
    source: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opencustoms.cli import app

    platform: Platform = source["platform"]
    monkeypatch.setenv("OPENCUSTOMS_DATABASE_URL", platform.settings.database_url)
    monkeypatch.setenv("OPENCUSTOMS_DATA_DIR", str(platform.settings.data_dir))
    monkeypatch.setenv("OPENCUSTOMS_ADMINISTRATION", "NL")
    get_settings.cache_clear()
    target = f"sqlite:///{tmp_path / 'moved.db'}"
    try:
        runner = CliRunner()
        moved = runner.invoke(app, ["migrate", "--to", target])
        assert moved.exit_code == 0, moved.output
        text = " ".join(moved.output.split())
        assert f"of {len(source['counts'])} tables from sqlite:///" in text
        assert "the installation's files stay in" in text  # no --data-dir: the files are where they were
        again = runner.invoke(app, ["migrate", "--to", target])
        assert again.exit_code == 1 and "already holds data" in " ".join(again.output.split())
        same = runner.invoke(app, ["migrate", "--to", platform.settings.database_url])
        assert same.exit_code == 1 and "this installation's own database" in " ".join(same.output.split())
    finally:
        get_settings.cache_clear()
        open_database.cache_clear()


def test_timestamps_keep_their_instant(source: dict[str, Any], target_settings: Settings) -> None:
    """SQLite gives timestamps back without a zone; on PostgreSQL they must land as the same UTC instant."""
    platform: Platform = source["platform"]
    installation.migrate(platform, security.local_operator("NL"), target_settings.database_url)
    query = select(audit_log.c.id, audit_log.c.at).order_by(audit_log.c.id).limit(50)
    with platform.engine.connect() as a, Platform(target_settings).engine.connect() as b:
        before, after = a.execute(query).all(), b.execute(query).all()
    as_utc = [(i, t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)) for i, t in before]
    assert as_utc == [(i, t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)) for i, t in after]


def test_a_data_directory_inside_the_old_one_is_refused(source: dict[str, Any], tmp_path: Path) -> None:
    from opencustoms.installation.errors import MigrationError

    platform: Platform = source["platform"]
    inside = Path(platform.settings.data_dir) / "new"
    with pytest.raises(MigrationError, match="inside this installation's data directory"):
        installation.migrate(platform, security.local_operator("NL"), f"sqlite:///{tmp_path / 'x.db'}", data_dir=inside)
    assert not (tmp_path / "x.db").exists() and not inside.exists()

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from rich.console import Console

from opencustoms.demo import pillars, run
from opencustoms.security.roles import Role


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`opencustoms demo --check` on 300 declarations, run once for the module (it raises on any failed check)."""
    folder = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        run.main(check=True, count=300, seed=3, host="127.0.0.1", port=0, console=Console(quiet=True))
    return folder / "var" / "demo"


def test_demo_check_runs_the_whole_pipeline(demo: Path) -> None:
    truth = list(csv.DictReader((demo / "ground_truth.csv").open()))
    assert len(truth) == 300 and any(t["fraud"] == "1" for t in truth)
    assert (demo / "tokens.txt").stat().st_mode & 0o777 == 0o600
    assert (demo / "passwords.txt").stat().st_mode & 0o777 == 0o600


def test_every_role_has_a_token_and_staff_a_password(demo: Path) -> None:
    accounts = {u: r for u, r, _ in pillars.load_config()["users"]["accounts"]}
    tokens = dict(line.split("\t") for line in (demo / "tokens.txt").read_text().splitlines())
    passwords = dict(line.split("\t") for line in (demo / "passwords.txt").read_text().splitlines())
    assert set(accounts.values()) == {r.value for r in Role}
    assert set(tokens) == set(accounts) and all(t.startswith("oc_") for t in tokens.values())
    assert {accounts[u] for u in passwords} == set(pillars.STAFF_ROLES)
    assert list(tokens)[:3] == ["officer", "analyst", "admin"]  # the names the benchmarks and docs use


def test_each_pillar_is_served_through_the_api(demo: Path) -> None:
    """The pillars' data as a client sees it, on the demo's database (independently of the check's own asserts)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from opencustoms.api import create_app
    from opencustoms.config import Settings
    from opencustoms.context import Platform

    tokens = dict(line.split("\t") for line in (demo / "tokens.txt").read_text().splitlines())
    officer = {"Authorization": f"Bearer {tokens['officer']}"}
    platform = Platform(Settings(database_url=f"sqlite:///{demo / 'demo.db'}", data_dir=demo, administration="NL"))
    with TestClient(create_app(platform)) as client:
        logs = {log["role"]: log for log in client.get("/ledger/logs", headers=officer).json()}
        assert logs["own"]["size"] > 0 and logs["partner"]["size"] > 0
        assert logs["partner"]["administration_code"] != "NL"
        dpo = {"Authorization": f"Bearer {tokens['dpo']}"}
        assert client.get("/audit", params={"limit": 5}, headers=dpo).status_code == 200
        supervisor = {"Authorization": f"Bearer {tokens['supervisor']}"}
        transits = client.get("/iot/transits", headers=supervisor).json()
        assert any(t["movement_id"].startswith("DEMO-MOV-") for t in transits)
        gate = client.get("/iot/gate/queue", headers=officer).json()
        assert gate, "the mismatched plate read waits for an officer"
        vessel_alerts = client.get("/iot/alerts", params={"context_type": "vessel"}, headers=officer).json()
        assert "ais_gap" in {a["kind"] for a in vessel_alerts}
        received = client.get("/exchange/inbox", params={"limit": 1000}, headers=officer).json()["items"]
        assert received and {i["match_status"] for i in received} == {"matched", "not_declared"}
        kinds = {d["kind"] for i in received if i["match"] for d in i["match"]["discrepancies"]}
        assert kinds == {"exchange.value_below_export", "exchange.origin_mismatch"}  # what the demo injected
        reviewed = client.get("/iot/scans", params={"status": "reviewed"}, headers=officer).json()
        assert [s["finding"] for s in reviewed] == ["suspicious"]
        assert client.get("/iot/scans", headers=officer).json(), "other scans still await review"
        # the demo trains and promotes an HS model on the goods items its past inspections confirmed
        hs = client.post("/hs/suggest", json={"descriptions": ["laptop computers"]}, headers=officer).json()
        assert hs.get("method") == "model" and hs["suggestions"][0][0]["code"] == "847130", hs


def test_picks_follow_the_declarations() -> None:
    """What the seeding takes from the declarations is theirs: AEO numbers declared by the holders, certificates
    of origin the declarations cite, containers and plates they declare; the same input gives the same picks."""
    from opencustoms.demo.generator import generate

    config = pillars.load_config()
    declarations = [d for d, _ in generate(300, seed=3, country="NL")]
    picks = pillars.pick(declarations, config)
    assert picks == pillars.pick(declarations, config)
    parties = {(d[r]["id"], d[r].get("aeo_certificate_id")) for d in declarations for r in ("importer", "declarant")}
    assert all((p["id"], number) in parties for chosen in picks.aeo.values() for p, number in chosen)
    cited = {
        g["preference"]["proving_document_id"] for d in picks.origin for g in d["goods_items"] if g.get("preference")
    }
    assert len(picks.origin) == config["documents"]["certificates"] and cited
    by_reference = {d["functional_reference_id"]: d for d in declarations}
    for reference, container in picks.sea:
        assert container in by_reference[reference]["transport"]["container_ids"]
    for reference, plate, container in picks.road:
        assert by_reference[reference]["transport"]["id"] == plate
        assert container in by_reference[reference]["transport"]["container_ids"]
    assert all(mmsi for mmsi, _, _ in picks.vessels)


def test_the_demo_issuer_is_set_only_while_the_demo_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from opencustoms.documents.config import get_document_settings

    monkeypatch.delenv("OPENCUSTOMS_DOCUMENTS_IDENTITY_DOMAIN", raising=False)
    config = pillars.load_config()
    before = get_document_settings().identity_domain
    with pillars.demo_issuer(config):
        assert get_document_settings().identity_domain == config["documents"]["identity_domain"]
        assert get_document_settings().issuer_name == config["documents"]["issuer_name"]
    assert get_document_settings().identity_domain == before
    get_document_settings.cache_clear()  # no settings of this test stay cached for the next one

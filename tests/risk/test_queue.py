"""Issue #13: scores stay probabilities, a file is scored row by row, missing data is laned, and the officers' queue
is today's work (status, filters, assignment, importer masked by role)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from risk_helpers import SMALL, store_inspected
from sqlalchemy import select

from conftest import sample_declaration, shared_data
from opencustoms.api.app import create_app
from opencustoms.declarations import service as declarations
from opencustoms.declarations.errors import DeclarationNotFoundError
from opencustoms.risk import explain as reason_text
from opencustoms.risk import lanes, scores, service
from opencustoms.risk.errors import RiskDataError
from opencustoms.risk.frame import conform, read_rows
from opencustoms.risk.gaps import SUFFIX, gaps_of
from opencustoms.risk.model import calibrate
from opencustoms.risk.tables import risk_decisions
from opencustoms.security import service as security
from opencustoms.security.errors import PermissionDeniedError
from opencustoms.security.service import Identity

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ANALYST = Identity.of("ana", "NL", ["risk_analyst"])
OFFICER = Identity.of("olga", "NL", ["officer"])


# --- 3. scores above 1 ---------------------------------------------------------------------------------------


@st.composite
def calibrations(draw: Any) -> tuple[list[float], list[float]]:
    xs = sorted(draw(st.lists(st.floats(0, 1), min_size=1, max_size=12, unique=True)))
    ys = sorted(draw(st.lists(st.floats(0, 1), min_size=len(xs), max_size=len(xs))))
    if draw(st.booleans()):
        ys[-1] = 1.0  # the top isotonic step at 1: where 1.0000009853 came from
    return xs, ys


@settings(max_examples=300, deadline=None)
@given(calibrations(), st.lists(st.floats(-1e-9, 1 + 1e-9, allow_nan=False), min_size=1, max_size=50))
def test_calibrated_probabilities_stay_between_0_and_1_and_keep_the_ranking(calibration, raw) -> None:  # type: ignore[no-untyped-def]
    raw_scores = np.asarray(raw)
    p = calibrate(raw_scores, calibration)
    assert np.all(p >= 0.0) and np.all(p <= 1.0)
    order = np.argsort(raw_scores, kind="stable")
    assert np.all(np.diff(p[order]) >= 0)  # never inverts the model's ranking


def test_the_top_step_is_not_above_one_and_still_ranks() -> None:
    calibration = ([0.1, 0.9], [0.0, 1.0])
    p = calibrate(np.array([0.9853, 0.97, 0.95]), calibration)
    assert p.max() <= 1.0  # was 1.0000009853
    assert p[0] > p[1] > p[2]  # the same step, told apart by the raw score


def test_scores_read_as_a_percentage_and_a_band() -> None:
    assert [scores.band(v) for v in (0.9, 0.75, 0.6, 0.3, 0.05)] == ["very high", "very high", "high", "medium", "low"]
    assert scores.band(None) is None and scores.percent(None) is None
    assert scores.percent_text(0.8754) == "87.5%" and scores.percent_text(0.9999996) == "> 99.9%"
    assert scores.percent_text(1.0) == "100.0%" and scores.percent_text(None) == "–"
    old = scores.shown({"score": 1.0000009853})  # a decision stored before the fix
    assert old["score"] == 1.0 and old["score_percent"] == 100.0 and old["band"] == "very high"


@SQLITE_ONLY
def test_the_queue_is_ordered_by_probability_then_rank_score(platform, operator) -> None:  # type: ignore[no-untyped-def]
    engine = platform.engine
    store_inspected(engine, operator, 160)
    service.train_model(platform, operator, None, None, promote=True, params=SMALL)
    summary = service.score_backlog(platform, operator, scope="all")
    assert summary["declarations"] == 160
    with engine.connect() as conn:
        stored = conn.execute(select(risk_decisions.c.score, risk_decisions.c.rank_score)).all()
    assert all(0 <= s <= 1 and r is not None and 0 <= r <= 1 for s, r in stored)
    rows = service.queue(engine, operator, limit=10_000, filters=service.QueueFilters(status="inspected"))
    assert len(rows) == 160 and all(r["status"] == "inspected" for r in rows)
    keys = [(r["score"], r["rank_score"]) for r in rows]
    assert keys == sorted(keys, reverse=True)
    for r in rows:
        assert r["score_percent"] == round(r["score"] * 100, 1) and r["band"] == scores.band(r["score"])
    model_reason = next(x for x in rows[0]["reasons"] if x["kind"] == "model")
    assert "probability of fraud" in model_reason["text"] and f"({rows[0]['band']})" in model_reason["text"]


# --- 1. one bad row no longer refuses a file; missing data is laned ------------------------------------------


def kcs_file(tmp_path: Path, changes: dict[int, dict[str, str]], n: int = 60) -> Path:  # type: ignore[no-untyped-def]
    with shared_data("kcs", "df_syn_test_eng.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [row for _, row in zip(range(n), reader, strict=False)]
        header = reader.fieldnames
    for index, change in changes.items():
        rows[index].update(change)
    path = tmp_path / "declarations.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)  # type: ignore[arg-type]
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_bad_rows_are_reported_with_row_and_column_and_the_rest_is_read(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = kcs_file(
        tmp_path,
        {
            2: {"Item Price": "abc"},
            3: {"Date": "2021-13-45"},
            4: {"Declaration ID": ""},
            5: {"Item Price": ""},
            6: {"Country of Origin": ""},
            7: {"Country of Origin": "ZZ"},
            8: {"Tax Rate": "eight"},
        },
    )
    frame, problems = read_rows(path, "kcs")
    found = {(p.row, p.column, p.value, p.reason) for p in problems}
    assert found == {
        (4, "Item Price", "abc", "is not a number"),  # the file's line: the header is line 1
        (5, "Date", "2021-13-45", "is not a date (YYYY-MM-DD)"),
        (6, "Declaration ID", None, "is required to score a declaration"),
        (7, "Item Price", None, "is required to score a declaration"),
        (10, "Tax Rate", "eight", "is not a number"),
    }
    assert frame.height == 55  # the origin-less and ZZ declarations are scored
    by_reference = dict(zip(frame["reference"], frame["origin"], strict=True))
    assert None in by_reference.values() and "ZZ" in by_reference.values()


def test_a_scored_file_lanes_missing_data_and_writes_the_problem_report(platform, operator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = kcs_file(
        tmp_path,
        {2: {"Item Price": "abc"}, 6: {"Country of Origin": ""}, 7: {"Country of Origin": "ZZ"}, 9: {"HS6 Code": ""}},
    )
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    report, output = tmp_path / "problems.csv", tmp_path / "lanes.csv"
    result = service.score_file(platform, operator, path, output=output, report=report)
    assert result["declarations"] == 59 and result["rejected"] == 1 and result["missing_data"] == 3
    assert result["problems"] == [
        {
            "row": 4,
            "reference": rows[2]["Declaration ID"],
            "column": "Item Price",
            "value": "abc",
            "reason": "is not a number",
        }
    ]
    with report.open() as handle:
        assert list(csv.reader(handle)) == [
            ["row", "reference", "column", "value", "reason"],
            ["4", rows[2]["Declaration ID"], "Item Price", "abc", "is not a number"],
        ]
    with output.open() as handle:
        laned = {r["reference"]: r for r in csv.DictReader(handle)}
    zz = laned[rows[7]["Declaration ID"]]
    assert zz["lane"] == "yellow" and zz["selected_by"] == "missing data"
    assert "Country of origin not declared (ZZ) — missing data raises the risk" in zz["reasons"]
    assert (
        "Country of origin not declared — missing data raises the risk" in laned[rows[6]["Declaration ID"]]["reasons"]
    )
    assert "HS code not declared" in laned[rows[9]["Declaration ID"]]["reasons"]


def test_flat_and_native_files_are_scored_row_by_row_too(tmp_path) -> None:  # type: ignore[no-untyped-def]
    flat = tmp_path / "flat.csv"
    header = "functional_reference_id,acceptance_date,hs_code,origin_country_code,customs_value_amount,net_mass_kg\n"
    flat.write_text(header + "A,2025-01-02,847130,CN,100,1\nA,2025-01-02,847130,CN,50,x\nB,2025-01-02,847130,,70,1\n")
    frame, problems = read_rows(flat, "flat")
    assert frame["reference"].to_list() == ["B"] and frame["origin"].to_list() == [None]
    assert [(p.row, p.reference, p.column, p.value) for p in problems] == [(3, "A", "net_mass_kg", "x")]
    native = tmp_path / "declarations.jsonl"
    good = sample_declaration("LRN-N1")
    native.write_text("{not json\n" + __import__("json").dumps(good) + "\n")
    frame, problems = read_rows(native, "native")
    assert frame["reference"].to_list() == ["LRN-N1"] and [p.row for p in problems] == [1]


def test_missing_data_lane_is_the_same_in_a_batch_and_online() -> None:
    row = {"reference": "R1", "date": dt.date(2025, 1, 2), "hs6": "847130", "origin": "ZZ", "value": 10.0}
    frame = conform(__import__("polars").DataFrame([row]))
    gaps = gaps_of(frame.row(0, named=True))
    assert gaps == [
        "Country of origin not declared (ZZ) — missing data raises the risk",
        "Customs office not declared — missing data raises the risk",
    ]
    policy = lanes.LanePolicy(random_rate=0.0)
    batch = lanes.assign(frame, None, [], policy, gaps={"R1": gaps}).row(0, named=True)
    one = lanes.assign_one(frame.row(0, named=True), None, [], policy, thresholds={}, gaps=gaps)
    assert batch["lane"] == one["lane"] == "yellow" and batch["selected_by"] == one["selected_by"] == "missing data"
    assert batch["reasons"] == one["reasons"] and gaps[0] in one["reasons"]
    quiet = lanes.LanePolicy(random_rate=0.0, missing_data_lane=None)  # only a reason
    assert lanes.assign_one(frame.row(0, named=True), None, [], quiet, thresholds={}, gaps=gaps)["lane"] == "green"
    with pytest.raises(Exception, match="missing_data_lane"):
        lanes.LanePolicy(missing_data_lane="purple")


def test_what_if_lanes_an_unknown_origin_instead_of_refusing_it(platform, operator) -> None:  # type: ignore[no-untyped-def]
    data = sample_declaration("LRN-WHATIF")
    data["goods_items"][0]["origin_country_code"] = "ZZ"
    answer = service.assess(platform, operator, data)
    texts = [r["text"] for r in answer["reasons"]]
    assert "Country of origin declared as not known (ZZ): missing data raises the risk" in texts
    french = service.assess(platform, operator, data, lang="fr")
    assert "Pays d'origine déclaré inconnu (ZZ) : une donnée manquante augmente le risque" in [
        r["text"] for r in french["reasons"]
    ]
    assert any(r["kind"] == "missing_data" for r in answer["reasons"]) and answer["lane"] in ("yellow", "red")
    data["goods_items"][0]["customs_value_currency"] = "XXXX"  # anything else stays refused, naming the field
    with pytest.raises(RiskDataError) as refused:
        service.assess(platform, operator, data)
    assert refused.value.field == "goods_items.0.customs_value_currency"


def test_online_checks_hs_codes_against_the_nomenclature_as_the_backlog_does(platform, operator) -> None:  # type: ignore[no-untyped-def]
    """An HS code well formed but not in the edition in force is a gap online too (the backlog and file paths
    check it against the nomenclatures): every path decides alike."""
    data = sample_declaration("LRN-WHATIF-HS")
    data["goods_items"][0]["hs_code"] = "849999"  # chapter 84 exists, heading 8499 does not
    reasons = service.assess(platform, operator, data)["reasons"]
    assert any(r["code"] == "gap_hs_not_in" and r["values"]["code"] == "849999" for r in reasons), reasons
    texts = [r["text"] for r in reasons]
    assert any(t.startswith("Tariff code 849999 does not exist in the HS ") for t in texts), texts


# --- 2. today's queue: status, filters, assignment -----------------------------------------------------------


def _store(engine: Any, operator: Identity, reference: str, **changes: Any) -> None:
    declarations.create(engine, operator, sample_declaration(reference, **changes))


def test_backlog_lanes_only_what_awaits_a_decision(platform, operator) -> None:  # type: ignore[no-untyped-def]
    engine = platform.engine
    for i in range(4):
        _store(engine, operator, f"LRN-B{i}")
    service.record_inspection(engine, operator, "LRN-B0", "compliant")  # yesterday's history
    assert service.score_backlog(platform, operator)["declarations"] == 3
    laned = {r["reference"]: r["lane"] for r in service.queue(engine, operator, limit=100)}
    assert "LRN-B0" not in laned and set(laned) == {"LRN-B1", "LRN-B2", "LRN-B3"}
    assert service.score_backlog(platform, operator)["declarations"] == 0
    not_green = [ref for ref, lane in laned.items() if lane != "green"]
    assert service.score_backlog(platform, operator, scope="rescore")["declarations"] == len(not_green)
    assert service.score_backlog(platform, operator, scope="all")["declarations"] == 1  # LRN-B0
    with pytest.raises(RiskDataError, match="backlog scope") as refused:
        service.score_backlog(platform, operator, scope="everything")
    assert refused.value.field == "scope"


def test_queue_status_filters_and_assignment(platform, operator) -> None:  # type: ignore[no-untyped-def]
    engine = platform.engine
    security.create_user(engine, operator, "olga", "NL", ["officer"])
    _store(engine, operator, "LRN-Q1")
    _store(engine, operator, "LRN-Q2", acceptance_date="2025-04-10")
    _store(engine, operator, "LRN-Q3")
    for reference in ("LRN-Q1", "LRN-Q2", "LRN-Q3"):
        service.decide(platform, operator, reference)
    service.record_inspection(engine, operator, "LRN-Q3", "fraud", 10.0)
    everything = {r["reference"]: r for r in service.queue(engine, operator, limit=100)}
    assert everything["LRN-Q3"]["status"] == "inspected"
    for ref in ("LRN-Q1", "LRN-Q2"):
        expected = "released" if everything[ref]["lane"] == "green" else "awaiting"
        assert everything[ref]["status"] == expected
    row = everything["LRN-Q1"]
    assert row["hs_code"] and row["origin"] and row["value"] > 0 and row["currency"]
    assert row["importer"]["name"] and row["top_reason"] in [r["text"] for r in row["reasons"]]
    assert row["top_reason"] == reason_text.top_reason(row["reasons"])

    def refs(**filters: Any) -> set[str]:
        return {r["reference"] for r in service.queue(engine, operator, filters=service.QueueFilters(**filters))}

    assert refs(status="inspected") == {"LRN-Q3"}
    assert service.queue_counts(engine, operator, service.QueueFilters(status="inspected", lane="green")) == {
        everything["LRN-Q3"]["lane"]: 1  # the tabs count the filtered queue, every lane
    }
    assert refs(date_from=dt.date(2025, 4, 1)) == {"LRN-Q2"}
    assert refs(date_to=dt.date(2025, 3, 31)) == {"LRN-Q1", "LRN-Q3"}
    assert refs(hs_chapter=row["hs_code"][:2]) == {"LRN-Q1", "LRN-Q2", "LRN-Q3"}
    assert refs(hs_chapter="01") == set()
    assert refs(origin=row["origin"].lower()) == {"LRN-Q1", "LRN-Q2", "LRN-Q3"}
    assert refs(office="NOWHERE") == set()
    assert refs(office=sample_declaration()["declaration_office_id"]) == {"LRN-Q1", "LRN-Q2", "LRN-Q3"}
    for bad, field in (
        ({"status": "done"}, "status"),
        ({"hs_chapter": "8"}, "hs_chapter"),
        ({"origin": "CHN"}, "origin"),
        ({"lane": "purple"}, "lane"),
        ({"date_from": dt.date(2025, 2, 1), "date_to": dt.date(2025, 1, 1)}, "date_from"),
    ):
        with pytest.raises(RiskDataError) as refused:
            refs(**bad)
        assert refused.value.field == field

    assigned = service.assign(engine, operator, "LRN-Q2", "olga")
    assert assigned["officer"] == "olga" and assigned["previous"] is None
    assert refs(officer="olga") == {"LRN-Q2"}
    with pytest.raises(PermissionDeniedError):
        service.assign(engine, OFFICER, "LRN-Q1", "olga")  # who examines does not choose what is examined
    with pytest.raises(RiskDataError) as refused:
        service.assign(engine, operator, "LRN-Q1", "nobody")
    assert refused.value.field == "officer"
    with pytest.raises(DeclarationNotFoundError):
        service.assign(engine, operator, "LRN-NOPE", "olga")
    assert service.assign(engine, operator, "LRN-Q2", None)["previous"] == "olga"
    assert refs(officer="olga") == set()
    audit = security.read_audit(engine, operator, object_id="LRN-Q2")
    assert [a["action"] for a in audit if a["object_type"] == "risk_assignment"] == [
        "unassign",
        "assign",
    ]  # newest first


def test_queue_masks_the_importer_for_readers_without_personal_data(platform, operator) -> None:  # type: ignore[no-untyped-def]
    engine = platform.engine
    data = sample_declaration("LRN-M1")
    _store(engine, operator, "LRN-M1")
    service.decide(platform, operator, "LRN-M1")
    [masked] = service.queue(engine, ANALYST, filters=service.QueueFilters(), pseudonymiser=platform.pseudonymiser)
    assert masked["importer"] == {"id": platform.pseudonymiser(data["importer"]["id"]), "name": None}
    assert data["importer"]["name"] not in str(masked)
    [full] = service.queue(engine, OFFICER, pseudonymiser=platform.pseudonymiser, purpose="queue test")
    assert full["importer"] == {"id": data["importer"]["id"], "name": data["importer"]["name"]}
    reads = security.read_audit(engine, operator, object_id="LRN-M1", who="olga")
    assert any(a["action"] == "read" and a["purpose"] == "queue test" for a in reads)


def test_api_queue_validates_its_parameters_and_assigns(platform, operator) -> None:  # type: ignore[no-untyped-def]
    engine = platform.engine
    security.create_user(engine, operator, "rita", "NL", ["risk_analyst"])
    security.create_user(engine, operator, "olga", "NL", ["officer"])
    auth = {
        name: {"Authorization": f"Bearer {security.issue_token(engine, operator, name)}"} for name in ("rita", "olga")
    }
    _store(engine, operator, "LRN-A1")
    service.decide(platform, operator, "LRN-A1")
    with TestClient(create_app(platform)) as client:
        for params, name in (
            ({"hs_chapter": "8"}, "hs_chapter"),
            ({"origin": "CHN"}, "origin"),
            ({"status": "done"}, "status"),
            ({"date_from": "yesterday"}, "date_from"),
            ({"lane": "purple"}, "lane"),
        ):
            refused = client.get("/risk/queue", params=params, headers=auth["rita"])
            assert refused.status_code == 422 and name in refused.text, params
        swapped = client.get(
            "/risk/queue", params={"date_from": "2025-02-01", "date_to": "2025-01-01"}, headers=auth["rita"]
        )
        assert swapped.status_code == 400 and "date_from" in swapped.text
        [row] = client.get("/risk/queue", params={"status": "any"}, headers=auth["rita"]).json()
        assert row["reference"] == "LRN-A1" and {"score", "score_percent", "band", "status", "importer"} <= set(row)
        assert row["importer"]["name"] is None
        assert (
            client.post("/risk/assignments/LRN-A1", json={"officer": "olga"}, headers=auth["olga"]).status_code == 403
        )
        assert (
            client.post("/risk/assignments/LRN-A1", json={"officer": "olga"}, headers=auth["rita"]).status_code == 200
        )
        missing = client.post("/risk/assignments/LRN-NOPE", json={"officer": "olga"}, headers=auth["rita"])
        assert missing.status_code == 404
        unknown = client.post("/risk/assignments/LRN-A1", json={"officer": "nobody"}, headers=auth["rita"])
        assert unknown.status_code == 400 and "officer" in unknown.text
        [mine] = client.get("/risk/queue", params={"status": "any", "officer": "olga"}, headers=auth["olga"]).json()
        assert mine["officer"] == "olga" and mine["importer"]["name"]


# --- the CLI ------------------------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from opencustoms.cli import app
    from opencustoms.config import get_settings
    from opencustoms.store.database import open_database

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENCUSTOMS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("OPENCUSTOMS_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("OPENCUSTOMS_ADMINISTRATION", "NL")
    get_settings.cache_clear()
    open_database.cache_clear()
    from opencustoms.cli import risk as risk_cli

    monkeypatch.setattr(risk_cli.console, "width", 250)  # the queue's table is wide
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    run("init", "--administration", "NL", "--name", "Dutch Customs")
    yield run
    get_settings.cache_clear()
    open_database.cache_clear()


def test_cli_scores_a_file_row_by_row_and_works_the_queue(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import json

    path = kcs_file(tmp_path, {2: {"Item Price": "abc"}, 7: {"Country of Origin": "ZZ"}}, n=20)
    out = cli("risk", "score", str(path), "--report", "problems.csv")
    assert "19 declarations laned" in out and "1 row(s) could not be scored" in out and "Item Price" in out
    assert (tmp_path / "problems.csv").read_text().splitlines()[1].startswith("4,")
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(sample_declaration("LRN-C1")) + "\n" + json.dumps(sample_declaration("LRN-C2")) + "\n")
    cli("import", str(source))
    cli("risk", "inspect", "LRN-C2", "--outcome", "compliant")
    assert "1 declarations laned" in cli("risk", "score", "--backlog")  # LRN-C2 was inspected: history
    assert "0 declarations laned" in cli("risk", "score", "--backlog")
    cli("risk", "score", "--rescore", code=2)  # --rescore goes with --backlog
    cli("users", "add", "olga", "--role", "officer")
    assert "LRN-C1 assigned to olga" in cli("risk", "assign", "LRN-C1", "olga")
    queue = cli("risk", "queue", "--status", "any", "--officer", "olga")
    assert "LRN-C1" in queue and "LRN-C2" not in queue and "olga" in queue
    assert "hs_chapter" in cli("risk", "queue", "--hs-chapter", "8", code=1)
    assert "no longer assigned (was olga)" in cli("risk", "assign", "LRN-C1", "--clear")


def test_gaps_of_a_batch_are_those_of_each_row() -> None:
    import itertools

    import polars as pl

    from opencustoms.reference.hs import HSEntry, Nomenclature
    from opencustoms.reference.service import NomenclatureSet
    from opencustoms.risk.gaps import frame_gaps

    def edition(year: str, *codes: str) -> Nomenclature:
        return Nomenclature(year, [HSEntry(c, "x", None, len(c), "XVI") for c in codes])

    editions = NomenclatureSet({"2017": edition("2017", "847130", "847150"), "2022": edition("2022", "847130")})
    rows = [
        {"reference": f"R{i}", "origin": origin, "hs6": hs6, "office": office, "date": day}
        for i, (origin, hs6, office, day) in enumerate(
            itertools.product(
                [None, "", "ZZ", "zz", "CN", "cn", "QQ", " DE "],
                [None, "", "847130", "847150", "999999", "84713", "8471AB"],
                [None, "", "NL000396"],
                [dt.date(2016, 5, 1), dt.date(2019, 1, 1), dt.date(2024, 1, 1)],
            )
        )
    ]
    frame = pl.DataFrame(
        rows, schema={"reference": pl.Utf8, "origin": pl.Utf8, "hs6": pl.Utf8, "office": pl.Utf8, "date": pl.Date}
    )
    for nomenclatures in (None, editions):
        expected = {r["reference"]: gaps_of(r, nomenclatures) for r in rows if gaps_of(r, nomenclatures)}
        assert frame_gaps(frame, nomenclatures) == expected
    recent = next(
        r["reference"]
        for r in rows
        if r["hs6"] == "847150" and r["origin"] == "CN" and r["office"] and r["date"].year == 2024
    )
    assert frame_gaps(frame, editions)[recent] == ["HS code 847150 is not in the HS 2022 nomenclature" + SUFFIX]


def test_one_row_online_keeps_a_missing_code_as_a_gap() -> None:
    from opencustoms.risk.frame import conform_row

    row = {"reference": "R1", "date": dt.date(2025, 1, 2), "hs6": None, "origin": None, "value": 10.0}
    with pytest.raises(RiskDataError):
        conform_row(row)  # as conform: a frame row needs its codes
    for value in (10.0, 10):  # the plain path, and the polars path (an int in a float column)
        got = conform_row({**row, "value": value}, gaps=True)
        assert got["hs6"] is None and got["origin"] is None and got["value"] == 10.0

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from conftest import sample_declaration, shared_data
from opencustoms.declarations import service
from opencustoms.declarations.errors import DeclarationNotFoundError, DuplicateDeclarationError, ImportFileError
from opencustoms.declarations.layouts import FlatLayout
from opencustoms.declarations.repository import SearchFilters
from opencustoms.model import Declaration
from opencustoms.store.tables import declarations, goods_items, inspection_results


def _count(engine, table=declarations) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _flat_csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    columns = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def _sample_rows(n: int) -> list[dict]:
    return [
        r
        for i in range(n)
        for r in FlatLayout.to_records(Declaration.model_validate(sample_declaration(f"LRN-{i:04d}")))
    ]


def test_create_read_roundtrip_and_duplicates(engine, operator, pseudonymiser) -> None:
    stored = service.create(engine, operator, sample_declaration())
    read, masked = service.get(engine, operator, "LRN-0001", pseudonymiser)
    assert read == stored and not masked
    with pytest.raises(DuplicateDeclarationError):
        service.create(engine, operator, sample_declaration())
    with pytest.raises(DeclarationNotFoundError):
        service.get(engine, operator, "NOPE", pseudonymiser)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_import_roundtrip(engine, operator, pseudonymiser, tmp_path: Path, fmt: str, database_url) -> None:
    for i in range(3):
        service.create(engine, operator, sample_declaration(f"LRN-{i}", national_extensions={"nl.x": str(i)}))
    path = tmp_path / f"out.{fmt}"
    assert service.export(engine, operator, path, pseudonymiser) == 3
    from opencustoms.store.database import init_database

    other = init_database(f"sqlite:///{tmp_path / 'other.db'}")
    report = service.import_file(other, operator, path)
    assert (report.accepted, report.rejected, report.problems) == (3, 0, [])
    for i in range(3):
        assert (
            service.get(other, operator, f"LRN-{i}", pseudonymiser)[0]
            == service.get(engine, operator, f"LRN-{i}", pseudonymiser)[0]
        )


def test_bad_rows_are_reported_and_good_rows_stored(engine, operator) -> None:
    rows = _sample_rows(6)  # two item rows per declaration
    rows[0]["hs_code"] = "99999"  # malformed HS code
    rows[2]["origin_country_code"] = "QQ"  # unknown country
    rows[5]["customs_value_currency"] = "XYZ"  # unknown currency
    rows[6]["customs_value_amount"] = "-10"  # negative value
    rows[8]["importer_id"] = "OTHER"  # declaration columns differ between item rows
    rows.append(dict(rows[10]))  # the last declaration's row repeated after another declaration -> duplicate
    rows[-1]["functional_reference_id"] = "LRN-0000"
    report = service.import_file(engine, operator, io.BytesIO(_flat_csv(rows)), name="x.csv")
    found = {(p.row, p.field) for p in report.problems}
    assert (2, "hs_code") in found and (4, "origin_country_code") in found
    assert (7, "customs_value_currency") in found and (8, "customs_value_amount") in found
    assert (11, "importer_id") in found and (14, "functional_reference_id") in found  # row 11 differs from 10
    assert report.accepted == 1 and report.rejected == 6
    assert _count(engine) == 1 and _count(engine, goods_items) == 2  # no half-written declaration
    out = io.StringIO()
    report.write_csv(out)
    assert out.getvalue().splitlines()[0] == "row,reference,field,value,reason"


def test_already_stored_references_are_reported_not_duplicated(engine, operator) -> None:
    data = _flat_csv(_sample_rows(3))
    first = service.import_file(engine, operator, io.BytesIO(data), name="a.csv")
    second = service.import_file(engine, operator, io.BytesIO(data), name="a.csv")
    assert (first.accepted, first.already_stored, first.rejected) == (3, 0, 0)
    # issue #13: the declarations stored by the first import are "already stored", not "rejected", and not problems
    assert (second.accepted, second.already_stored, second.rejected, second.problems) == (0, 3, 0, [])
    assert "0 imported, 3 already stored, 0 rejected" in second.headline()
    assert _count(engine) == 3


def test_non_utf8_and_shifted_rows(engine, operator) -> None:
    good = _flat_csv(_sample_rows(3)).decode()
    lines = good.splitlines()
    lines[3] = lines[3].replace("Tulip Trading BV", "Tulip Tr\udce9ding")  # a Latin-1 byte in row 4
    lines[5] = lines[5] + ",extra"  # shifted columns in row 6
    raw = "\n".join(lines).encode("utf-8", "surrogateescape")
    report = service.import_file(engine, operator, io.BytesIO(raw), name="bad.csv")
    reasons = {p.row: p.reason for p in reversed(report.problems)}
    assert "0xE9 is not UTF-8" in reasons[4] and report.problems[0].field == "importer_name"
    assert "fields but the header has" in reasons[6]
    assert sum("whole declaration is rejected" in p.reason for p in report.problems) == 2
    assert report.accepted == 1  # LRN-0000 only; the two broken declarations are reported


def test_whole_file_errors(engine, operator) -> None:
    with pytest.raises(ImportFileError, match="did you mean 'hs_code'"):
        service.import_file(engine, operator, io.BytesIO(b"functional_reference_id,hs_cod\n"), name="a.csv")
    with pytest.raises(ImportFileError, match="empty"):
        service.import_file(engine, operator, io.BytesIO(b""), name="a.csv")
    with pytest.raises(ImportFileError, match="extension"):
        service.import_file(engine, operator, io.BytesIO(b""), name="a.xls")
    with pytest.raises(ImportFileError, match="Parquet"):
        service.import_file(engine, operator, io.BytesIO(b"not parquet"), name="a.parquet")


def test_jsonl_bad_lines(engine, operator) -> None:
    lines = [
        json.dumps(sample_declaration("A")),
        "{not json",
        "[1]",
        json.dumps(sample_declaration("B", type_code="x")),
    ]
    report = service.import_file(engine, operator, io.BytesIO("\n".join(lines).encode()), name="a.jsonl")
    assert report.accepted == 1
    assert [p.row for p in report.problems] == [2, 3, 4]
    assert report.problems[2].field == "type_code"


def test_kcs_layout_keeps_labels(engine, operator) -> None:
    path = shared_data("kcs", "df_syn_valid_eng.csv")
    head = b"".join(path.open("rb").readlines()[:201])
    report = service.import_file(engine, operator, io.BytesIO(head), name="kcs.csv", layout="kcs")
    assert report.accepted + report.rejected == 200
    assert report.accepted >= 195 and report.labels == report.accepted
    assert _count(engine, inspection_results) == report.accepted
    with pytest.raises(ImportFileError, match="not the KCS layout"):
        service.import_file(engine, operator, io.BytesIO(b"a,b\n1,2\n"), name="x.csv", layout="kcs")


def test_search_filters_and_pseudonymised_reads(engine, operator, pseudonymiser) -> None:
    from opencustoms.security.service import Identity

    for i in range(5):
        service.create(engine, operator, sample_declaration(f"LRN-{i}", acceptance_date=f"2025-03-0{i + 1}"))
    page = service.search(
        engine,
        operator,
        SearchFilters(hs_prefix="6203", date_from=__import__("datetime").date(2025, 3, 3)),
        pseudonymiser,
    )
    assert page.total == 3 and [d.functional_reference_id for d in page.items] == ["LRN-4", "LRN-3", "LRN-2"]
    assert service.search(engine, operator, SearchFilters(container_id="CSQU3054383"), pseudonymiser).total == 5
    assert service.search(engine, operator, SearchFilters(party_id="NL200000002"), pseudonymiser).total == 5
    analyst = Identity.of("ana", "NL", ["risk_analyst"])
    masked, was_masked = service.get(engine, analyst, "LRN-1", pseudonymiser)
    assert was_masked and masked.importer is not None
    assert masked.importer.id == pseudonymiser("NL200000002") and masked.importer.name is None
    assert masked.importer.address is None and masked.importer.country_code == "NL"


def test_party_search_by_pseudonym_only_without_personal_data(engine, operator, pseudonymiser) -> None:
    """Issue #12, defect 3: an analyst searching by a real trader number learnt that trader's pseudonym."""
    from opencustoms.security.errors import PermissionDeniedError
    from opencustoms.security.service import Identity

    for i in range(3):
        service.create(engine, operator, sample_declaration(f"LRN-{i}"))
    service.create(
        engine,
        operator,
        sample_declaration("LRN-OTHER", importer={"id": "NL999", "name": "Other BV", "country_code": "NL"}),
    )
    pseudonym = pseudonymiser("NL200000002")
    for role in ("risk_analyst", "administrator"):
        reader = Identity.of("reader", "NL", [role])
        for real in ("NL200000002", " NL200000002 ", "Tulip Trading BV", "p_not-a-pseudonym"):
            with pytest.raises(PermissionDeniedError) as refused:
                service.search(engine, reader, SearchFilters(party_id=real), pseudonymiser)
            assert refused.value.field == "party_id" and refused.value.status == 403
        with pytest.raises(PermissionDeniedError):
            service.export(engine, reader, Path("unused.csv"), pseudonymiser, filters=SearchFilters(party_id="NL999"))
        page = service.search(engine, reader, SearchFilters(party_id=pseudonym), pseudonymiser)
        assert page.total == 3 and page.pseudonymised
        assert {d.importer.id for d in page.items if d.importer} == {pseudonym}
        assert service.search(engine, reader, SearchFilters(party_id="p_" + "0" * 24), pseudonymiser).total == 0
        # the service sets the resolved numbers itself; a caller cannot smuggle them in
        with pytest.raises(PermissionDeniedError):
            service.search(engine, reader, SearchFilters(party_ids=("NL200000002",)), pseudonymiser)
    # an officer may search by either
    assert service.search(engine, operator, SearchFilters(party_id="NL200000002"), pseudonymiser).total == 3
    assert service.search(engine, operator, SearchFilters(party_id=pseudonym), pseudonymiser).total == 3
    assert service.count(engine, operator, SearchFilters(party_id="NL999"), pseudonymiser) == 1


def test_api_party_search_refuses_trader_numbers_to_analysts(engine, database_url, tmp_path, operator) -> None:
    from fastapi.testclient import TestClient

    from opencustoms.api import create_app
    from opencustoms.config import Settings
    from opencustoms.context import Platform
    from opencustoms.security import service as security

    platform = Platform(Settings(database_url=database_url, data_dir=tmp_path))
    service.create(engine, operator, sample_declaration())
    security.create_user(engine, operator, "ana", None, ["risk_analyst"])
    headers = {"Authorization": f"Bearer {security.issue_token(engine, operator, 'ana')}"}
    with TestClient(create_app(platform)) as client:
        r = client.get("/declarations", params={"party_id": "NL200000002"}, headers=headers)
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
        assert "NL200000002" not in r.text and "pseudonym" in r.json()["detail"]
        pseudonym = client.get("/declarations/LRN-0001", headers=headers).json()["declaration"]["importer"]["id"]
        r = client.get("/declarations", params={"party_id": pseudonym}, headers=headers)
        assert r.status_code == 200 and r.json()["total"] == 1
        importer = r.json()["items"][0]["importer"]
        assert importer["id"] == pseudonym and importer.get("name") is None

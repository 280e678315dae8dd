"""Tests of the seeded synthetic declaration generator (:mod:`opencustoms.demo.generator`).

The generator feeds `make demo`, the tests of the risk engine and the 1,000,000-declaration benchmark, so these
tests pin what those rely on: every dict validates, the same seed gives the same data, fraud is labelled
consistently at the requested rate, the codes in the data are real (HS 2022, ISO 6346, IMO, UN/LOCODE format) and
the generator stays fast.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import re
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from conftest import shared_data
from opencustoms.demo import generator
from opencustoms.demo.generator import (
    CATALOGUE,
    FRAUD_PATTERNS,
    MISCLASSIFICATIONS,
    TRADE_DEFENCE,
    GroundTruth,
    generate,
)
from opencustoms.model.declaration import Declaration
from opencustoms.reference.codes import (
    check_container_number,
    check_country,
    check_imo_number,
    check_mmsi,
    check_unlocode,
    iso6346_check_digit,
)

START = dt.date(2025, 1, 1)
MONEY = re.compile(r"^[0-9]+\.[0-9]{2}$")


@pytest.fixture(scope="module")
def sample() -> list[tuple[dict, GroundTruth]]:
    """20,000 declarations with the defaults (seed 0, NL, 2025, 8% fraud)."""
    return list(generate(20_000))


def _iso6346_style_check(text: str) -> int:
    """The ISO 6346 algorithm over any length (EU MRNs use it too): A=10 ... Z=38 skipping multiples of 11."""
    values, v = {}, 10
    for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        v += v % 11 == 0
        values[ch] = v
        v += 1
    return sum((values[ch] if ch.isalpha() else int(ch)) << i for i, ch in enumerate(text)) % 11 % 10


def _digest(rows: list[tuple[dict, GroundTruth]]) -> str:
    h = hashlib.sha256()
    for d, t in rows:
        h.update(json.dumps(d, sort_keys=True).encode())
        h.update(repr(t).encode())
    return h.hexdigest()


# --- validity ---------------------------------------------------------------------------------------------------


def test_every_dict_validates_with_the_model(sample: list[tuple[dict, GroundTruth]]) -> None:
    for d, _ in sample[:5000]:
        Declaration.model_validate(d)


@pytest.mark.parametrize("country", ["DE", "GB", "US", "GE", "CN"])
def test_other_administrations_validate_too(country: str) -> None:
    rows = list(generate(1500, seed=3, country=country))
    for d, _ in rows:
        declaration = Declaration.model_validate(d)
        assert declaration.importer is not None and declaration.importer.country_code == country
    assert sum(t.fraud for _, t in rows) > 0


def test_dicts_are_plain_json(sample: list[tuple[dict, GroundTruth]]) -> None:
    for d, _ in sample[:2000]:
        assert json.loads(json.dumps(d)) == d  # only dict, list, str, int, float
        for item in d["goods_items"]:
            assert MONEY.match(item["customs_value_amount"]) and MONEY.match(item["duty_tax_amount"])
            assert Decimal(item["customs_value_amount"]) > 0
            dt.date.fromisoformat(d["acceptance_date"])


def test_yielded_dicts_share_no_mutable_state() -> None:
    for d, _ in generate(3000, seed=5):
        for role in ("declarant", "importer", "exporter", "seller"):
            assert d[role]["name"] != "mutated" and d[role]["address"]["line"] != "mutated"
            d[role]["name"] = "mutated"
            d[role]["address"]["line"] = "mutated"
        assert "mutated" not in d["transport"]["itinerary_country_codes"]
        d["transport"]["itinerary_country_codes"].append("mutated")


def test_goods_items_and_structure(sample: list[tuple[dict, GroundTruth]]) -> None:
    counts = collections.Counter(len(d["goods_items"]) for d, _ in sample)
    assert set(counts) <= {1, 2, 3, 4, 5}
    assert (counts[1] + counts[2]) / len(sample) > 0.75
    for d, _ in sample[:3000]:
        assert d["type_code"] == "import" and d["procedure_code"] == "4000"
        assert [g["sequence_number"] for g in d["goods_items"]] == list(range(1, len(d["goods_items"]) + 1))
        for g in d["goods_items"]:
            assert g["gross_mass_kg"] >= g["net_mass_kg"] > 0
            if g["quantity_unit"] == "KGM":
                assert g["quantity"] == g["net_mass_kg"]
    assert len({d["declaration_office_id"] for d, _ in sample}) <= 5
    modes = collections.Counter(d["transport"]["mode_code"] for d, _ in sample)
    assert modes["1"] > modes["4"] > 0 and modes["3"] > 0


def test_dates_within_range_and_ordered() -> None:
    rows = list(generate(5000, seed=11, start=dt.date(2024, 3, 1), days=60))
    dates = [dt.date.fromisoformat(d["acceptance_date"]) for d, _ in rows]
    assert dates == sorted(dates)
    assert dates[0] >= dt.date(2024, 3, 1) and dates[-1] < dt.date(2024, 3, 1) + dt.timedelta(days=60)
    assert len(set(dates)) > 50  # spread over the period
    for d, _ in rows[:500]:
        for doc in d["additional_documents"]:
            assert dt.date.fromisoformat(doc["issue_date"]) <= dt.date.fromisoformat(d["acceptance_date"])


def test_references_are_unique_and_carry_an_iso6346_check_digit(sample: list[tuple[dict, GroundTruth]]) -> None:
    refs = [d["functional_reference_id"] for d, _ in sample]
    assert len(set(refs)) == len(refs)
    for d, t in sample[:3000]:
        ref = d["functional_reference_id"]
        assert t.functional_reference_id == ref
        assert len(ref) == 18 and ref[2:4] == "NL" and ref[:2] == d["acceptance_date"][2:4]
        assert int(ref[-1]) == _iso6346_style_check(ref[:-1])


# --- determinism ------------------------------------------------------------------------------------------------


def test_same_seed_same_output_and_other_seed_other_output() -> None:
    first = list(generate(3000, seed=42))
    generator._world.cache_clear()  # rebuilding the world from the seed gives the same world
    second = list(generate(3000, seed=42))
    assert _digest(first) == _digest(second)
    assert _digest(first) != _digest(list(generate(3000, seed=43)))


def test_output_does_not_depend_on_hash_randomisation() -> None:
    code = (
        "import hashlib, json; from opencustoms.demo.generator import generate; h = hashlib.sha256()\n"
        "for d, t in generate(400, seed=9):\n"
        "    h.update(json.dumps(d, sort_keys=True).encode()); h.update(repr(t).encode())\n"
        "print(h.hexdigest())"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert digests == {_digest(list(generate(400, seed=9)))}


# --- fraud labels -----------------------------------------------------------------------------------------------


def test_fraud_rate_close_to_requested(sample: list[tuple[dict, GroundTruth]]) -> None:
    rate = sum(t.fraud for _, t in sample) / len(sample)
    assert abs(rate - 0.08) < 0.015
    low = list(generate(20_000, seed=2, fraud_rate=0.03))
    assert abs(sum(t.fraud for _, t in low) / len(low) - 0.03) < 0.01
    assert not any(t.fraud for _, t in generate(5000, seed=2, fraud_rate=0.0))


def test_every_pattern_appears(sample: list[tuple[dict, GroundTruth]]) -> None:
    counts = collections.Counter(t.pattern for _, t in sample if t.fraud)
    assert set(counts) == set(FRAUD_PATTERNS)
    assert all(counts[p] >= 50 for p in FRAUD_PATTERNS)


def test_revenue_at_stake_positive_iff_fraud(sample: list[tuple[dict, GroundTruth]]) -> None:
    for _, t in sample:
        assert isinstance(t.revenue_at_stake, Decimal)
        assert (t.revenue_at_stake > 0) == t.fraud
        assert (t.pattern is not None) == t.fraud
        assert t.pattern is None or t.pattern in FRAUD_PATTERNS
        assert t.revenue_at_stake == t.revenue_at_stake.quantize(Decimal("0.01"))


def test_ground_truth_is_frozen() -> None:
    _, t = next(iter(generate(1)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.fraud = True  # type: ignore[misc]


def test_aeo_holders_rarely_cheat(sample: list[tuple[dict, GroundTruth]]) -> None:
    aeo = [t.fraud for d, t in sample if d["importer"].get("aeo_status") == "certified"]
    other = [t.fraud for d, t in sample if d["importer"].get("aeo_status") != "certified"]
    assert len(aeo) > 1000
    assert sum(aeo) / len(aeo) < 0.25 * sum(other) / len(other)


def test_fraud_concentrates_by_goods_and_traders_but_not_completely(sample: list[tuple[dict, GroundTruth]]) -> None:
    by_chapter: dict[str, list[bool]] = collections.defaultdict(list)
    by_importer: dict[str, list[bool]] = collections.defaultdict(list)
    for d, t in sample:
        by_chapter[d["goods_items"][0]["hs_code"][:2]].append(t.fraud)
        by_importer[d["importer"]["id"]].append(t.fraud)
    rates = [sum(v) / len(v) for v in by_chapter.values() if len(v) >= 200]
    assert max(rates) > 2 * 0.08 and min(rates) < 0.5 * 0.08
    busy = [sum(v) / len(v) for v in by_importer.values() if len(v) >= 50]
    assert max(busy) <= 0.8  # no importer is a certain hit outside the cluster
    assert sum(r == 0 for r in busy) > 10


def test_undervalued_goods_show_low_unit_values(sample: list[tuple[dict, GroundTruth]]) -> None:
    median = {g.hs_code: g.unit_price for g in CATALOGUE}

    def log_ratio(d: dict) -> float:
        g = d["goods_items"][0]
        return math.log(float(g["customs_value_amount"]) / float(g["quantity"]) / median[g["hs_code"]])

    under = sorted(log_ratio(d) for d, t in sample if t.pattern == "undervaluation")
    legit = sorted(log_ratio(d) for d, t in sample if not t.fraud)
    assert under[len(under) // 2] < legit[len(legit) // 2] - 0.5


def test_misclassified_goods_use_a_confusable_lower_duty_code(sample: list[tuple[dict, GroundTruth]]) -> None:
    declared = {b for _, b in MISCLASSIFICATIONS}
    rows = [d for d, t in sample if t.pattern == "misclassification"]
    assert rows
    for d in rows:
        assert any(g["hs_code"] in declared for g in d["goods_items"])


def test_origin_masking_claims_other_origins_and_often_betrays_its_route(
    sample: list[tuple[dict, GroundTruth]],
) -> None:
    rows = [d for d, t in sample if t.pattern == "origin_masking"]
    assert rows
    betrayed = 0
    for d in rows:
        origins = {g["origin_country_code"] for g in d["goods_items"]}
        assert "CN" not in origins
        route = {d["transport"]["loading_location"][:2], *d["transport"]["itinerary_country_codes"]}
        betrayed += "CN" in route
    assert 0.3 < betrayed / len(rows) < 0.9
    # and legitimate declarations sometimes route through China too, so the route alone is not proof
    legit = sum(
        1
        for d, t in sample
        if not t.fraud
        and d["goods_items"][0]["origin_country_code"] != "CN"
        and "CN" in d["transport"]["itinerary_country_codes"]
    )
    assert legit > 0.2 * betrayed


def test_cluster_shares_declarant_and_address_and_starts_late(sample: list[tuple[dict, GroundTruth]]) -> None:
    rows = [d for d, t in sample if t.pattern == "risky_importer_cluster"]
    assert len({d["declarant"]["id"] for d in rows}) == 1
    assert len({d["importer"]["id"] for d in rows}) >= 4
    lines = {d["importer"]["address"]["line"].rstrip("A") for d in rows}
    assert len(lines) == 1
    assert min(d["acceptance_date"] for d in rows) > (START + dt.timedelta(days=100)).isoformat()


# --- amounts, duty and preferences ------------------------------------------------------------------------------


def _half_up(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_duty_tax_is_duty_plus_vat(sample: list[tuple[dict, GroundTruth]]) -> None:
    vat = Decimal("21")
    for d, _ in sample[:3000]:
        for g in d["goods_items"]:
            value, rate = Decimal(g["customs_value_amount"]), Decimal(g["duty_rate"])
            duty = _half_up(value * rate / 100)
            assert Decimal(g["duty_tax_amount"]) == duty + _half_up((value + duty) * vat / 100)


def test_preferences_prove_origin_with_a_certificate(sample: list[tuple[dict, GroundTruth]]) -> None:
    claims = 0
    for d, _ in sample[:5000]:
        docs = {doc["id"]: doc for doc in d["additional_documents"]}
        for g in d["goods_items"]:
            pref = g.get("preference")
            if pref is None:
                continue
            claims += 1
            doc = docs[pref["proving_document_id"]]
            assert doc["type_code"] == "861" and doc["issuer_country_code"] == g["origin_country_code"]
            assert g["origin_country_code"] in generator.PREFERENCES_EU
            mfn = next(c.mfn_rate for c in CATALOGUE if c.hs_code == g["hs_code"])
            assert Decimal(g["duty_rate"]) < Decimal(str(mfn))
    assert claims > 300


# --- real codes -------------------------------------------------------------------------------------------------


def test_containers_vessels_and_locations_are_valid(sample: list[tuple[dict, GroundTruth]]) -> None:
    assert _iso6346_style_check("CSQU305438") == iso6346_check_digit("CSQU305438") == 3
    containers = 0
    for d, _ in sample[:5000]:
        tr = d["transport"]
        for number in tr.get("container_ids", []):
            assert check_container_number(number) == number
            containers += 1
        if tr["mode_code"] == "1":
            assert check_imo_number(tr["vessel_imo"]) == tr["vessel_imo"]
            assert check_mmsi(tr["vessel_mmsi"]) == tr["vessel_mmsi"]
            assert tr["container_ids"]
        check_unlocode(tr["loading_location"])
        assert tr.get("unloading_location", "NLRTM")[:2] == "NL"
        assert tr["itinerary_country_codes"][-1] == "NL"
        assert tr["departure_country_code"] == tr["loading_location"][:2]
    assert containers > 3000


def test_air_waybills_carry_their_mod7_check_digit(sample: list[tuple[dict, GroundTruth]]) -> None:
    for d, _ in sample[:3000]:
        for doc in d["additional_documents"]:
            if doc["type_code"] == "740":
                prefix, number = doc["id"].split("-")
                assert len(prefix) == 3 and len(number) == 8 and int(number[:7]) % 7 == int(number[7])


def test_reference_tables_are_consistent() -> None:
    codes = {g.hs_code for g in CATALOGUE}
    assert 60 <= len(codes) == len(CATALOGUE) <= 120
    assert len({g.hs_code[:2] for g in CATALOGUE}) >= 40
    assert {c for pair in MISCLASSIFICATIONS for c in pair} <= codes
    assert {hs for hs, _ in TRADE_DEFENCE} <= codes
    for true, declared in MISCLASSIFICATIONS:
        rates = {g.hs_code: g.mfn_rate + TRADE_DEFENCE.get((g.hs_code, "CN"), 0) for g in CATALOGUE}
        assert rates[declared] < rates[true]
    for g in CATALOGUE:
        assert g.descriptions and g.unit in {"KGM", "NAR", "PR", "LTR", "MIL", "MTQ", "MTK", "CTM"}
        for origin, _ in g.origins:
            check_country(origin)
            assert origin in generator.SEA_PORTS or origin in generator.AIRPORTS, origin
    for table in (generator.SEA_PORTS, generator.AIRPORTS, generator.ROAD_CITIES):
        for places in table.values():
            for place in places:
                check_unlocode(place)


def test_hs_codes_exist_in_hs_2022() -> None:
    hs_2022 = shared_data("hs", "harmonized-system-2022.csv")
    from opencustoms.reference.hs import read_hs_csv

    known = {e.code for e in read_hs_csv(hs_2022) if e.level == 6}
    missing = sorted({g.hs_code for g in CATALOGUE} - known)
    assert not missing, f"not HS 2022 subheadings: {missing}"


# --- arguments and speed ----------------------------------------------------------------------------------------


def test_arguments_are_checked_and_generation_is_lazy() -> None:
    for bad in (
        {"n": -1},
        {"n": 10, "days": 0},
        {"n": 10, "fraud_rate": 1.5},
        {"n": 10, "country": "XX"},
        {"n": 10, "seed": -3},
    ):
        with pytest.raises(ValueError):
            generate(**bad)  # type: ignore[arg-type]
    assert list(generate(0)) == []
    d, _ = next(iter(generate(100_000_000, seed=1)))  # lazy: the first of 100 million comes at once
    Declaration.model_validate(d)


def test_catalogue_and_tables_are_documented() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "demo-data.md"
    text = doc.read_text(encoding="utf-8")
    for g in CATALOGUE:
        assert f"| {g.hs_code} |" in text, f"{g.hs_code} is not in the catalogue table of docs/demo-data.md"
    for pattern in FRAUD_PATTERNS:
        assert f"### {pattern}" in text
    for true, declared in MISCLASSIFICATIONS:
        assert true in text and declared in text

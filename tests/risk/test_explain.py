"""Reasons in the officer's words (risk/explain.py, risk/data/reasons.toml): every form the engine stores is
recognised and said in English and French, every model feature has a sentence, and the figures a sentence states
are the fitted references the model used."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import numpy as np
import polars as pl
import pytest
from risk_helpers import SMALL

from opencustoms.demo.frames import demo_frame
from opencustoms.risk import explain, gaps, lanes
from opencustoms.risk.features import STAT_KEYS
from opencustoms.risk.model import RiskModel
from opencustoms.risk.profiles import Profile

SNAKE = re.compile(r"\b[a-z]+_[a-z0-9_]+\b")  # a feature's or a column's name (uv_z, rate_hs6_origin, cat_origin)


def english_only_words() -> set[str]:
    """Words of the English templates that no French template uses: a French sentence must contain none."""
    words = {lang: set() for lang in ("en", "fr")}
    for entry in explain.catalogue().entries.values():
        for lang in words:
            template = re.sub(r"\{[^}]*\}", " ", entry[lang])
            words[lang] |= {w.lower() for w in re.findall(r"[A-Za-zÀ-ÿ']{3,}", template)}
    return words["en"] - words["fr"]


def test_the_catalogue_has_every_language_and_no_stray_placeholder() -> None:
    assert explain.catalogue().problems() == []


def test_every_reason_form_the_engine_stores_is_recognised() -> None:
    frame_row = {"reference": "R1", "date": dt.date(2025, 1, 2), "hs6": "847130", "origin": "CN", "value": 10.0}
    profile = Profile.model_validate(
        {
            "id": "p-1",
            "lane": "red",
            "reason": "Laptops below price",
            "valid_from": "2025-01-01",
            "criteria": {"field": "origin", "op": "eq", "value": "CN"},
        }
    )
    signal = {"kind": "iot.seal_opened_outside_zone", "severity": "critical", "reason": "the seal was opened"}
    texts: list[str] = []
    for draw_rate, aeo in ((1.0, "certified"), (0.0, "none")):
        policy = lanes.LanePolicy(random_rate=draw_rate)
        row = {**frame_row, "aeo": aeo}
        texts += lanes.assign_one(row, 0.9, [profile], policy, thresholds={"red": 0.5}, signals=[signal])["reasons"]
        texts += lanes.assign_one(row, 0.9, [], lanes.LanePolicy(random_rate=0.0), thresholds={"red": 0.5})["reasons"]
        texts += lanes.assign_one(row, 0.1, [], lanes.LanePolicy(random_rate=0.0), thresholds={"red": 0.5})["reasons"]
    drawn = lanes.LanePolicy(random_rate=1.0)
    texts += lanes.assign_one({**frame_row, "aeo": "none"}, 0.1, [], drawn, thresholds={"red": 0.5})["reasons"]
    for origin, hs6, office in (("ZZ", "847130", None), (None, None, "NL1"), ("Q1", "99999", "NL1"), ("CN", "", "NL1")):
        texts += gaps.gaps_of({"origin": origin, "hs6": hs6, "office": office})
    texts.append("HS code 849999 is not in the HS 2022 nomenclature" + gaps.SUFFIX)
    found = {text: explain.recognise(text)[0] for text in texts}
    assert None not in found.values(), [t for t, code in found.items() if code is None]
    assert {"profile", "signal", "random", "aeo", "lane_ranking", "green", "gap_origin_unknown"} <= set(found.values())
    for lang in ("en", "fr"):
        said = explain.explain([{"kind": "x", "text": t} for t in texts], lang)
        for reason in said:
            assert not reason["text"].startswith(("signal ", "profile ", "random selection")), reason
            assert not SNAKE.search(reason["text"].replace("p-1", "")) or reason["code"] == "signal", reason


@pytest.fixture(scope="module")
def fitted() -> tuple[RiskModel, pl.DataFrame, pl.DataFrame]:
    frame, _ = demo_frame(3000, seed=11, fraud_rate=0.15)
    frame = frame.sort("date")
    train, valid, test = frame[:2000], frame[2000:2500], frame[2500:]
    return RiskModel(params=SMALL).fit(train, valid), train, test


def test_every_feature_of_a_model_has_a_sentence_in_both_languages(fitted: Any) -> None:
    model, _, test = fitted
    row = test.row(0, named=True)
    facts = explain.Facts(row, model.builder_.evidence(row), "EUR")
    french_only = english_only_words()
    for feature in model.names_:
        for lang in ("en", "fr"):
            [said] = explain.explain(
                [
                    {
                        "kind": "model",
                        "text": "x",
                        "contributions": [{"feature": feature, "value": 1.0, "contribution": 0.5}],
                    }
                ],
                lang,
                facts,
            )
            [c] = said["contributions"]
            assert c["code"] != "feature_other", feature
            assert not SNAKE.search(c["text"]), (feature, c["text"])
            assert " = " not in c["text"] and "nan" not in c["text"].lower().split()
            assert c["strength"] == "raises" and c["strength_text"]
            if lang == "fr":
                words = {w.lower() for w in re.findall(r"[A-Za-zÀ-ÿ']{3,}", c["text"])}
                assert not words & french_only, (feature, c["text"], words & french_only)


def test_the_figures_a_sentence_states_are_the_models_references(fitted: Any) -> None:
    """k of n earlier inspections are the labelled history's counts; the reference median is the median unit
    value of its group (HS6 × origin when it has enough declarations)."""
    model, train, test = fitted
    builder = model.builder_
    labelled = train.filter(pl.col("label").is_not_null())
    checked = 0
    for row in test.head(60).iter_rows(named=True):
        evidence = builder.evidence(row)
        for name in ("hs6", "origin", "hs6_origin"):
            keys = STAT_KEYS[name]
            group = labelled.filter(pl.all_horizontal([pl.col(k) == row[k] for k in keys]))
            assert evidence["stats"][name] == (group.height, int(group["label"].sum() or 0))
        reference = evidence["reference"]
        if reference["level"] == 0:
            group = train.filter(
                (pl.col("hs6") == row["hs6"]) & (pl.col("origin") == row["origin"]) & (pl.col("net_mass") > 0)
            )
            unit = ((group["value"].clip(lower_bound=0) + 1) / (group["net_mass"] + 1e-3)).log()
            assert reference["n"] == group.height
            assert math.isclose(reference["median"], math.exp(float(np.median(unit.to_numpy()))), rel_tol=1e-9)
            checked += 1
            [said] = explain.explain(
                [
                    {
                        "kind": "model",
                        "text": "x",
                        "contributions": [{"feature": "uv_z", "value": 1.0, "contribution": 2.0}],
                    }
                ],
                "en",
                explain.Facts(row, evidence, "EUR"),
            )
            text = said["contributions"][0]["text"]
            assert (
                f"over {reference['n']:,} declarations" in text
                and "strongly" in said["contributions"][0]["strength_text"]
            )
    assert checked, "no test row had an HS6 × origin reference"


def test_two_features_saying_the_same_are_one_sentence_with_their_weight() -> None:
    row = {"hs6": "940161", "origin": "CN", "value": 100.0, "net_mass": 100.0}
    evidence = {"reference": {"level": 1, "median": 10.0, "n": 40}, "stats": {}, "min_reference": 5}
    contributions = [
        {"feature": "uv_z", "value": -4.0, "contribution": 0.5},
        {"feature": "uv_deviation", "value": -2.0, "contribution": 0.6},
        {"feature": "duty_rate", "value": 12.0, "contribution": 0.3},
    ]
    [said] = explain.explain(
        [{"kind": "model", "text": "x", "contributions": contributions}], "en", explain.Facts(row, evidence, "EUR")
    )
    first, second = said["contributions"]
    assert first["text"].startswith("Unit value 1.00 EUR/kg is 90% below the usual for subheading 9401.61")
    assert (
        first["contribution"] == 1.1 and first["strength"] == "strong" and first["features"] == ["uv_z", "uv_deviation"]
    )
    assert second["text"] == "Duty rate 12.0% on the declared goods"
    french = explain.explain(
        [{"kind": "model", "text": "x", "contributions": contributions}], "fr", explain.Facts(row, evidence, "EUR")
    )
    assert french[0]["contributions"][0]["text"].startswith("Valeur unitaire de 1,00 EUR/kg, inférieure de 90\u202f%")
    assert explain.top_reason([{"code": "lane_ranking", "text": "x"}, said]) == first["text"]


def test_the_api_and_the_cli_say_reasons_in_the_language_asked(platform, operator, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from conftest import sample_declaration
    from opencustoms.api.app import create_app
    from opencustoms.cli import app
    from opencustoms.declarations import service as declarations
    from opencustoms.risk import service
    from opencustoms.security import service as security

    engine = platform.engine
    data = sample_declaration("LRN-LANG")
    data["goods_items"][0]["origin_country_code"] = "ZZ"  # a gap: a reason whatever the model
    declarations.create(engine, operator, data)
    service.decide(platform, operator, "LRN-LANG")
    security.create_user(engine, operator, "olga", "NL", ["officer"])
    auth = {"Authorization": f"Bearer {security.issue_token(engine, operator, 'olga')}"}
    with TestClient(create_app(platform)) as client:
        texts = {}
        for header in ("fr-FR,fr;q=0.9,en;q=0.5", "en-GB", "de"):
            answer = client.get("/risk/decisions/LRN-LANG", headers={**auth, "Accept-Language": header})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            gap = next(r for r in body["reasons"] if r["code"] == "gap_origin_unknown")
            assert gap["values"] == {"code": "ZZ"} and gap["kind"] == "missing_data"
            texts[header] = gap["text"]
            assert body["top_reason"] in [r["text"] for r in body["reasons"]]
        queue = client.get("/risk/queue", params={"status": "any"}, headers={**auth, "Accept-Language": "fr"}).json()
        assert any(r["top_reason"] and "risque" in r["top_reason"] for r in queue)
    assert texts["fr-FR,fr;q=0.9,en;q=0.5"].startswith("Pays d'origine déclaré inconnu (ZZ)")
    assert texts["en-GB"] == texts["de"] == "Country of origin declared as not known (ZZ): missing data raises the risk"
    monkeypatch.setattr("opencustoms.cli.risk._platform", lambda: platform)
    said = CliRunner().invoke(app, ["risk", "explain", "LRN-LANG", "--lang", "fr"])
    assert said.exit_code == 0, said.output
    assert "Pays d'origine déclaré inconnu" in said.output
    refused = CliRunner().invoke(app, ["risk", "explain", "LRN-LANG", "--lang", "de"])
    assert refused.exit_code == 2 and "--lang" in refused.output

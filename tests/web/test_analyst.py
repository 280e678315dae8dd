"""Risk analyst pages through the app (TestClient): model versions with their evaluation charts (precision and
recall curves against random and rules-only, feature importance, drift with a verdict) and valuation flags with
their bands; officers get a 403 naming the role."""

from __future__ import annotations

import re
from pathlib import Path

from web_helpers import Site

from opencustoms.declarations import service as declarations
from opencustoms.demo.frames import demo_frame
from opencustoms.demo.generator import generate
from opencustoms.risk import service as risk
from opencustoms.security import service as security

SMALL = {"n_estimators": 60, "learning_rate": 0.1, "num_leaves": 15, "verbose": -1}


def train_promoted(site: Site, tmp_path: Path) -> str:
    """A model trained on generated files (a validation file gives the report its curves), promoted, that has then
    scored a few new declarations online."""
    frame, _ = demo_frame(900, seed=7)
    train, valid, _test = risk.split_by_date(frame)
    train.write_parquet(tmp_path / "train.parquet")
    valid.write_parquet(tmp_path / "valid.parquet")
    operator = security.local_operator("NL")
    row = risk.train_model(
        site.platform,
        operator,
        tmp_path / "train.parquet",
        tmp_path / "valid.parquet",
        layout="frame",
        promote=True,
        params=SMALL,
    )
    for data, _truth in generate(12, seed=99, country="NL"):
        declarations.create(site.engine, operator, data)  # decisions are taken on stored declarations
        risk.decide(site.platform, operator, data["functional_reference_id"])
    return str(row["version"])


def test_models_page_draws_curves_features_and_drift(client_for, site: Site, tmp_path: Path) -> None:
    version = train_promoted(site, tmp_path)
    report = risk.model_report(site.engine, security.local_operator("NL"), version)
    page = client_for("analyst").get("/ui/risk/models")
    assert page.status_code == 200
    html = page.text
    article = html[html.index(f'id="model-{version}"') :].split("</article>")[0]
    # two line charts (precision, recall), each with the model, rules-only, random and perfect series
    for key in ("model", "rules", "random", "perfect"):
        assert article.count(f'class="series-{key}"') == 2
    points = re.findall(r'class="series-model" points="([^"]+)"', article)
    assert all(len(p.split()) == 30 for p in points)
    # the highest point of the model's precision curve is drawn where the stored value puts it
    precision = report["report"]["evaluation"]["curves"]["model"]["precision"]
    first_y = float(points[0].split()[0].split(",")[1])
    assert abs(first_y - (12 + (1 - precision[0]) * (230 - 12 - 34))) < 0.2
    features = report["report"]["feature_importance"]
    assert article.count('class="feature"') == len(features) and features[0]["feature"] in article
    drift = report["drift"]
    assert drift["declarations"] == 12 and drift["psi"] is not None
    word = {"stable": "Stable:", "watch": "Watch:", "drift": "Drift:"}[drift["verdict"].split(":")[0]]
    assert word in article and f"{drift['psi']:.3f}" in article
    assert article.count('class="bin-current"') == 20 and article.count('class="bin-reference"') == 20
    assert "Held out: validation file" in article
    french = client_for("analyst").get("/ui/risk/models?lang=fr").text
    assert "Précision selon la part contrôlée" in french and "Dérive des scores depuis la mise en service" in french


def test_models_page_without_a_held_out_evaluation_says_why(client_for) -> None:
    page = client_for("analyst").get("/ui/risk/models").text  # the demo site's model: too few inspections
    assert "no held-out evaluation" in page and 'class="feature"' in page


def test_valuation_flags_page_lists_flags_with_their_bands(client_for, site: Site) -> None:
    expected = risk.valuation_flags_stored(site.engine, security.local_operator("NL"))
    assert expected["flags"], "the demo site should have at least one flagged goods item"
    page = client_for("analyst").get("/ui/risk/valuation")
    assert page.status_code == 200
    for flag in expected["flags"]:
        assert f'href="/ui/declarations/{flag["reference"]}"' in page.text
        assert f"{flag['band_low']:.2f} – {flag['band_high']:.2f}" in page.text
        assert f"<td>{flag['sample_size']}</td>" in page.text
        assert f"{flag['period_from']} – {flag['period_to']}" in page.text
    assert page.text.count('class="flag-') == len(expected["flags"])
    assert f"{expected['checked']} goods items checked" in page.text
    bad = client_for("analyst").get("/ui/risk/valuation", params={"since": "03/12/2025", "limit": "0"})
    assert bad.status_code == 422 and 'id="e-since"' in bad.text and 'id="e-limit"' in bad.text


def test_officers_are_refused_the_analyst_pages_with_the_role_named(client_for) -> None:
    officer = client_for("officer")
    for path in ("/ui/risk/models", "/ui/risk/valuation"):
        response = officer.get(path)
        assert response.status_code == 403
        assert "risk:manage" in response.text and "risk_analyst" in response.text

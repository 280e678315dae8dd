"""Reasons in the officer's words: every reason of a decision as a sentence with the evidence an officer can check,
in English or French.

The engine stores a decision's reasons as it decides (:func:`opencustoms.risk.service.reasons_of`): the lane rules'
texts in a fixed English form, and the model's top contributions (feature, value, log-odds). This module says them
again for a reader, from the catalogue ``risk/data/reasons.toml``:

- a stored text is recognised by its entry's ``match`` pattern and said in the reader's language with its values
  (a lane, a rate, a country) written for that reader;
- a model contribution becomes a sentence built from the feature's meaning and the *fitted references the model
  used* (:meth:`opencustoms.risk.features.FeatureBuilder.evidence`): "Unit value 1.71 EUR/kg is 89% below the usual
  for subheading 8539.50, origin China (median 15.40 EUR/kg over 312 declarations)", "43% of earlier inspections of
  goods of origin China found fraud (11 of 26)" — codes shown as their labels, and its weight as a plain scale
  ("strongly raises the risk") with a bar's share;
- a signal is said by its pillar's sentence (:func:`opencustoms.signals.describe`) when the caller gives one.

A reason keeps its machine fields (``kind``, ``code``, ``values``, the contributions' ``feature``, ``value`` and
``contribution``); ``text`` is the sentence for the reader. Nothing here reads the database: the service gives the
facts (:class:`Facts`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from opencustoms import wording
from opencustoms.wording import labels

CATALOGUE_PATH = Path(__file__).parent / "data" / "reasons.toml"
# a contribution's weight (log-odds) from which it "strongly raises" / "raises" the risk; below, "slightly"
STRONG, RAISES = 1.0, 0.4
# |log(unit value / median)| below this reads "close to the usual" (about ±15%)
NEAR = 0.15
# what each statistic feature is about (risk/features.py STAT_KEYS) and which category each cat_ feature is
_CATEGORY_WHAT = ("origin", "departure", "office", "transport_mode", "hs2", "hs4", "duty_regime", "aeo", "procedure")
# contributions that carry evidence to check (a price against its reference, earlier inspections, a code by name):
# the queue's top reason prefers them to a bare figure (a value, a mass) when they weigh more than slightly
EVIDENCE = frozenset({"uv_below", "uv_above", "uv_no_reference", "rate_seen", "rate_none", "rate_value", "category"})
SignalSentence = Callable[[str, str, str], str]  # (kind, stored reason, lang) -> the sentence in lang


@dataclass(frozen=True)
class Facts:
    """What a decision's model reasons are said from: the declaration as the model read it (a conformed row),
    the evidence of the model version that decided (:meth:`~opencustoms.risk.features.FeatureBuilder.evidence`),
    and the currency of its values."""

    row: Mapping[str, Any]
    evidence: Mapping[str, Any] | None = None
    currency: str | None = None


@cache
def catalogue() -> wording.Catalogue:
    return wording.Catalogue(CATALOGUE_PATH)


@cache
def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    return [(key, re.compile(entry["match"])) for key, entry in catalogue().entries.items() if "match" in entry]


def recognise(text: str) -> tuple[str | None, dict[str, str]]:
    """The catalogue entry of a stored reason text and the values in it; (None, {}) for a text of no known form
    (it is then shown as stored)."""
    for key, pattern in _patterns():
        found = pattern.match(text)
        if found:
            return key, found.groupdict()
    return None, {}


def say(key: str, lang: str, /, **values: Any) -> str:
    return catalogue().say(key, lang, **values)


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def band_text(band: str | None, lang: str) -> str:
    """A score band (risk/scores.py) in words: "very high" / "très élevée"."""
    key = "band_" + (band or "").replace(" ", "_")
    return say(key, lang) if key in catalogue() else ""


def explain(
    reasons: Sequence[Mapping[str, Any]],
    lang: str,
    facts: Facts | None = None,
    signal_sentence: SignalSentence | None = None,
) -> list[dict[str, Any]]:
    """Each stored reason with ``code``, ``values`` and ``text`` (the sentence in ``lang``); a model reason's
    contributions each with their sentence, ``strength`` (strong / raises / slight), ``strength_text`` and
    ``share`` (of the largest, for a bar)."""
    lang = wording.language(lang)
    out = []
    for reason in reasons:
        stored = str(reason.get("text") or "")
        code, values = recognise(stored)
        shown: dict[str, Any] = {**reason, "code": code, "values": values}
        if code is not None:
            shown["text"] = _sentence(code, values, lang, signal_sentence)
        contributions = reason.get("contributions") or []
        if contributions:
            top = max(abs(float(c.get("contribution") or 0)) for c in contributions) or 1.0
            shown["contributions"] = _merged([_contribution(c, lang, facts, top) for c in contributions], lang, top)
        out.append(shown)
    return out


def top_reason(reasons: Sequence[Mapping[str, Any]]) -> str | None:
    """The one sentence a queue shows: what decided the lane — a profile, an alert, missing data, a random draw
    (they come first) — or, for a lane the model's ranking gave, the contribution that raised the risk most."""
    if not reasons:
        return None
    ranked = any(r.get("code") == "lane_ranking" for r in reasons)
    if ranked:
        for r in reasons:
            contributions = r.get("contributions") or []
            if contributions:
                telling = [c for c in contributions if c.get("code") in EVIDENCE and c.get("strength") != "slight"]
                return str((telling or contributions)[0]["text"])
    for r in reasons:
        if r.get("code") not in ("aeo", "model", "lane_ranking") and r.get("text"):
            return str(r["text"])
    return next((str(r["text"]) for r in reasons if r.get("text")), None)


def _sentence(code: str, values: Mapping[str, str], lang: str, signal_sentence: SignalSentence | None) -> str:
    v = dict(values)
    if code == "lane_ranking":
        v["lane"] = labels.label("lane", v.get("lane"), lang)
        v["rate"] = wording.localise_percent(lang, v.get("rate", ""))
        v["score"] = wording.percent(lang, _float(v.get("score")), 1)
    elif code == "random":
        v["rate"] = wording.percent(lang, _float(v.get("rate")), 1)
    elif code == "aeo":
        v["factor"] = wording.number(lang, _float(v.get("factor")))
    elif code == "green":
        v["score"] = wording.percent(lang, _float(v.get("score")), 1)
    elif code == "model":
        v["percent"] = wording.localise_percent(lang, v.get("percent", "").strip())
        v["band"] = band_text(v.get("band"), lang) or v.get("band", "")
    elif code == "signal":
        reason = v.get("reason", "")
        v["sentence"] = signal_sentence(v.get("kind", ""), reason, lang) if signal_sentence else reason
        v["severity"] = labels.label("severity", v.get("severity"), lang)
    return say(code, lang, **v)


def _strength(weight: float) -> str:
    return "strong" if weight >= STRONG else "raises" if weight >= RAISES else "slight"


def _contribution(c: Mapping[str, Any], lang: str, facts: Facts | None, top: float) -> dict[str, Any]:
    weight = float(c.get("contribution") or 0)
    strength = _strength(weight)
    code, values, text = _feature_sentence(str(c.get("feature")), c.get("value"), lang, facts)
    return {
        **c,
        "code": code,
        "values": values,
        "text": text,
        "strength": strength,
        "strength_text": say("strength_" + strength, lang),
        "share": round(min(abs(weight) / top, 1.0), 3) if top else 0.0,
    }


def _merged(contributions: list[dict[str, Any]], lang: str, top: float) -> list[dict[str, Any]]:
    """Contributions that say the same thing (the unit value's distance to its reference is two features) as one
    sentence carrying their summed weight."""
    out: dict[str, dict[str, Any]] = {}
    for c in contributions:
        same = out.get(c["text"])
        if same is None:
            out[c["text"]] = c
            continue
        weight = float(same["contribution"]) + float(c["contribution"])
        strength = _strength(weight)
        same.update(
            contribution=round(weight, 4),
            features=[*same.get("features", [same["feature"]]), c["feature"]],
            strength=strength,
            strength_text=say("strength_" + strength, lang),
            share=round(min(abs(weight) / top, 1.0), 3),
        )
    return sorted(out.values(), key=lambda c: -float(c["contribution"]))


HS_TEXT_CHARS = 70  # an HS text longer than this is cut at a word and ends with "…" (the page shows it whole)


def _hs_values(hs: str | None, digits: int) -> dict[str, str]:
    code = (hs or "")[:digits]
    shown = f"{code[:4]}.{code[4:]}" if digits == 6 and len(code) == 6 else code
    text = labels.hs_text(code) or ""
    if len(text) > HS_TEXT_CHARS:
        text = text[:HS_TEXT_CHARS].rsplit(" ", 1)[0].rstrip(" ,;:(") + "…"
    return {"hs": shown or "?", "hs_text": text}


def _feature_sentence(feature: str, value: Any, lang: str, facts: Facts | None) -> tuple[str, dict[str, Any], str]:
    """(code, machine values, sentence) of one model contribution."""
    row: Mapping[str, Any] = facts.row if facts is not None else {}
    evidence = facts.evidence if facts is not None else None
    currency = (facts.currency if facts is not None else None) or ""
    number = value if isinstance(value, int | float) and math.isfinite(value) else None
    if feature in ("uv_z", "uv_deviation", "log_uv", "uv_reference_n", "uv_reference_level") and evidence:
        return _unit_value_sentence(row, evidence, lang, currency)
    if (feature.startswith("rate_") or feature.startswith("n_")) and evidence:
        name = feature.split("_", 1)[1]
        subject = _subject(name, row, lang)
        if name not in evidence["stats"]:  # a party's history, read without the pseudonyms it is keyed by
            key = "rate_value" if feature.startswith("rate_") and number is not None else "rate_history"
            share = wording.percent(lang, number) if number is not None else ""
            return key, {"statistic": name}, say(key, lang, subject=subject, share=share)
        n, k = evidence["stats"][name]
        values = {"statistic": name, "n": n, "k": k}
        if n:
            return (
                "rate_seen",
                values,
                say(
                    "rate_seen",
                    lang,
                    share=wording.percent(lang, k / n),
                    subject=subject,
                    k=wording.number(lang, k),
                    n=wording.number(lang, n),
                ),
            )
        return "rate_none", values, say("rate_none", lang, subject=subject)
    if feature.startswith("cat_"):
        column = feature[4:]
        hs6 = row.get("hs6")
        raw = hs6[: int(column[2:])] if column in ("hs2", "hs4") and hs6 else row.get(column)
        values = {"column": column, "code": raw}
        return (
            "category",
            values,
            say("category", lang, what=_what(column, lang), label=_category_label(column, raw, lang)),
        )
    if feature == "duty_rate" and number is not None:
        return feature, {"rate": number}, say(feature, lang, rate=wording.percent(lang, number / 100, 1))
    if feature in ("log_value", "log_duty"):
        amount = row.get("value") if feature == "log_value" else row.get("duty_at_stake")
        return feature, {"amount": amount}, say(feature, lang, amount=wording.amount(lang, amount), currency=currency)
    if feature == "log_mass":
        mass = row.get("net_mass")
        return (
            feature,
            {"mass": mass},
            say(feature, lang, mass=wording.number(lang, mass, 0) if mass is not None else "–"),
        )
    if feature == "items":
        return feature, {"items": row.get("items")}, say(feature, lang, items=wording.number(lang, row.get("items")))
    if feature == "preference_claimed":
        key = "preference_claimed" if number else "preference_none"
        return key, {}, say(key, lang)
    if feature == "anomaly":
        return feature, {}, say(feature, lang)
    if feature in ("uv_z", "uv_deviation", "log_uv", "uv_reference_n", "uv_reference_level", "duty_rate"):
        # decided without the evidence at hand (no model file): the unit value alone
        return _unit_value_sentence(row, None, lang, currency)
    return "feature_other", {"feature": feature}, say("feature_other", lang, feature=feature)


def price(facts: Facts, lang: str) -> dict[str, Any]:
    """The declaration's unit value against the price reference the model used (``code``, ``values``, ``text``),
    as the declaration page shows it whatever the lane."""
    code, values, text = _unit_value_sentence(facts.row, facts.evidence, wording.language(lang), (facts.currency or ""))
    return {"code": code, "values": values, "text": text}


def _unit_value_sentence(
    row: Mapping[str, Any], evidence: Mapping[str, Any] | None, lang: str, currency: str
) -> tuple[str, dict[str, Any], str]:
    value, mass = row.get("value"), row.get("net_mass")
    unit_value = value / mass if value is not None and mass else None
    if unit_value is None:
        return "uv_unknown", {}, say("uv_unknown", lang)
    reference = (evidence or {}).get("reference") or {"level": 3}
    level = int(reference.get("level", 3))
    digits = 4 if level == 2 else 6
    hs = row.get("hs6")
    product = say("product_hs4" if digits == 4 else "product_hs6", lang, **_hs_values(hs, digits))
    if hs is None:
        product = "?"
    shown_uv = wording.amount(lang, unit_value)
    if level >= 3 or not reference.get("median"):
        values: dict[str, Any] = {"unit_value": unit_value, "reference_level": level}
        return (
            "uv_no_reference",
            values,
            say(
                "uv_no_reference",
                lang,
                unit_value=shown_uv,
                currency=currency,
                product=product,
                min=wording.number(lang, (evidence or {}).get("min_reference", 5)),
            ),
        )
    median = float(reference["median"])
    ratio = unit_value / median if median > 0 else math.inf
    origin_phrase = say("origin_phrase", lang, origin=labels.country(row.get("origin"), lang)) if level == 0 else ""
    values = {
        "unit_value": round(unit_value, 4),
        "median": round(median, 4),
        "n": reference.get("n"),
        "reference_level": level,
        "ratio": round(ratio, 4),
    }
    common = {
        "unit_value": shown_uv,
        "currency": currency,
        "product": product,
        "origin_phrase": origin_phrase,
        "median": wording.amount(lang, median),
        "n": wording.number(lang, reference.get("n")),
    }
    if ratio > 0 and abs(math.log(ratio)) < NEAR:
        return "uv_near", values, say("uv_near", lang, **common)
    if ratio < 1:
        return "uv_below", values, say("uv_below", lang, gap=wording.percent(lang, 1 - ratio), **common)
    return "uv_above", values, say("uv_above", lang, times=wording.number(lang, round(ratio, 1), 1), **common)


def _subject(name: str, row: Mapping[str, Any], lang: str) -> str:
    key = "subject_" + name
    if key not in catalogue():
        return name
    digits = 4 if name == "hs4" else 6
    return say(
        key,
        lang,
        **_hs_values(row.get("hs6"), digits),
        origin=labels.country(row.get("origin"), lang),
        departure=labels.country(row.get("departure"), lang),
        office=row.get("office") or "?",
        mode=labels.label("transport_mode", row.get("transport_mode"), lang),
    )


def _what(column: str, lang: str) -> str:
    if column in _CATEGORY_WHAT:
        return say("what_" + column, lang)
    return say("what_national", lang, name=column.removeprefix("x_"))


def _category_label(column: str, raw: Any, lang: str) -> str:
    if raw is None:
        return "–"
    code = str(raw)
    if column in ("origin", "departure"):
        return f"{labels.country(code, lang)} ({code})"
    if column == "transport_mode":
        return labels.label("transport_mode", code, lang)
    if column == "aeo":
        return labels.label("aeo_status", code, lang)
    if column in ("hs2", "hs4"):
        text = labels.hs_text(code) if lang == "en" else None
        return f"{code} ({text})" if text else code
    return code

"""Seeded synthetic import declarations with labelled fraud, for ``make demo``, the tests and the benchmarks.

:func:`generate` yields ``(declaration_dict, GroundTruth)`` pairs in acceptance-date order. Every dict is plain
JSON-like data in the field names of :class:`opencustoms.model.declaration.Declaration` and validates with
``Declaration.model_validate``. The truth says whether the declaration is fraudulent, by which pattern, and how
much duty and tax the fraud evades. docs/demo-data.md describes the data and how each fraud pattern shows in it.

How it is fast: the trading world (importers with their stable trade lines, sellers, declarants, vessels,
routes) is built once per ``(seed, country)`` and cached; declarations are then drawn in chunks with one numpy
``Generator`` (vectorised draws per chunk) and only the assembly of the dicts is a Python loop.

The goods catalogue and the other tables (trade measures, countries, geography, names) are TOML files in
``opencustoms/demo/data``, read once at import. Rates, prices and trade-defence duties are illustrative (modelled on
EU tariff levels, rounded); they are not a tariff and must not be used to assess anything.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import numpy as np

from opencustoms.reference.codes import COUNTRY_CODES, CURRENCY_CODES, LETTER_VALUES

__all__ = ["CATALOGUE", "FRAUD_PATTERNS", "MISCLASSIFICATIONS", "TRADE_DEFENCE", "GroundTruth", "Good", "generate"]

FRAUD_PATTERNS = ("undervaluation", "misclassification", "origin_masking", "risky_importer_cluster")


@dataclass(frozen=True, slots=True)
class GroundTruth:
    functional_reference_id: str
    fraud: bool
    pattern: str | None  # one of FRAUD_PATTERNS or None
    revenue_at_stake: Decimal  # duty + tax that the fraud evades (0 when not fraud), in the declaration currency


# --- the tables, read from data/*.toml --------------------------------------------------------------------------
#
# The goods catalogue, trade measures, countries, geography and names live in TOML files beside this module
# (``opencustoms/demo/data``; docs/demo-data.md describes each). They are read once, at import, into the constants
# below; TOML arrays become tuples, so the tables are as immutable as the literals they replaced.

DATA_FILES = ("catalogue", "trade", "countries", "geography", "names")


def _frozen(value: Any) -> Any:
    """TOML data with every array as a tuple (recursively); tables stay dicts, in file order."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    return value


@cache
def load_data(name: str) -> dict[str, Any]:
    """One of :data:`DATA_FILES` (``opencustoms/demo/data/<name>.toml``), parsed once."""
    if name not in DATA_FILES:
        raise ValueError(f"no demo data file {name!r}; one of {', '.join(DATA_FILES)}")
    text = resources.files("opencustoms.demo").joinpath(f"data/{name}.toml").read_text(encoding="utf-8")
    data: dict[str, Any] = _frozen(tomllib.loads(text))
    return data


@dataclass(frozen=True, slots=True)
class Good:
    """One HS 2022 subheading as the demo trades it. Prices are in EUR per ``unit``; rates in percent."""

    hs_code: str
    sector: str
    unit: str  # UN/ECE Recommendation 20 code
    unit_price: float  # median price per unit (lognormal)
    price_sigma: float  # log-scale spread of the unit price
    kg_per_unit: float  # net mass of one unit (1 for KGM)
    lot: float  # median quantity of one goods item
    mfn_rate: float  # most-favoured-nation ad valorem duty (or an ad valorem equivalent), percent
    origins: tuple[tuple[str, float], ...]  # typical countries of origin, with weights
    air_share: float = 0.0  # share of trade lines flown rather than shipped
    risk: float = 1.0  # relative propensity to be undervalued
    packing: float = 1.1  # gross mass / net mass
    descriptions: tuple[str, ...] = ()


_GOOD_FIELDS = frozenset(Good.__slots__)
_GOOD_REQUIRED = _GOOD_FIELDS - {"air_share", "risk", "packing"}


def _good(entry: dict[str, Any]) -> Good:
    """A ``[[goods]]`` entry of catalogue.toml (numbers may be written as integers; they are read as floats)."""
    problems = [f"unknown field {k}" for k in sorted(set(entry) - _GOOD_FIELDS)]
    problems += [f"missing field {k}" for k in sorted(_GOOD_REQUIRED - set(entry))]
    if problems:
        raise ValueError(f"catalogue.toml, goods {entry.get('hs_code', '?')}: {'; '.join(problems)}")
    return Good(
        hs_code=entry["hs_code"],
        sector=entry["sector"],
        unit=entry["unit"],
        unit_price=float(entry["unit_price"]),
        price_sigma=float(entry["price_sigma"]),
        kg_per_unit=float(entry["kg_per_unit"]),
        lot=float(entry["lot"]),
        mfn_rate=float(entry["mfn_rate"]),
        origins=tuple((cc, float(w)) for cc, w in entry["origins"].items()),
        air_share=float(entry.get("air_share", 0.0)),
        risk=float(entry.get("risk", 1.0)),
        packing=float(entry.get("packing", 1.1)),
        descriptions=entry["descriptions"],
    )


# goods catalogue (catalogue.toml)
CATALOGUE: tuple[Good, ...] = tuple(_good(entry) for entry in load_data("catalogue")["goods"])
_COUNTED_UNITS = frozenset({"NAR", "PR"})

# trade measures and fraud (trade.toml)
_TRADE = load_data("trade")
TRADE_DEFENCE: dict[tuple[str, str], float] = {
    (m["hs_code"], m["origin"]): float(m["duty"]) for m in _TRADE["trade_defence"]
}
MISCLASSIFICATIONS: tuple[tuple[str, str], ...] = _TRADE["misclassifications"]
MASK_SOURCE: str = _TRADE["mask_source"]
MASKING_TARGETS: dict[str, tuple[str, ...]] = _TRADE["masking_targets"]
MASKING_SECTOR_TARGETS: dict[str, tuple[str, ...]] = _TRADE["masking_sector_targets"]
PREFERENCES_EU: dict[str, tuple[str, str, str]] = {
    cc: (p["code"], p["agreement"], p["kind"]) for cc, p in _TRADE["preferences_eu"].items()
}
ORIGIN_RISK: dict[str, float] = _TRADE["origin_risk"]
_RISKY_SECTORS: tuple[str, ...] = _TRADE["risky_sectors"]

# countries and money (countries.toml)
_COUNTRIES = load_data("countries")
EU27 = frozenset(_COUNTRIES["eu27"])
_EUROZONE = frozenset(_COUNTRIES["eurozone"])
_EUROPE_ROAD = EU27 | frozenset(_COUNTRIES["europe_road"])
_CURRENCY: dict[str, str] = _COUNTRIES["currency"]
_PER_EUR: dict[str, float] = _COUNTRIES["per_eur"]
VAT_RATES: dict[str, float] = _COUNTRIES["vat_rates"]

# geography: ports, airports, road, vessels, the administration's own places (geography.toml)
_GEO = load_data("geography")
SEA_PORTS: dict[str, tuple[str, ...]] = _GEO["sea_ports"]
AIRPORTS: dict[str, tuple[str, ...]] = _GEO["airports"]
AIRLINES: dict[str, tuple[tuple[str, str, str], ...]] = _GEO["airlines"]
HUB_AIRLINES: tuple[tuple[str, str, str], ...] = _GEO["hub_airlines"]
ROAD_CITIES: dict[str, tuple[str, ...]] = _GEO["road_cities"]
ROAD_SHARE: dict[str, float] = _GEO["road_share"]
ROAD_TRANSIT_NL: dict[str, tuple[str, ...]] = _GEO["road_transit_nl"]
_PLATE_FORMATS: dict[str, str] = _GEO["plate_formats"]
SERVICE_OF: dict[str, str] = {cc: svc for svc, s in _GEO["services"].items() for cc in s["countries"]}
_SERVICE_SIZES: dict[str, int] = {svc: s["vessels"] for svc, s in _GEO["services"].items()}
TRANSHIPMENT_HUBS: dict[str, tuple[str, ...]] = {svc: s["transhipment_hubs"] for svc, s in _GEO["services"].items()}
SELLER_HUBS: dict[str, tuple[str, float]] = {cc: (h["hub"], h["share"]) for cc, h in _GEO["seller_hubs"].items()}
CARRIERS: tuple[tuple[str, str], ...] = _GEO["carriers"]
LESSORS: tuple[str, ...] = _GEO["lessors"]
_FLAGS: tuple[tuple[str, tuple[int, ...], int], ...] = tuple((f["flag"], f["mids"], f["weight"]) for f in _GEO["flags"])
_VESSEL_WORDS: tuple[tuple[str, ...], tuple[str, ...]] = (_GEO["vessel_words_first"], _GEO["vessel_words_second"])
_CN_NEIGHBOURS: tuple[str, ...] = _GEO["cn_neighbours"]
UNLOADING: dict[str, dict[str, tuple[tuple[str, float], ...]]] = _GEO["unloading"]
OFFICE_SUFFIXES: dict[str, tuple[str, ...]] = _GEO["office_suffixes"]

# names and addresses (names.toml)
_NAMES = load_data("names")
_Domestic = tuple[str, tuple[tuple[str, str], ...], str, tuple[str, ...]]


def _domestic(d: dict[str, Any]) -> _Domestic:
    return (d["legal_suffix"], d["cities"], d["postcode_style"], d["streets"])


_DOMESTIC: dict[str, _Domestic] = {cc: _domestic(d) for cc, d in _NAMES["domestic"].items()}
_DOMESTIC_DEFAULT = _domestic(_NAMES["domestic_default"])
FOREIGN_CITIES: dict[str, tuple[str, ...]] = _NAMES["foreign_cities"]
_COMPANY_SUFFIX: dict[str, str] = _NAMES["company_suffix"]
_POSTCODE_DIGITS: dict[str, int] = _NAMES["postcode_digits"]
_CN_BRANDS: tuple[str, ...] = _NAMES["cn_brands"]
_CN_STREETS: tuple[str, ...] = _NAMES["cn_streets"]
_FOREIGN_STREETS: tuple[str, ...] = _NAMES["foreign_streets"]
_ROOTS: tuple[str, ...] = _NAMES["roots"]
_NL_ROOTS: tuple[str, ...] = _NAMES["nl_roots"]
_SECTOR_WORDS: dict[str, tuple[str, ...]] = _NAMES["sector_words"]
_GENERIC_WORDS: tuple[str, ...] = _NAMES["generic_words"]
_SECTOR_WEIGHTS: dict[str, int] = _NAMES["sector_weights"]  # how often importers specialise in each sector

# --- sizes and rates of the simulated world ---------------------------------------------------------------------

N_IMPORTERS = 400
N_CLUSTER = 8
N_DECLARANTS = 24
_CHUNK = 4096
_ITEMS_PER_DECLARATION = np.array([0.58, 0.24, 0.10, 0.05, 0.03])
_SHARES = (0.50, 0.27, 0.23)  # undervaluation, misclassification, origin masking among non-cluster fraud
_CLUSTER_MIX = (0.55, 0.25, 0.20)
_LEGIT_DISCOUNT_RATE = 0.03  # legitimate low-priced consignments (clearance stock, samples): noise for valuation
_DOC_LEAD = 120  # days before the period for which document dates are prepared
_MAX_P = 0.6  # ceiling of one declaration's fraud probability outside the cluster
_FEEDER_VIA_CN = 0.05  # share of sea consignments from _CN_NEIGHBOURS whose voyage calls in China (legitimate)

# ISO 6346 letter values, used for container and MRN check digits.
_LETTER_VALUE = LETTER_VALUES


def _char_value(ch: str) -> int:
    return _LETTER_VALUE[ch] if ch.isalpha() else int(ch)


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


_RATE_STR = [f"{i // 10}.{i % 10}" for i in range(0, 3001)]


def _rate_str(tenths: int) -> str:
    return _RATE_STR[tenths] if tenths < 3001 else f"{tenths // 10}.{tenths % 10}"


# --- the simulated world ----------------------------------------------------------------------------------------


class _Line:
    """A stable trade line of one importer: one seller, one origin, one route, a few goods."""

    __slots__ = (
        "importer",
        "seller",
        "exporter",
        "origin",
        "mode",
        "loading",
        "departure",
        "itinerary",
        "unloading",
        "office",
        "service",
        "slot",
        "ident",
        "ident_cc",
        "awb",
        "road_container",
        "claim",
        "goods",
        "weight",
        "price",
        "qty",
        "hub",
        "itin_cn",
    )
    importer: int
    seller: int  # party index
    exporter: int  # party index
    origin: str
    mode: str  # "sea" | "air" | "road"
    loading: str
    departure: str
    itinerary: tuple[str, ...]
    unloading: str | None
    office: str
    service: str  # ocean service (sea)
    slot: int  # which of the service's weekly arrivals (sea)
    ident: tuple[str, ...]  # flight numbers or truck plates
    ident_cc: str | None
    awb: str  # air waybill prefix
    road_container: bool
    claim: bool  # claims tariff preference when the origin has one
    goods: list[int]  # catalogue indices
    weight: float
    price: float
    qty: float
    hub: str | None
    itin_cn: tuple[str, ...] | None  # itinerary when the voyage calls in China

    def __init__(self) -> None:
        self.hub: str | None = None
        self.ident: tuple[str, ...] = ()
        self.ident_cc: str | None = None
        self.awb = ""
        self.service = ""
        self.slot = 0
        self.road_container = False
        self.unloading: str | None = None
        self.itin_cn: tuple[str, ...] | None = None


class _World:
    """Everything that does not change from one declaration to the next, for one (seed, country)."""

    def __init__(self, seed: int, country: str) -> None:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x0C057, 1]))
        self.rng = rng
        self.country = country
        self.in_eu = country in EU27
        currency = "EUR" if country in _EUROZONE else _CURRENCY.get(country, "USD")
        if currency not in CURRENCY_CODES:
            currency = "EUR" if self.in_eu else "USD"
        self.currency = currency
        self.fx = _PER_EUR.get(currency, 1.0)
        self.vat_t = int(round(VAT_RATES.get(country, 20.0) * 10))
        self.excluded = EU27 | {country} if self.in_eu else frozenset({country})
        if self.in_eu:
            self.prefs = {o: p for o, p in PREFERENCES_EU.items() if o not in self.excluded}
        else:
            self.prefs = {o: ("300", f"{country}-{o} FTA", "zero") for o in PREFERENCES_EU if o != country}
        self.road_ok = country in _EUROPE_ROAD
        dom = _DOMESTIC.get(country, _DOMESTIC_DEFAULT)
        self.dom_suffix, self.dom_cities, self.dom_postcode, self.dom_streets = dom

        self.hs = [g.hs_code for g in CATALOGUE]
        self.entry_of = {g.hs_code: i for i, g in enumerate(CATALOGUE)}
        self._build_entries()
        self.parties: list[dict[str, Any]] = []
        self.party_country: list[str] = []
        self._seller_pool: dict[tuple[str, str], list[int]] = {}
        self._seller_use: dict[int, int] = {}
        self._build_vessels()
        self._build_declarants()
        self._build_special_sellers()
        self._build_importers()
        self._finalise_arrays()

    # -- catalogue arrays

    def _build_entries(self) -> None:
        cat = CATALOGUE
        self.e_price = np.array([g.unit_price for g in cat])
        self.e_psig = np.array([g.price_sigma for g in cat])
        self.e_kgu = np.array([g.kg_per_unit for g in cat])
        self.e_lot = np.array([g.lot for g in cat])
        self.e_pack = np.array([g.packing for g in cat])
        self.e_risk = np.array([g.risk for g in cat])
        self.e_counted = np.array([g.unit in _COUNTED_UNITS for g in cat])
        self.e_kgm = np.array([g.unit == "KGM" for g in cat])
        self.e_unit = [g.unit for g in cat]
        self.desc: list[str] = []
        doff, nd = [], []
        for g in cat:
            doff.append(len(self.desc))
            nd.append(len(g.descriptions))
            self.desc.extend(g.descriptions)
        self.e_doff = np.array(doff)
        self.e_nd = np.array(nd)
        self.e_origins = []
        for g in cat:
            allowed = [(o, w) for o, w in g.origins if o not in self.excluded]
            self.e_origins.append(allowed)
        self.sector_entries: dict[str, list[int]] = {}
        for i, g in enumerate(cat):
            if self.e_origins[i]:
                self.sector_entries.setdefault(g.sector, []).append(i)
        self.confusions: dict[int, list[int]] = {}
        for true, declared in MISCLASSIFICATIONS:
            self.confusions.setdefault(self.entry_of[true], []).append(self.entry_of[declared])

    def rate_t(self, e: int, origin: str, claim: bool) -> tuple[int, bool]:
        """Duty rate in tenths of a percent for goods ``e`` of ``origin``, and whether a preference applies."""
        g = CATALOGUE[e]
        mfn = g.mfn_rate
        extra = TRADE_DEFENCE.get((g.hs_code, origin), 0.0)
        pref = False
        if claim and mfn > 0 and origin in self.prefs:
            kind = self.prefs[origin][2]
            reduced = mfn
            if kind == "zero":
                reduced = 0.0
            elif kind == "gsp":
                reduced = max(0.0, mfn - 3.5)
            elif kind == "cu" and int(g.hs_code[:2]) >= 25:
                reduced = 0.0
            if reduced < mfn:
                mfn, pref = reduced, True
        return int(round((mfn + extra) * 10)), pref

    def mask_targets(self, e: int) -> tuple[str, ...]:
        g = CATALOGUE[e]
        targets = MASKING_TARGETS.get(g.hs_code) or MASKING_SECTOR_TARGETS.get(g.sector, ())
        return tuple(t for t in targets if t not in self.excluded)

    # -- helpers for names and addresses

    def _pick(self, seq: Any) -> Any:
        return seq[int(self.rng.integers(len(seq)))]

    def _digits(self, n: int) -> str:
        return "".join(str(d) for d in self.rng.integers(0, 10, n))

    def _letters(self, n: int) -> str:
        return "".join(chr(65 + int(x)) for x in self.rng.integers(0, 26, n))

    def _postcode(self, style: str, prefix: str) -> str:
        if style == "nl":
            return f"{prefix}{self._digits(2)} {self._letters(2)}"
        if style == "uk":
            return f"{prefix}{int(self.rng.integers(1, 20))} {self._digits(1)}{self._letters(2)}"
        width = 4 if style == "4d" else 5
        return prefix + self._digits(max(0, width - len(prefix)))

    def _domestic_address(self) -> tuple[str, str, str]:
        city, prefix = self._pick(self.dom_cities)
        street = self._pick(self.dom_streets)
        num = int(self.rng.integers(1, 250))
        line = f"{street} {num}" if self.dom_postcode in ("nl", "4d") and self.country != "FR" else f"{num} {street}"
        return line, city, self._postcode(self.dom_postcode, prefix)

    def _add_party(
        self,
        pid: str,
        name: str,
        address: tuple[str, str, str | None],
        cc: str,
        tax_id: str | None = None,
        aeo: str | None = None,
        aeo_id: str | None = None,
    ) -> int:
        addr: dict[str, Any] = {"line": address[0], "city_name": address[1]}
        if address[2]:
            addr["postcode_id"] = address[2]
        addr["country_code"] = cc
        party: dict[str, Any] = {"id": pid, "name": name, "address": addr, "country_code": cc}
        if tax_id:
            party["tax_id"] = tax_id
        if aeo:
            party["aeo_status"] = aeo
            party["aeo_certificate_id"] = aeo_id
        self.parties.append(party)
        self.party_country.append(cc)
        return len(self.parties) - 1

    def _domestic_id(self) -> str:
        return f"{self.country}{self._digits(9)}"

    def _aeo(self, p_certified: float) -> tuple[str | None, str | None]:
        u = float(self.rng.random())
        if u >= p_certified:
            return None, None
        kind = self._pick(("F", "F", "C", "S"))
        cert = f"{self.country}AEO{kind}{self._digits(8)}"
        v = float(self.rng.random())
        status = "certified" if v < 0.92 else ("suspended" if v < 0.97 else "revoked")
        return status, cert

    # -- vessels

    def _build_vessels(self) -> None:
        rng = self.rng
        flag_w = np.array([f[2] for f in _FLAGS], dtype=float)
        flag_w /= flag_w.sum()
        self.vessels: list[tuple[str, str, str, str, int]] = []  # name, imo, mmsi, flag, carrier
        self.service_range: dict[str, tuple[int, int]] = {}
        names: set[str] = set()
        for svc, size in _SERVICE_SIZES.items():
            begin = len(self.vessels)
            for _ in range(size):
                while True:
                    name = f"{self._pick(_VESSEL_WORDS[0])} {self._pick(_VESSEL_WORDS[1])}"
                    if name not in names:
                        names.add(name)
                        break
                body = [9, *(int(d) for d in rng.integers(0, 10, 5))]
                check = sum(d * w for d, w in zip(body, range(7, 1, -1), strict=True)) % 10
                imo = "".join(map(str, body)) + str(check)
                flag, mids, _w = _FLAGS[int(rng.choice(len(_FLAGS), p=flag_w))]
                mmsi = f"{self._pick(mids)}{self._digits(6)}"
                carrier = int(rng.integers(len(CARRIERS)))
                self.vessels.append((name, imo, mmsi, flag, carrier))
            self.service_range[svc] = (begin, len(self.vessels) - begin)
        owners = [c[0] for c in CARRIERS] + list(LESSORS)
        self.owner_codes = owners
        self.owner_sum = np.array([sum(_char_value(ch) << i for i, ch in enumerate(o)) for o in owners])
        self.v_carrier = np.array([v[4] for v in self.vessels])

    # -- declarants (customs brokers)

    def _build_declarants(self) -> None:
        rng = self.rng
        self.declarants: list[int] = []
        roots = _NL_ROOTS if self.country == "NL" else _ROOTS
        words = (
            "Customs Services",
            "Douane Expediteurs",
            "Customs Brokers",
            "Forwarding",
            "Customs & Logistics",
            "Clearance Services",
        )
        for _ in range(N_DECLARANTS):
            name = f"{self._pick(roots)} {self._pick(words)} {self.dom_suffix}"
            aeo, cert = self._aeo(0.45)
            nid = self._digits(9)
            idx = self._add_party(
                f"{self.country}{nid}",
                name,
                self._domestic_address(),
                self.country,
                f"{self.country}{nid}B01" if self.country == "NL" else None,
                aeo,
                cert,
            )
            self.declarants.append(idx)
        w = rng.lognormal(0.0, 0.9, N_DECLARANTS)
        self.declarant_weight = w / w.sum()
        # Two lax brokers (their clients cheat more) and one small broker that serves the risky cluster.
        order = list(rng.permutation(N_DECLARANTS))
        self.lax_declarants = {int(order[0]), int(order[1])}
        self.cluster_declarant = int(order[2])
        self.declarant_weight[self.cluster_declarant] *= 0.15
        self.declarant_weight /= self.declarant_weight.sum()

    # -- sellers

    def _new_seller(self, cc: str, sector: str) -> int:
        words = _SECTOR_WORDS.get(sector, _GENERIC_WORDS)
        suffix = _COMPANY_SUFFIX.get(cc, "Ltd.")
        cities = FOREIGN_CITIES.get(cc, ("Capital City",))
        city = self._pick(cities)
        if cc == "CN":
            name = f"{city} {self._pick(_CN_BRANDS)} {self._pick(words)} {suffix}"
            line = f"No. {int(self.rng.integers(1, 999))} {self._pick(_CN_STREETS)}"
        elif cc == "ID":
            name = f"PT {self._pick(_ROOTS)} {self._pick(words)} {suffix}"
            line = f"{self._pick(_FOREIGN_STREETS)} {int(self.rng.integers(1, 300))}"
        else:
            name = f"{self._pick(_ROOTS)} {self._pick(words)} {suffix}"
            line = f"{int(self.rng.integers(1, 300))} {self._pick(_FOREIGN_STREETS)}"
        digits = _POSTCODE_DIGITS.get(cc)
        postcode = self._digits(digits) if digits else None
        return self._add_party(f"{cc}{self._digits(12)}", name, (line, city, postcode), cc)

    def _seller(self, cc: str, sector: str, alpha: float = 2.5) -> int:
        """A seller of ``sector`` goods in ``cc``: reuse an existing one (Chinese-restaurant process) or add one."""
        pool = self._seller_pool.setdefault((cc, sector), [])
        total = sum(self._seller_use[s] for s in pool)
        if pool and self.rng.random() < total / (total + alpha):
            w = np.array([self._seller_use[s] for s in pool], dtype=float)
            s = pool[int(self.rng.choice(len(pool), p=w / w.sum()))]
        else:
            s = self._new_seller(cc, sector)
            pool.append(s)
            self._seller_use[s] = 0
        self._seller_use[s] += 1
        return s

    def _build_special_sellers(self) -> None:
        self.risky_sellers = [
            self._new_seller(self._pick(("CN", "CN", "HK")), self._pick(_RISKY_SECTORS)) for _ in range(6)
        ]
        self.mask_sellers: dict[str, list[int]] = {}
        targets = {t for ts in (*MASKING_TARGETS.values(), *MASKING_SECTOR_TARGETS.values()) for t in ts}
        for cc in sorted(targets):
            if cc not in self.excluded:
                self.mask_sellers[cc] = [self._new_seller(cc, "trading") for _ in range(2)]
        self.cluster_sellers = [
            self._new_seller("CN", "apparel"),
            self._new_seller("CN", "electronics"),
            self._new_seller("HK", "trading"),
        ]

    # -- importers and their trade lines

    def _build_importers(self) -> None:
        rng = self.rng
        n = N_IMPORTERS
        size = rng.lognormal(0.0, 1.3, n)
        pct = np.argsort(np.argsort(size)) / (n - 1)
        roots = _NL_ROOTS if self.country == "NL" else _ROOTS
        sectors = list(_SECTOR_WEIGHTS)
        sw = np.array([_SECTOR_WEIGHTS[s] for s in sectors], dtype=float)
        sw /= sw.sum()
        sectors_avail = [s for s in sectors if s in self.sector_entries]
        cluster_ids = set(range(n - N_CLUSTER, n))
        cluster_address = self._domestic_address()
        cluster_address_b = (cluster_address[0] + "A", cluster_address[1], cluster_address[2])
        self.lines: list[_Line] = []
        imp_party, imp_risk, imp_start, imp_cluster, imp_declarant, imp_weight = [], [], [], [], [], []
        imp_line_off, imp_line_n = [], []
        used_ids: set[str] = set()
        for i in range(n):
            in_cluster = i in cluster_ids
            sector = sectors[int(rng.choice(len(sectors), p=sw))]
            if sector not in self.sector_entries:
                sector = self._pick(sectors_avail)
            if in_cluster:
                sector = _RISKY_SECTORS[i % 2]
            p_aeo = 0.0 if in_cluster else 0.05 + 0.45 * float(pct[i]) ** 2
            aeo, cert = self._aeo(p_aeo)
            while True:
                nid = self._digits(9)
                if nid not in used_ids:
                    used_ids.add(nid)
                    break
            words = _SECTOR_WORDS.get(sector, _GENERIC_WORDS)
            word = self._pick(words) if rng.random() < 0.6 else self._pick(_GENERIC_WORDS)
            name = f"{self._pick(roots)} {word} {self.dom_suffix}"
            address = (cluster_address if i % 3 else cluster_address_b) if in_cluster else self._domestic_address()
            party = self._add_party(
                f"{self.country}{nid}",
                name,
                address,
                self.country,
                f"{self.country}{nid}B01" if self.country == "NL" else None,
                aeo,
                cert,
            )
            # When the importer starts trading, as a fraction of the period (0 = already trading).
            if in_cluster:
                start = float(rng.uniform(0.35, 0.6))
            else:
                start = float(rng.uniform(0.05, 0.9)) if rng.random() < 0.2 else 0.0
            # A few habitual offenders, more often among small traders; new traders are riskier.
            bad = aeo is None and not in_cluster and rng.random() < (0.10 if pct[i] < 0.5 else 0.03)
            risk = float(rng.lognormal(0.0, 0.5)) * (4.0 if bad else 1.0)
            risk *= 1.5 if start > 0 else 1.0
            risk *= 1.2 if pct[i] < 0.3 else 1.0
            risk *= {"certified": 0.06, "suspended": 1.5, "revoked": 2.0}.get(aeo or "", 1.0)
            # Declarant: large AEO importers often lodge their own declarations.
            if in_cluster:
                declarant = self.declarants[self.cluster_declarant]
            elif aeo == "certified" and pct[i] > 0.85 and rng.random() < 0.5:
                declarant = party
            else:
                if bad and rng.random() < 0.5:
                    d = sorted(self.lax_declarants)[int(rng.integers(2))]
                else:
                    d = int(rng.choice(N_DECLARANTS, p=self.declarant_weight))
                declarant = self.declarants[d]
                if d in self.lax_declarants:
                    risk *= 1.4
            weight = float(np.median(size)) * 2.5 if in_cluster else float(size[i])
            imp_party.append(party)
            imp_risk.append(1.0 if in_cluster else risk)
            imp_start.append(start)
            imp_cluster.append(in_cluster)
            imp_declarant.append(declarant)
            imp_weight.append(weight)
            imp_line_off.append(len(self.lines))
            n_lines = 1 + min(7, int(rng.poisson(0.8 + 0.5 * math.log1p(size[i]))))
            if in_cluster:
                n_lines = 2 + int(rng.integers(2))
            for _ in range(n_lines):
                s = sector if (rng.random() < 0.75 or in_cluster) else self._pick(sectors_avail)
                self.lines.append(self._make_line(i, s, bad=bad, cluster=in_cluster))
            imp_line_n.append(n_lines)
        self.imp_party = imp_party
        self.i_risk = np.array(imp_risk)
        self.i_start_frac = np.array(imp_start)
        self.i_cluster = np.array(imp_cluster)
        self.i_declarant = imp_declarant
        w = np.array(imp_weight)
        self.i_weight = w / w.sum()
        self.i_line_off = np.array(imp_line_off)
        self.i_line_n = np.array(imp_line_n)

    def _make_line(self, importer: int, sector: str, *, bad: bool, cluster: bool) -> _Line:
        rng = self.rng
        ln = _Line()
        ln.importer = importer
        entries = self.sector_entries[sector]
        if cluster:
            # The cluster trades goods from China, where the rewards of cheating are highest.
            entries = [e for e in entries if any(o == "CN" for o, _ in self.e_origins[e])] or entries
        e1 = self._pick(entries)
        origins = self.e_origins[e1]
        if cluster and any(o == "CN" for o, _ in origins):
            origin = "CN"
        else:
            ow = np.array([w for _, w in origins])
            origin = origins[int(rng.choice(len(origins), p=ow / ow.sum()))][0]
        goods = [e1]
        extra = int(rng.choice(4, p=[0.45, 0.3, 0.15, 0.1]))
        candidates = [e for e in entries if e != e1 and any(o == origin for o, _ in self.e_origins[e])]
        rng.shuffle(candidates)
        goods.extend(candidates[:extra])
        ln.goods = goods
        ln.origin = origin
        # seller / exporter
        hub = SELLER_HUBS.get(origin)
        if cluster:
            ln.seller = self._pick(self.cluster_sellers)
            ln.exporter = ln.seller if self.party_country[ln.seller] == "CN" else self._seller("CN", sector)
        elif bad and origin in ("CN", "HK") and rng.random() < 0.4:
            ln.seller = self._pick(self.risky_sellers)
            ln.exporter = ln.seller if self.party_country[ln.seller] == origin else self._seller(origin, sector)
        elif hub and hub[0] not in self.excluded and rng.random() < hub[1]:
            ln.seller = self._seller(hub[0], "trading")
            ln.exporter = self._seller(origin, sector)
            ln.hub = hub[0]
        else:
            ln.seller = self._seller(origin, sector)
            ln.exporter = ln.seller
        ln.claim = origin in self.prefs and rng.random() < 0.85
        ln.weight = float(rng.lognormal(0.0, 0.8))
        ln.price = float(rng.lognormal(0.0, 0.3))
        ln.qty = float(rng.lognormal(0.0, 0.5))
        self._route(ln, max(CATALOGUE[e].air_share for e in goods))
        return ln

    def _weighted(self, table: tuple[tuple[str, float], ...]) -> str:
        w = np.array([x[1] for x in table], dtype=float)
        return table[int(self.rng.choice(len(table), p=w / w.sum()))][0]

    def _route(self, ln: _Line, air_share: float) -> None:
        """Choose mode, places, vehicle and itinerary for a trade line."""
        rng = self.rng
        o, cc = ln.origin, self.country
        road_share = ROAD_SHARE.get(o, 0.0) if (self.road_ok and o in ROAD_CITIES) else 0.0
        u = float(rng.random())
        if u < road_share:
            mode = "road"
        elif o in AIRPORTS and (u < road_share + (1 - road_share) * air_share or o not in SEA_PORTS):
            mode = "air"
        elif o in SEA_PORTS:
            mode = "sea"
        elif o in ROAD_CITIES:
            mode = "road"
        else:
            raise AssertionError(f"no route from {o}")  # every catalogue origin has a port or an airport
        ln.mode = mode
        unl = UNLOADING.get(cc, {}).get(mode)
        ln.unloading = self._weighted(unl) if unl else None
        ln.office = f"{cc}{self._pick(OFFICE_SUFFIXES[mode])}"
        if mode == "sea":
            # A hub seller (e.g. in Hong Kong) often ships from the hub itself.
            src = ln.hub if ln.hub and ln.hub in SEA_PORTS and rng.random() < 0.5 else o
            ports = SEA_PORTS[src]
            if src in _CN_NEIGHBOURS and rng.random() < 0.03:
                ports = SEA_PORTS["CN"]  # consolidated through a Chinese port: legitimate, but looks odd
            pw = np.array([1.0 / (k + 1) for k in range(len(ports))])
            ln.loading = ports[int(rng.choice(len(ports), p=pw / pw.sum()))]
            dep = ln.loading[:2]
            svc = SERVICE_OF.get(dep, "FE")
            ln.service, ln.slot = svc, int(rng.integers(3))
            itin = [o] if o != dep else []
            itin.append(dep)
            hubs = [h for h in TRANSHIPMENT_HUBS[svc] if h not in (dep, cc)]
            if hubs and rng.random() < 0.25:
                itin.append(self._pick(hubs))
            itin.append(cc)
            if src in _CN_NEIGHBOURS and "CN" not in itin:
                # some voyages call in China on the way: legitimate noise for the origin-masking signal
                ln.itin_cn = tuple(dict.fromkeys([*itin[:-1], "CN", cc]))
            ln.road_container = True
        elif mode == "air":
            src = ln.hub if ln.hub and ln.hub in AIRPORTS and rng.random() < 0.5 else o
            ln.loading = self._pick(AIRPORTS[src])
            dep = ln.loading[:2]
            use_local = dep in AIRLINES and rng.random() < 0.6
            iata, prefix, acc = self._pick(AIRLINES[dep]) if use_local else self._pick(HUB_AIRLINES)
            ln.ident = tuple(f"{iata}{int(rng.integers(1, 10)) * 100 + int(rng.integers(100))}" for _ in range(2))
            ln.ident_cc, ln.awb = acc, prefix
            itin = [o] if o != dep else []
            itin.append(dep)
            if acc not in (dep, cc, o):
                itin.append(acc)
            itin.append(cc)
        else:
            ln.loading = self._pick(ROAD_CITIES[o])
            dep = o
            fmt = _PLATE_FORMATS.get(o, "LLL-DDDD")
            ln.ident = tuple(
                "".join(self._letters(1) if c == "L" else (self._digits(1) if c == "D" else c) for c in fmt)
                for _ in range(3)
            )
            ln.ident_cc = o
            transit = ROAD_TRANSIT_NL.get(o, ()) if cc == "NL" else ()
            itin = [o, *(t for t in transit if t != cc), cc]
            ln.road_container = rng.random() < 0.2
        ln.departure = dep
        ln.itinerary = tuple(dict.fromkeys(itin))  # no repeats, order kept

    def _finalise_arrays(self) -> None:
        lines = self.lines
        self.l_origin = [ln.origin for ln in lines]
        self.l_price = np.array([ln.price for ln in lines])
        self.l_qty = np.array([ln.qty for ln in lines])
        self.l_mode = np.array([{"sea": 0, "air": 1, "road": 2}[ln.mode] for ln in lines])
        self.l_road_cont = np.array([ln.road_container and ln.mode == "road" for ln in lines])
        self.l_ng = np.array([len(ln.goods) for ln in lines])
        self.l_goff = np.concatenate([[0], np.cumsum(self.l_ng)[:-1]])
        self.l_orisk = np.array([ORIGIN_RISK.get(ln.origin, 1.0) for ln in lines])
        svc_begin = {s: r[0] for s, r in self.service_range.items()}
        svc_size = {s: r[1] for s, r in self.service_range.items()}
        self.l_svc_begin = np.array([svc_begin.get(ln.service, 0) for ln in lines])
        self.l_svc_size = np.array([svc_size.get(ln.service, 1) for ln in lines])
        self.l_slot = np.array([ln.slot for ln in lines])
        # cumulative line weights within each importer, offset by the importer index (see _draw)
        keys = np.empty(len(lines))
        for i, (off, cnt) in enumerate(zip(self.i_line_off, self.i_line_n, strict=True)):
            w = np.array([lines[j].weight for j in range(off, off + cnt)])
            keys[off : off + cnt] = i + np.cumsum(w) / w.sum()
            keys[off + cnt - 1] = i + 1.0
        self.line_keys = keys
        # per line-good: entry, honest rate, preference, misclassification and masking options
        lg_entry, lg_rate, lg_pref, lg_mis, lg_mis_to, lg_mis_rate, lg_mis_pref, lg_mask = ([] for _ in range(8))
        for ln in lines:
            for e in ln.goods:
                rate, pref = self.rate_t(e, ln.origin, ln.claim)
                lg_entry.append(e)
                lg_rate.append(rate)
                lg_pref.append(pref)
                to, to_rate, to_pref = -1, 0, False
                for d in self.confusions.get(e, ()):
                    drate, dpref = self.rate_t(d, ln.origin, ln.claim)
                    if drate <= rate - 10:
                        to, to_rate, to_pref = d, drate, dpref
                        break
                lg_mis.append(to >= 0)
                lg_mis_to.append(to)
                lg_mis_rate.append(to_rate)
                lg_mis_pref.append(to_pref)
                masked = False
                if ln.origin == MASK_SOURCE:
                    for t in self.mask_targets(e):
                        if self.rate_t(e, t, True)[0] <= rate - 10:
                            masked = True
                            break
                lg_mask.append(masked)
        self.lg_entry = np.array(lg_entry)
        self.lg_rate = np.array(lg_rate, dtype=np.int64)
        self.lg_pref = np.array(lg_pref)
        self.lg_mis = np.array(lg_mis)
        self.lg_mis_to = lg_mis_to
        self.lg_mis_rate = lg_mis_rate
        self.lg_mis_pref = lg_mis_pref
        self.lg_mask = np.array(lg_mask)
        self.established = np.flatnonzero(self.i_start_frac == 0)
        w = self.i_weight[self.established]
        self.est_cum = np.cumsum(w) / w.sum()
        self.imp_cum = np.cumsum(self.i_weight)
        self.imp_cum /= self.imp_cum[-1]
        del self.rng  # the world is immutable from here on; streams bring their own generator

    # -- drawing declarations

    def _draw(self, rng: np.random.Generator, day: np.ndarray, start_day: np.ndarray) -> dict[str, Any]:
        """Vectorised draws for the declarations on ``day``: structure, goods values and fraud propensities."""
        c = day.size
        u = rng.random((5, c))
        imp = np.minimum(np.searchsorted(self.imp_cum, u[0], side="right"), len(self.imp_cum) - 1)
        inactive = start_day[imp] > day
        if inactive.any():
            est = np.searchsorted(self.est_cum, u[1][inactive], side="right")
            imp[inactive] = self.established[np.minimum(est, self.established.size - 1)]
        line = np.searchsorted(self.line_keys, imp + u[2], side="right")
        k = np.searchsorted(np.cumsum(_ITEMS_PER_DECLARATION), u[3] * 0.999999, side="right") + 1
        first = np.cumsum(k) - k
        m = int(k.sum())
        d_of = np.repeat(np.arange(c), k)
        pos = np.arange(m) - first[d_of]
        ln = line[d_of]
        ng = self.l_ng[ln]
        start = (u[4] * self.l_ng[line]).astype(np.int64)
        lgi = self.l_goff[ln] + (start[d_of] + pos) % ng
        e = self.lg_entry[lgi]
        z = rng.standard_normal((4, m))
        ud = rng.random(m)
        qraw = self.e_lot[e] * self.l_qty[ln] * np.exp(0.7 * z[0]) / np.sqrt(k[d_of])
        counted = self.e_counted[e]
        qty = np.where(counted, np.maximum(1.0, np.rint(qraw)), np.maximum(0.1, np.round(qraw, 1)))
        price = self.e_price[e] * self.l_price[ln] * np.exp(self.e_psig[e] * z[1])
        disc_u = rng.random((2, c))
        disc = np.where(disc_u[0] < _LEGIT_DISCOUNT_RATE, 0.3 + 0.35 * disc_u[1], 1.0)
        value = np.maximum(100, np.rint(qty * price * disc[d_of] * self.fx * 100)).astype(np.int64)
        net = np.where(self.e_kgm[e], qty, np.round(np.maximum(0.001, qty * self.e_kgu[e] * np.exp(0.05 * z[2])), 3))
        gross = np.round(net * self.e_pack[e] * (1.0 + 0.04 * np.abs(z[3])) + 0.05, 3)
        rate = self.lg_rate[lgi]
        duty = (value * rate + 500) // 1000
        tax = duty + ((value + duty) * self.vat_t + 500) // 1000
        # fraud propensities (before calibration constants)
        risk = self.i_risk[imp]
        w_u = np.add.reduceat(self.e_risk[e], first) / k * self.l_orisk[line]
        elig_u = (np.maximum.reduceat(rate, first) > 0) | (self.vat_t > 0)
        elig_m = np.maximum.reduceat(self.lg_mis[lgi], first)
        elig_o = np.maximum.reduceat(self.lg_mask[lgi], first)
        return {
            "imp": imp,
            "line": line,
            "k": k,
            "first": first,
            "d_of": d_of,
            "lgi": lgi,
            "e": e,
            "qty": qty,
            "value": value,
            "net": net,
            "gross": gross,
            "rate": rate,
            "tax": tax,
            "ud": ud,
            "cu": risk * w_u * elig_u,
            "cm": risk * elig_m,
            "co": risk * elig_o,
            "eu": elig_u,
            "em": elig_m,
            "eo": elig_o,
            "cluster": self.i_cluster[imp],
        }

    def calibrate(self, seed: int, days: int, fraud_rate: float) -> tuple[float, float, float, float]:
        """Constants (a_u, a_m, a_o, cluster_rate) so that the expected fraud rate is ``fraud_rate``."""
        if fraud_rate <= 0:
            return 0.0, 0.0, 0.0, 0.0
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x0C057, 3]))
        day = np.sort(rng.integers(0, days, 40_000))
        d = self._draw(rng, day, (self.i_start_frac * days).astype(np.int64))
        cl = d["cluster"]
        cluster_rate = min(0.9, 7.0 * fraud_rate)
        cl_any = (d["eu"] | d["em"] | d["eo"]) & cl
        share_c = float(cl.mean())
        target = (fraud_rate - float(cl_any.mean()) * cluster_rate) / max(1e-9, 1.0 - share_c)
        target = min(1.0, max(0.0, target))
        nc = ~cl
        comps = [d["cu"][nc], d["cm"][nc], d["co"][nc]]
        bases = [float(x.mean()) for x in comps]
        shares = [s if b > 0 else 0.0 for s, b in zip(_SHARES, bases, strict=True)]
        total_share = sum(shares) or 1.0
        shares = [s / total_share for s in shares]

        def consts(scale: float) -> list[float]:
            return [scale * s / b if b > 0 else 0.0 for s, b in zip(shares, bases, strict=True)]

        def mean_p(scale: float) -> float:
            a = consts(scale)
            return float(np.minimum(_MAX_P, a[0] * comps[0] + a[1] * comps[1] + a[2] * comps[2]).mean())

        lo, hi = 0.0, 1.0
        while mean_p(hi) < target and hi < 1e6:
            hi *= 2.0
        for _ in range(50):
            mid = (lo + hi) / 2
            if mean_p(mid) < target:
                lo = mid
            else:
                hi = mid
        a = consts(hi)
        return a[0], a[1], a[2], cluster_rate

    def stream(
        self, n: int, seed: int, start: dt.date, days: int, fraud_rate: float
    ) -> Iterator[tuple[dict[str, Any], GroundTruth]]:
        cal = self.calibrate(seed, days, fraud_rate)
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x0C057, 2]))
        offs = np.arange(days)
        dates = [start + dt.timedelta(days=int(d)) for d in offs]
        weekday = np.array([(1.0, 1.0, 1.0, 1.0, 0.95, 0.3, 0.15)[x.weekday()] for x in dates])
        season = 1.0 + 0.1 * np.sin(2 * np.pi * (np.array([x.timetuple().tm_yday for x in dates]) - 100) / 365.25)
        w = weekday * season
        counts = rng.multinomial(n, w / w.sum())
        cum = np.cumsum(counts)
        ctx = _Context(self, seed, start, days, cal)
        for c0 in range(0, n, _CHUNK):
            c1 = min(n, c0 + _CHUNK)
            day = np.searchsorted(cum, np.arange(c0, c1), side="right")
            yield from self._chunk(rng, ctx, c0, day)

    def _chunk(
        self, rng: np.random.Generator, ctx: _Context, c0: int, day: np.ndarray
    ) -> Iterator[tuple[dict[str, Any], GroundTruth]]:
        d = self._draw(rng, day, ctx.start_day)
        c = day.size
        a_u, a_m, a_o, cluster_rate = ctx.cal
        cl = d["cluster"]
        pu = np.where(cl, _CLUSTER_MIX[0] * d["eu"], a_u * d["cu"])
        pm = np.where(cl, _CLUSTER_MIX[1] * d["em"], a_m * d["cm"])
        po = np.where(cl, _CLUSTER_MIX[2] * d["eo"], a_o * d["co"])
        tot = pu + pm + po
        p = np.where(cl, np.where(tot > 0, cluster_rate, 0.0), np.minimum(_MAX_P, tot))
        u = rng.random((7, c))
        fraud = u[0] < p
        x = u[1] * tot
        kind = np.where(x < pu, 0, np.where(x < pu + pm, 1, 2))
        nums = rng.integers(0, 10_000_000, (4, c))
        line = d["line"]
        mode = self.l_mode[line]
        # vessels: the service's rotation gives three arrivals a week
        vessel = self.l_svc_begin[line] + ((day // 7) * 3 + self.l_slot[line]) % self.l_svc_size[line]
        lead = np.where(
            mode == 0,
            18 + (u[2] * 35).astype(np.int64),
            np.where(mode == 1, 1 + (u[2] * 6).astype(np.int64), 1 + (u[2] * 4).astype(np.int64)),
        )
        gsum = np.add.reduceat(d["gross"], d["first"])
        ncont = np.where(
            mode == 0, np.clip(np.ceil(gsum / 20000.0), 1, 6), np.where(self.l_road_cont[line], 1, 0)
        ).astype(np.int64)
        containers = self._containers(rng, vessel, ncont, mode)
        cont_off = np.concatenate([[0], np.cumsum(ncont)])
        mrn = ctx.mrns(c0, day)
        # to Python lists for the assembly loop
        L = self.lines
        imp_l, line_l, k_l, first_l = d["imp"].tolist(), line.tolist(), d["k"].tolist(), d["first"].tolist()
        day_l, fraud_l, kind_l, vessel_l, lead_l = (
            day.tolist(),
            fraud.tolist(),
            kind.tolist(),
            vessel.tolist(),
            lead.tolist(),
        )
        cl_l = cl.tolist()
        nums_l = nums.T.tolist()
        u3, u4, u5 = u[3].tolist(), u[4].tolist(), u[5].tolist()
        feeder = (u[6] < _FEEDER_VIA_CN).tolist()
        cont_off_l = cont_off.tolist()
        e_l, lgi_l = d["e"].tolist(), d["lgi"].tolist()
        counted = self.e_counted[d["e"]].tolist()
        qty_l = [int(q) if cnt else q for q, cnt in zip(d["qty"].tolist(), counted, strict=True)]
        net_l, gross_l = d["net"].tolist(), d["gross"].tolist()
        val_l, rate_l, tax_l = d["value"].tolist(), d["rate"].tolist(), d["tax"].tolist()
        pref_l = self.lg_pref[d["lgi"]].tolist()
        desc_l = (self.e_doff[d["e"]] + (d["ud"] * self.e_nd[d["e"]]).astype(np.int64)).tolist()
        desc, hs, units = self.desc, self.hs, self.e_unit
        parties, vessels, cur, dates, yy = self.parties, self.vessels, self.currency, ctx.dates, ctx.year
        for i in range(c):
            ln = L[line_l[i]]
            f, k = first_l[i], k_l[i]
            origin = ln.origin
            seller, exporter = ln.seller, ln.exporter
            loading, departure, itinerary = ln.loading, ln.departure, ln.itinerary
            if feeder[i] and ln.itin_cn:
                itinerary = ln.itin_cn
            items_e = e_l[f : f + k]
            items_desc = [desc[j] for j in desc_l[f : f + k]]
            items_qty = qty_l[f : f + k]
            items_val = val_l[f : f + k]
            items_rate = rate_l[f : f + k]
            items_tax = tax_l[f : f + k]
            items_pref = pref_l[f : f + k]
            items_origin = origin
            cert_cc = origin
            is_fraud = fraud_l[i]
            pattern = None
            revenue = 0
            if is_fraud:
                res = self._fraud(
                    kind_l[i],
                    ln,
                    lgi_l[f : f + k],
                    items_e,
                    items_desc,
                    items_qty,
                    net_l[f : f + k],
                    items_val,
                    items_rate,
                    items_tax,
                    items_pref,
                    u3[i],
                    u4[i],
                    u5[i],
                )
                if res is None:
                    is_fraud = False
                else:
                    (
                        items_e,
                        items_desc,
                        items_qty,
                        items_val,
                        items_rate,
                        items_tax,
                        items_pref,
                        revenue,
                        new_origin,
                        route,
                    ) = res
                    pattern = "risky_importer_cluster" if cl_l[i] else FRAUD_PATTERNS[kind_l[i]]
                    if new_origin is not None:
                        items_origin = cert_cc = new_origin
                        loading, departure, itinerary, masked_seller = route
                        if masked_seller is not None:
                            seller = exporter = masked_seller
            di = day_l[i] + _DOC_LEAD
            inv_date = dates[di - lead_l[i]]
            n0, n1, n2, n3 = nums_l[i]
            sp = parties[seller]
            docs: list[dict[str, Any]] = [
                {
                    "type_code": "380",
                    "id": f"INV{yy[day_l[i]]}-{n0:07d}",
                    "issue_date": inv_date,
                    "issuer_country_code": sp["country_code"],
                }
            ]
            m = ln.mode
            if m == "sea":
                vname, imo, mmsi, flag, carrier = vessels[vessel_l[i]]
                transport: dict[str, Any] = {
                    "mode_code": "1",
                    "id": vname,
                    "nationality_code": flag,
                    "vessel_imo": imo,
                    "vessel_mmsi": mmsi,
                    "container_ids": containers[cont_off_l[i] : cont_off_l[i + 1]],
                }
                docs.append(
                    {
                        "type_code": "705",
                        "id": f"{CARRIERS[carrier][1]}{n1:07d}{n2 % 1000:03d}",
                        "issue_date": dates[di - lead_l[i] + 2],
                    }
                )
            elif m == "air":
                transport = {"mode_code": "4", "id": ln.ident[n1 % len(ln.ident)], "nationality_code": ln.ident_cc}
                serial = n1 % 10_000_000
                docs.append(
                    {
                        "type_code": "740",
                        "id": f"{ln.awb}-{serial:07d}{serial % 7}",
                        "issue_date": dates[di - lead_l[i]],
                    }
                )
            else:
                transport = {
                    "mode_code": "3",
                    "id": ln.ident[n1 % len(ln.ident)],
                    "nationality_code": ln.ident_cc,
                    "container_ids": containers[cont_off_l[i] : cont_off_l[i + 1]],
                }
                docs.append({"type_code": "730", "id": f"CMR{ln.ident_cc}{n1:07d}", "issue_date": dates[di - 1]})
            transport["loading_location"] = loading
            if ln.unloading:
                transport["unloading_location"] = ln.unloading
            transport["departure_country_code"] = departure
            transport["itinerary_country_codes"] = list(itinerary)
            cert_id = None
            if any(items_pref):
                cert_id = f"{cert_cc}{yy[day_l[i]]}CO{n3:07d}"
                docs.append({"type_code": "861", "id": cert_id, "issue_date": inv_date, "issuer_country_code": cert_cc})
                pref_info = self.prefs[cert_cc]
            goods = []
            for j in range(k):
                ej = items_e[j]
                item = {
                    "sequence_number": j + 1,
                    "hs_code": hs[ej],
                    "description": items_desc[j],
                    "quantity": items_qty[j],
                    "quantity_unit": units[ej],
                    "net_mass_kg": net_l[f + j],
                    "gross_mass_kg": gross_l[f + j],
                    "customs_value_amount": _money(items_val[j]),
                    "customs_value_currency": cur,
                    "origin_country_code": items_origin,
                    "duty_rate": _rate_str(items_rate[j]),
                    "duty_tax_amount": _money(items_tax[j]),
                }
                if items_pref[j]:
                    item["preference"] = {
                        "code": pref_info[0],
                        "agreement": pref_info[1],
                        "proving_document_id": cert_id,
                    }
                goods.append(item)
            dp = parties[self.i_declarant[imp_l[i]]]
            ip = parties[self.imp_party[imp_l[i]]]
            ep = parties[exporter]
            declaration = {
                "functional_reference_id": mrn[i],
                "type_code": "import",
                "acceptance_date": dates[di],
                "declaration_office_id": ln.office,
                "procedure_code": "4000",
                "declarant": {**dp, "address": {**dp["address"]}},
                "importer": {**ip, "address": {**ip["address"]}},
                "exporter": {**ep, "address": {**ep["address"]}},
                "seller": {**sp, "address": {**sp["address"]}},
                "transport": transport,
                "additional_documents": docs,
                "goods_items": goods,
            }
            truth = GroundTruth(mrn[i], is_fraud, pattern, Decimal(revenue).scaleb(-2) if is_fraud else _ZERO)
            yield declaration, truth

    def _containers(
        self, rng: np.random.Generator, vessel: np.ndarray, ncont: np.ndarray, mode: np.ndarray
    ) -> list[str]:
        total = int(ncont.sum())
        if total == 0:
            return []
        owner_of = np.repeat(self.v_carrier[vessel], ncont)
        lessor = rng.integers(len(CARRIERS), len(self.owner_codes), total)
        use_lessor = (rng.random(total) < 0.3) | (np.repeat(mode, ncont) != 0)
        owner = np.where(use_lessor, lessor, owner_of)
        serial = rng.integers(0, 1_000_000, total)
        s = self.owner_sum[owner].copy()
        for j in range(6):
            s += (serial // 10 ** (5 - j)) % 10 << (4 + j)
        check = s % 11 % 10
        codes = self.owner_codes
        return [
            f"{codes[o]}{sn:06d}{ch}" for o, sn, ch in zip(owner.tolist(), serial.tolist(), check.tolist(), strict=True)
        ]

    def _tax(self, value: int, rate: int) -> int:
        duty = (value * rate + 500) // 1000
        return duty + ((value + duty) * self.vat_t + 500) // 1000

    def _fraud(
        self,
        kind: int,
        ln: _Line,
        lgis: list[int],
        es: list[int],
        descs: list[str],
        qtys: list[Any],
        nets: list[float],
        vals: list[int],
        rates: list[int],
        taxes: list[int],
        prefs: list[bool],
        ua: float,
        ub: float,
        uc: float,
    ) -> tuple[Any, ...] | None:
        """Apply one manipulation to a declaration's goods; None when it would evade nothing."""
        es, descs, qtys, vals, rates, taxes, prefs = (
            list(es),
            list(descs),
            list(qtys),
            list(vals),
            list(rates),
            list(taxes),
            list(prefs),
        )
        revenue = 0
        new_origin = None
        route = None
        if kind == 0:  # undervaluation: declared value 20-60% of the true value
            factor = 0.2 + 0.4 * ua
            for j, v in enumerate(vals):
                dv = max(100, min(v, int(v * factor + 0.5)))
                t = self._tax(dv, rates[j])
                revenue += taxes[j] - t
                vals[j], taxes[j] = dv, t
        elif kind == 1:  # misclassification: a lower-duty neighbouring subheading
            for j, lg in enumerate(lgis):
                to = self.lg_mis_to[lg]
                if to < 0:
                    continue
                drate, dpref = self.lg_mis_rate[lg], self.lg_mis_pref[lg]
                t = self._tax(vals[j], drate)
                revenue += taxes[j] - t
                if ub < 0.7:  # the description follows the declared code; otherwise it still betrays the goods
                    g = CATALOGUE[to]
                    descs[j] = g.descriptions[int(uc * len(g.descriptions))]
                old_unit, new_unit = self.e_unit[es[j]], self.e_unit[to]
                if new_unit != old_unit:
                    kgu = CATALOGUE[to].kg_per_unit
                    if new_unit == "KGM":
                        qtys[j] = nets[j]
                    elif new_unit in _COUNTED_UNITS:
                        qtys[j] = max(1, int(round(nets[j] / kgu)))
                    else:
                        qtys[j] = max(0.1, round(nets[j] / kgu, 1))
                es[j], rates[j], taxes[j], prefs[j] = to, drate, t, dpref
        else:  # origin masking: declared as from a third country, claiming its preference where there is one
            targets: tuple[str, ...] = ()
            for lg in lgis:
                if self.lg_mask[lg]:
                    targets = self.mask_targets(self.lg_entry[lg])
                    break
            if not targets:
                return None
            best = None
            for step in range(len(targets)):
                country = targets[(int(ua * len(targets)) + step) % len(targets)]
                new = [self.rate_t(e, country, True) for e in es]
                new_taxes = [self._tax(v, r) for v, (r, _p) in zip(vals, new, strict=True)]
                gain = sum(taxes) - sum(new_taxes)
                if gain > 0:
                    best = (country, new, new_taxes, gain)
                    break
            if best is None:
                return None
            country, new, new_taxes, revenue = best
            rates = [r for r, _p in new]
            prefs = [p for _r, p in new]
            taxes = new_taxes
            new_origin = country
            loading, departure, itinerary = ln.loading, ln.departure, ln.itinerary
            ports = SEA_PORTS if ln.mode == "sea" else AIRPORTS
            if ub >= 0.35 and ln.mode != "road" and country in ports:
                # The carriage is re-documented from the third country ...
                loading = ports[country][int(uc * len(ports[country]))]
                departure = country
                if ub < 0.6:  # ... but the itinerary still shows the leg from the real origin
                    itinerary = tuple(dict.fromkeys((ln.origin, country, self.country)))
                else:
                    itinerary = (country, self.country)
            # else: loaded in the real origin country, which the transport data shows plainly
            seller = None
            if uc < 0.5 and country in self.mask_sellers:
                seller = self.mask_sellers[country][int(uc * 4) % 2]
            route = (loading, departure, itinerary, seller)
        if revenue <= 0:
            return None
        return es, descs, qtys, vals, rates, taxes, prefs, revenue, new_origin, route


_ZERO = Decimal("0.00")


class _Context:
    """Per-stream state: dates, calibration, importer start days, MRN check digits."""

    def __init__(
        self, world: _World, seed: int, start: dt.date, days: int, cal: tuple[float, float, float, float]
    ) -> None:
        self.cal = cal
        self.start_day = (world.i_start_frac * days).astype(np.int64)
        first = start - dt.timedelta(days=_DOC_LEAD)
        self.dates = [(first + dt.timedelta(days=i)).isoformat() for i in range(days + _DOC_LEAD)]
        self.year = [f"{(start + dt.timedelta(days=i)).year % 100:02d}" for i in range(days)]
        self.country = world.country
        self.tag = seed % 1000
        self._const: dict[str, int] = {}

    def mrns(self, c0: int, day: np.ndarray) -> list[str]:
        """MRN-shaped references: yy + country + 3-digit seed tag + 9-digit serial + 'I' + ISO 6346 check digit."""
        c = day.size
        serial = (c0 + np.arange(c)) % 1_000_000_000
        s = np.zeros(c, dtype=np.int64)
        for j in range(9):
            s += (serial // 10 ** (8 - j)) % 10 << (7 + j)
        years = [self.year[x] for x in day.tolist()]
        out = []
        for yy, sn, part in zip(years, serial.tolist(), s.tolist(), strict=True):
            const = self._const.get(yy)
            if const is None:
                head = f"{yy}{self.country}{self.tag:03d}"
                const = sum(_char_value(ch) << i for i, ch in enumerate(head)) + (_LETTER_VALUE["I"] << 16)
                self._const[yy] = const
            out.append(f"{yy}{self.country}{self.tag:03d}{sn:09d}I{(const + part) % 11 % 10}")
        return out


@lru_cache(maxsize=8)
def _world(seed: int, country: str) -> _World:
    return _World(seed, country)


def generate(
    n: int,
    *,
    seed: int = 0,
    start: dt.date = dt.date(2025, 1, 1),
    days: int = 365,
    fraud_rate: float = 0.08,
    country: str = "NL",
) -> Iterator[tuple[dict, GroundTruth]]:
    """Yield n (declaration_dict, truth) pairs, in acceptance_date order. Each dict validates with
    Declaration.model_validate(d).

    ``seed`` fixes everything (same arguments, same output). Declarations fall on the ``days`` days from
    ``start``, fewer at weekends. ``fraud_rate`` is the expected share of fraudulent declarations (rates above
    about 0.5 saturate: some declarations have nothing to cheat on). ``country`` is the importing administration
    (ISO 3166-1 alpha-2): it sets the importers' country, the currency, the VAT rate and, for EU members, the
    preferences and that goods from other member states are not declared at all.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer, not {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
    if not isinstance(start, dt.date):
        raise ValueError(f"start must be a datetime.date, not {start!r}")
    if isinstance(start, dt.datetime):
        start = start.date()
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a positive integer, not {days!r}")
    if not 0.0 <= float(fraud_rate) <= 1.0:
        raise ValueError(f"fraud_rate must be between 0 and 1, not {fraud_rate!r}")
    cc = str(country).strip().upper()
    if cc not in COUNTRY_CODES:
        raise ValueError(f"country {country!r} is not an ISO 3166-1 alpha-2 code, e.g. 'NL'")
    return _world(seed, cc).stream(n, seed, start, days, float(fraud_rate))

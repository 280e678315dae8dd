"""Seeded synthetic import declarations with labelled fraud, for ``make demo``, the tests and the benchmarks.

:func:`generate` yields ``(declaration_dict, GroundTruth)`` pairs in acceptance-date order. Every dict is plain
JSON-like data in the field names of :class:`opencustoms.model.declaration.Declaration` and validates with
``Declaration.model_validate``. The truth says whether the declaration is fraudulent, by which pattern, and how
much duty and tax the fraud evades. docs/demo-data.md describes the data and how each fraud pattern shows in it.

How it is fast: the trading world (importers with their stable trade lines, sellers, declarants, vessels,
routes) is built once per ``(seed, country)`` and cached; declarations are then drawn in chunks with one numpy
``Generator`` (vectorised draws per chunk) and only the assembly of the dicts is a Python loop.

Rates, prices and trade-defence duties are illustrative (modelled on EU tariff levels, rounded); they are not a
tariff and must not be used to assess anything.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
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


# --- goods catalogue -------------------------------------------------------------------------------------------


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


def _g(
    hs: str,
    sector: str,
    unit: str,
    price: float,
    sigma: float,
    kg: float,
    lot: float,
    mfn: float,
    origins: str,
    *descriptions: str,
    air: float = 0.0,
    risk: float = 1.0,
    pack: float = 1.1,
) -> Good:
    pairs = tuple((o, float(w)) for o, w in (p.split(":") for p in origins.split()))
    return Good(
        hs, sector, unit, float(price), sigma, float(kg), float(lot), float(mfn), pairs, air, risk, pack, descriptions
    )


CATALOGUE: tuple[Good, ...] = (
    # electronics
    _g(
        "847130",
        "electronics",
        "NAR",
        520,
        0.45,
        2.0,
        250,
        0.0,
        "CN:70 VN:12 TW:10 TH:8",
        "laptop computers",
        "notebook computers 14 inch",
        "portable PCs",
        air=0.35,
        risk=0.4,
        pack=1.6,
    ),
    _g(
        "847150",
        "electronics",
        "NAR",
        850,
        0.6,
        9,
        60,
        0.0,
        "CN:50 TW:20 MY:15 MX:15",
        "rack server units",
        "desktop computer units",
        air=0.3,
        risk=0.4,
        pack=1.3,
    ),
    _g(
        "847330",
        "electronics",
        "KGM",
        55,
        0.8,
        1,
        400,
        0.0,
        "CN:55 TW:20 MY:10 VN:10 KR:5",
        "computer parts",
        "motherboards",
        "memory modules",
        air=0.4,
        risk=0.5,
        pack=1.3,
    ),
    _g(
        "851713",
        "electronics",
        "NAR",
        190,
        0.6,
        0.25,
        900,
        0.0,
        "CN:65 VN:20 IN:15",
        "smartphones",
        "mobile phones 5G",
        "cellular handsets",
        air=0.6,
        risk=0.5,
        pack=1.5,
    ),
    _g(
        "851762",
        "electronics",
        "NAR",
        40,
        0.8,
        0.5,
        1200,
        0.0,
        "CN:70 VN:15 TW:10 MY:5",
        "wifi routers",
        "network switches",
        "wireless communication modules",
        air=0.4,
        risk=0.5,
        pack=1.4,
    ),
    _g(
        "851830",
        "electronics",
        "NAR",
        9,
        0.8,
        0.2,
        3000,
        2.0,
        "CN:80 VN:20",
        "headphones",
        "wireless earbuds",
        "headsets with microphone",
        air=0.3,
        risk=0.8,
        pack=1.5,
    ),
    _g(
        "852872",
        "electronics",
        "NAR",
        260,
        0.45,
        14,
        350,
        14.0,
        "CN:50 TR:25 KR:10 VN:10 MX:5",
        "LED television sets",
        "smart TV 55 inch",
        "colour TV receivers",
        risk=1.5,
        pack=1.35,
    ),
    _g(
        "852852",
        "electronics",
        "NAR",
        120,
        0.45,
        5.5,
        500,
        0.0,
        "CN:70 TW:10 KR:10 VN:10",
        "computer monitors",
        "LCD monitors 27 inch for PCs",
        risk=0.5,
        pack=1.35,
    ),
    _g(
        "850760",
        "electronics",
        "KGM",
        20,
        0.5,
        1,
        4000,
        2.7,
        "CN:80 KR:10 JP:10",
        "lithium-ion batteries",
        "Li-ion battery packs",
        risk=0.8,
        pack=1.15,
    ),
    _g(
        "850440",
        "electronics",
        "NAR",
        14,
        0.8,
        0.4,
        2500,
        3.3,
        "CN:80 VN:10 TW:10",
        "power adapters",
        "AC/DC power supplies",
        "solar inverters",
        risk=1.0,
        pack=1.3,
    ),
    _g(
        "854143",
        "electronics",
        "NAR",
        85,
        0.3,
        22,
        600,
        0.0,
        "CN:88 VN:6 MY:6",
        "solar panels",
        "photovoltaic modules 400W",
        risk=0.4,
        pack=1.12,
    ),
    _g(
        "853952",
        "electronics",
        "NAR",
        1.2,
        0.6,
        0.05,
        20000,
        2.7,
        "CN:95 VN:5",
        "LED bulbs",
        "LED lamps E27",
        risk=0.8,
        pack=1.4,
    ),
    _g(
        "940542",
        "electronics",
        "NAR",
        16,
        0.8,
        1.5,
        2000,
        4.7,
        "CN:92 VN:8",
        "LED luminaires",
        "LED ceiling lights",
        "LED floodlights",
        risk=1.2,
        pack=1.3,
    ),
    _g(
        "853710",
        "electronics",
        "NAR",
        320,
        0.9,
        20,
        40,
        2.1,
        "CN:40 TR:25 US:15 IN:10 CH:10",
        "electric control panels",
        "low-voltage switchboards",
        risk=0.6,
        pack=1.2,
    ),
    _g(
        "854442",
        "electronics",
        "KGM",
        9,
        0.6,
        1,
        2500,
        3.3,
        "CN:45 TR:15 VN:15 MA:15 RS:10",
        "cable harnesses",
        "power cords with plugs",
        risk=0.8,
    ),
    # household appliances and tools
    _g(
        "841810",
        "appliances",
        "NAR",
        230,
        0.35,
        60,
        150,
        1.9,
        "CN:35 TR:40 KR:10 TH:15",
        "fridge-freezers",
        "combined refrigerator-freezers",
        risk=0.7,
        pack=1.15,
    ),
    _g(
        "845011",
        "appliances",
        "NAR",
        210,
        0.35,
        65,
        150,
        2.7,
        "CN:35 TR:40 TH:15 KR:10",
        "washing machines 8 kg",
        "front-loading washing machines",
        risk=0.7,
        pack=1.12,
    ),
    _g(
        "841510",
        "appliances",
        "NAR",
        260,
        0.4,
        35,
        200,
        2.7,
        "CN:70 TH:20 MY:10",
        "split air conditioners",
        "wall-mounted air conditioning units",
        risk=0.7,
        pack=1.15,
    ),
    _g(
        "851660",
        "appliances",
        "NAR",
        55,
        0.6,
        10,
        400,
        2.7,
        "CN:65 TR:35",
        "electric cookers",
        "induction hobs",
        risk=0.8,
        pack=1.2,
    ),
    _g(
        "841451",
        "appliances",
        "NAR",
        14,
        0.5,
        3,
        1500,
        3.2,
        "CN:95 VN:5",
        "electric fans",
        "desk fans",
        risk=0.8,
        pack=1.4,
    ),
    _g(
        "846721",
        "appliances",
        "NAR",
        28,
        0.6,
        1.8,
        1500,
        2.7,
        "CN:85 VN:10 MY:5",
        "cordless drills",
        "electric hammer drills",
        risk=0.8,
        pack=1.5,
    ),
    # hardware and metals
    _g(
        "848180",
        "hardware",
        "KGM",
        14,
        0.6,
        1,
        1500,
        2.2,
        "CN:45 TW:15 TR:15 IN:15 US:10",
        "valves",
        "taps and mixers",
        "ball valves",
        risk=0.9,
    ),
    _g(
        "731815",
        "hardware",
        "KGM",
        2.6,
        0.4,
        1,
        12000,
        3.7,
        "CN:50 TW:20 IN:10 MY:7 VN:7 TH:6",
        "steel bolts",
        "hex head screws",
        "threaded steel fasteners",
        risk=1.3,
        pack=1.05,
    ),
    _g(
        "731816",
        "hardware",
        "KGM",
        2.4,
        0.4,
        1,
        8000,
        3.7,
        "CN:55 TW:25 IN:20",
        "steel nuts",
        "hex nuts",
        risk=1.0,
        pack=1.05,
    ),
    _g(
        "731829",
        "hardware",
        "KGM",
        3.0,
        0.5,
        1,
        5000,
        3.7,
        "CN:60 TW:20 IN:20",
        "steel pins and rivets",
        "non-threaded steel fasteners",
        risk=0.9,
        pack=1.05,
    ),
    _g(
        "732393",
        "hardware",
        "KGM",
        6.5,
        0.5,
        1,
        3000,
        3.2,
        "CN:55 IN:25 TR:10 VN:10",
        "stainless steel cookware",
        "stainless steel kitchen articles",
        risk=1.0,
        pack=1.25,
    ),
    _g(
        "721049",
        "metals",
        "KGM",
        0.85,
        0.15,
        1,
        80000,
        0.0,
        "KR:25 TR:25 IN:20 VN:15 TW:15",
        "hot-dip galvanised steel coils",
        risk=0.5,
        pack=1.01,
    ),
    _g(
        "760711",
        "metals",
        "KGM",
        3.8,
        0.25,
        1,
        15000,
        7.5,
        "CN:55 TR:15 IN:15 TH:10 ZA:5",
        "aluminium foil rolls",
        "household aluminium foil",
        risk=1.2,
        pack=1.05,
    ),
    _g(
        "760612",
        "metals",
        "KGM",
        3.5,
        0.25,
        1,
        18000,
        7.5,
        "CN:30 TR:30 ZA:15 IN:15 KR:10",
        "aluminium alloy plates",
        "aluminium sheets",
        risk=0.8,
        pack=1.03,
    ),
    # vehicles, tyres, cycles
    _g(
        "870323",
        "vehicles",
        "NAR",
        24000,
        0.4,
        1400,
        8,
        10.0,
        "JP:35 KR:20 US:15 GB:15 TR:10 MX:5",
        "passenger cars petrol 2.0L",
        "motor cars, spark-ignition",
        risk=1.0,
        pack=1.0,
    ),
    _g(
        "870332",
        "vehicles",
        "NAR",
        22000,
        0.4,
        1600,
        6,
        10.0,
        "JP:30 KR:25 TR:25 GB:20",
        "passenger cars diesel 2.0L",
        "diesel motor cars",
        risk=1.0,
        pack=1.0,
    ),
    _g(
        "870380",
        "vehicles",
        "NAR",
        30000,
        0.35,
        1900,
        20,
        10.0,
        "CN:55 US:20 KR:15 JP:10",
        "battery electric cars",
        "electric passenger cars",
        risk=0.6,
        pack=1.0,
    ),
    _g(
        "870421",
        "vehicles",
        "NAR",
        23000,
        0.35,
        2100,
        6,
        22.0,
        "TH:40 JP:25 TR:20 US:15",
        "diesel pick-up trucks",
        "light commercial vans, diesel",
        risk=1.2,
        pack=1.0,
    ),
    _g(
        "401110",
        "vehicles",
        "NAR",
        42,
        0.45,
        9,
        1200,
        4.5,
        "CN:35 KR:15 TH:15 TR:10 JP:10 ID:10 IN:5",
        "car tyres",
        "passenger car tyres 205/55R16",
        risk=1.0,
        pack=1.02,
    ),
    _g(
        "401120",
        "vehicles",
        "NAR",
        170,
        0.4,
        55,
        250,
        4.5,
        "CN:40 TH:20 TR:15 IN:15 JP:10",
        "truck tyres",
        "bus and lorry tyres",
        risk=1.0,
        pack=1.02,
    ),
    _g(
        "870899",
        "vehicles",
        "KGM",
        9,
        0.7,
        1,
        3000,
        4.5,
        "CN:30 TR:20 JP:10 KR:10 US:10 MX:5 IN:10 MA:5",
        "vehicle parts",
        "car spare parts",
        "automotive components",
        risk=0.9,
        pack=1.15,
    ),
    _g(
        "871200",
        "cycles",
        "NAR",
        115,
        0.5,
        14,
        250,
        14.0,
        "TW:35 CN:20 KH:15 VN:10 LK:8 ID:6 BD:6",
        "bicycles",
        "city bikes",
        "mountain bicycles",
        risk=1.3,
        pack=1.25,
    ),
    _g(
        "871160",
        "cycles",
        "NAR",
        650,
        0.45,
        24,
        120,
        6.0,
        "CN:40 TW:35 VN:15 MY:10",
        "electric bicycles",
        "e-bikes with pedal assistance",
        risk=1.4,
        pack=1.25,
    ),
    _g(
        "871492",
        "cycles",
        "NAR",
        11,
        0.6,
        0.9,
        3000,
        4.7,
        "CN:60 TW:40",
        "bicycle wheel rims",
        "cycle rims and spokes",
        risk=0.9,
        pack=1.15,
    ),
    # apparel, textiles, leather goods
    _g(
        "610910",
        "apparel",
        "NAR",
        2.8,
        0.45,
        0.18,
        8000,
        12.0,
        "BD:35 CN:20 TR:15 IN:10 PK:7 KH:7 VN:6",
        "cotton T-shirts",
        "men's cotton T-shirts",
        "knitted cotton tops",
        air=0.05,
        risk=2.0,
    ),
    _g(
        "611020",
        "apparel",
        "NAR",
        7.5,
        0.45,
        0.45,
        4000,
        12.0,
        "CN:30 BD:25 TR:15 KH:10 VN:10 IN:10",
        "cotton pullovers",
        "cotton cardigans",
        "cotton sweatshirts",
        air=0.05,
        risk=2.0,
    ),
    _g(
        "611030",
        "apparel",
        "NAR",
        6.5,
        0.45,
        0.4,
        4000,
        12.0,
        "CN:40 BD:20 KH:15 VN:15 TR:10",
        "synthetic knit jumpers",
        "fleece jackets",
        "polyester sweatshirts",
        air=0.05,
        risk=2.0,
    ),
    _g(
        "620342",
        "apparel",
        "NAR",
        8,
        0.4,
        0.6,
        5000,
        12.0,
        "BD:35 PK:20 CN:20 TR:15 TN:10",
        "men's cotton trousers",
        "men's denim jeans",
        "cotton chinos",
        air=0.05,
        risk=2.0,
    ),
    _g(
        "620462",
        "apparel",
        "NAR",
        8.5,
        0.4,
        0.5,
        4000,
        12.0,
        "BD:35 CN:25 TR:15 PK:10 TN:8 MA:7",
        "women's cotton trousers",
        "women's denim jeans",
        air=0.05,
        risk=2.0,
    ),
    _g(
        "620520",
        "apparel",
        "NAR",
        6,
        0.4,
        0.3,
        5000,
        12.0,
        "BD:35 IN:20 CN:20 TR:10 VN:8 LK:7",
        "men's cotton shirts",
        "cotton dress shirts",
        air=0.05,
        risk=2.0,
    ),
    _g(
        "620140",
        "apparel",
        "NAR",
        18,
        0.5,
        0.8,
        2500,
        12.0,
        "CN:45 VN:20 BD:20 KH:10 ID:5",
        "men's padded jackets",
        "anoraks of polyester",
        "rain jackets",
        air=0.05,
        risk=1.8,
    ),
    _g(
        "611595",
        "apparel",
        "PR",
        0.8,
        0.5,
        0.05,
        30000,
        12.0,
        "CN:45 TR:25 PK:20 BD:10",
        "cotton socks",
        "knitted cotton socks",
        risk=1.8,
    ),
    _g(
        "420221",
        "apparel",
        "NAR",
        38,
        0.8,
        0.7,
        1500,
        3.0,
        "CN:55 IN:25 VN:10 TR:10",
        "leather handbags",
        "women's leather bags",
        air=0.2,
        risk=1.0,
    ),
    _g(
        "420292",
        "apparel",
        "NAR",
        9,
        0.6,
        1,
        3000,
        9.7,
        "CN:70 VN:15 KH:10 IN:5",
        "travel bags of polyester",
        "sports bags",
        "backpacks",
        risk=1.5,
    ),
    _g(
        "670411",
        "apparel",
        "NAR",
        6,
        0.7,
        0.2,
        3000,
        2.2,
        "CN:90 VN:5 IN:5",
        "synthetic wigs",
        "wigs of synthetic fibre",
        risk=0.8,
        pack=1.5,
    ),
    _g(
        "630260",
        "textiles",
        "KGM",
        6,
        0.4,
        1,
        6000,
        12.0,
        "PK:40 TR:20 IN:20 CN:10 BD:10",
        "cotton terry towels",
        "bath towels of cotton",
        risk=1.6,
    ),
    _g(
        "630790",
        "textiles",
        "KGM",
        7,
        0.7,
        1,
        3000,
        6.3,
        "CN:60 IN:15 PK:15 VN:10",
        "textile made-up articles",
        "textile face masks",
        "textile cleaning cloths",
        risk=1.0,
    ),
    _g(
        "520812",
        "textiles",
        "KGM",
        5.5,
        0.3,
        1,
        10000,
        8.0,
        "CN:35 PK:30 IN:25 TR:10",
        "unbleached cotton fabric",
        "woven cotton greige fabric",
        risk=1.0,
        pack=1.03,
    ),
    _g(
        "570242",
        "textiles",
        "MTK",
        11,
        0.4,
        2.5,
        4000,
        8.0,
        "TR:60 IN:20 EG:10 CN:10",
        "woven polypropylene carpets",
        "machine-made rugs",
        risk=1.0,
        pack=1.05,
    ),
    # footwear
    _g(
        "640299",
        "footwear",
        "PR",
        6,
        0.5,
        0.6,
        5000,
        16.9,
        "CN:55 VN:25 ID:10 KH:5 IN:5",
        "plastic sandals",
        "rubber slippers",
        "moulded plastic footwear",
        risk=2.0,
    ),
    _g(
        "640399",
        "footwear",
        "PR",
        19,
        0.55,
        0.8,
        3000,
        8.0,
        "CN:30 VN:25 IN:20 ID:10 TN:5 BR:5 MA:5",
        "leather shoes",
        "men's leather shoes",
        "women's leather footwear",
        risk=1.2,
    ),
    _g(
        "640419",
        "footwear",
        "PR",
        8,
        0.5,
        0.5,
        4000,
        17.0,
        "CN:50 VN:30 ID:10 KH:5 BD:5",
        "canvas shoes",
        "textile sneakers",
        "textile slip-on shoes",
        risk=2.0,
    ),
    _g(
        "640411",
        "footwear",
        "PR",
        15,
        0.5,
        0.6,
        4000,
        16.9,
        "VN:45 CN:30 ID:20 KH:5",
        "sports shoes",
        "running shoes with textile uppers",
        "training shoes",
        risk=1.8,
    ),
    # fish, fruit, flowers, agricultural commodities, meat, food
    _g(
        "030617",
        "seafood",
        "KGM",
        8.5,
        0.35,
        1,
        16000,
        12.0,
        "VN:30 IN:25 EC:20 ID:10 TH:10 BD:5",
        "frozen shrimp",
        "frozen vannamei prawns",
        "frozen peeled shrimp",
        risk=1.5,
        pack=1.15,
    ),
    _g(
        "030462",
        "seafood",
        "KGM",
        2.6,
        0.25,
        1,
        20000,
        9.0,
        "VN:100",
        "frozen pangasius fillets",
        "frozen catfish fillets",
        risk=1.0,
        pack=1.15,
    ),
    _g(
        "030743",
        "seafood",
        "KGM",
        4.5,
        0.35,
        1,
        15000,
        8.0,
        "CN:35 IN:30 MA:15 PE:10 VN:10",
        "frozen squid",
        "frozen cuttlefish",
        risk=1.0,
        pack=1.12,
    ),
    _g(
        "160414",
        "seafood",
        "KGM",
        5.5,
        0.3,
        1,
        15000,
        24.0,
        "TH:25 EC:25 PH:15 MU:10 VN:10 ID:10 CN:5",
        "canned tuna",
        "tuna chunks in oil",
        "prepared skipjack tuna",
        risk=1.6,
        pack=1.25,
    ),
    _g(
        "160420",
        "seafood",
        "KGM",
        4.5,
        0.35,
        1,
        12000,
        14.0,
        "TH:35 VN:25 CN:20 MA:10 EC:10",
        "prepared fish",
        "fish balls",
        "canned fish preparations",
        risk=1.0,
        pack=1.25,
    ),
    _g(
        "080390",
        "fruit",
        "KGM",
        0.75,
        0.18,
        1,
        20000,
        10.7,
        "EC:35 CO:30 CR:25 CI:5 GH:5",
        "fresh bananas",
        "Cavendish bananas",
        risk=0.4,
    ),
    _g(
        "080510",
        "fruit",
        "KGM",
        0.8,
        0.2,
        1,
        20000,
        16.0,
        "EG:40 ZA:35 MA:25",
        "fresh oranges",
        "navel oranges",
        risk=0.7,
    ),
    _g(
        "080610",
        "fruit",
        "KGM",
        2.2,
        0.3,
        1,
        15000,
        11.5,
        "ZA:30 CL:20 PE:25 IN:15 EG:10",
        "fresh table grapes",
        "seedless grapes",
        risk=0.7,
    ),
    _g(
        "080440",
        "fruit",
        "KGM",
        2.4,
        0.3,
        1,
        18000,
        4.0,
        "PE:35 CL:10 ZA:15 KE:15 CO:15 MX:10",
        "fresh avocados",
        "Hass avocados",
        risk=0.6,
    ),
    _g("070200", "fruit", "KGM", 1.3, 0.3, 1, 18000, 8.8, "MA:80 TR:20", "fresh tomatoes", "cherry tomatoes", risk=0.7),
    _g(
        "060311",
        "flowers",
        "KGM",
        6,
        0.4,
        1,
        1500,
        8.5,
        "KE:45 ET:25 EC:15 CO:10 UG:5",
        "fresh cut roses",
        "roses for bouquets",
        air=0.95,
        risk=0.7,
        pack=1.3,
    ),
    _g(
        "090111",
        "agri",
        "KGM",
        3.8,
        0.25,
        1,
        19000,
        0.0,
        "BR:35 VN:25 CO:15 HN:10 ET:10 UG:5",
        "green coffee beans",
        "unroasted arabica coffee",
        risk=0.3,
        pack=1.01,
    ),
    _g(
        "090240",
        "agri",
        "KGM",
        3.0,
        0.3,
        1,
        10000,
        0.0,
        "KE:50 IN:30 LK:20",
        "black tea in bulk",
        "black tea",
        risk=0.3,
        pack=1.03,
    ),
    _g("180100", "agri", "KGM", 6.5, 0.2, 1, 20000, 0.0, "CI:50 GH:30 EC:20", "raw cocoa beans", risk=0.3, pack=1.01),
    _g("120190", "agri", "KGM", 0.45, 0.12, 1, 60000, 0.0, "BR:50 US:40 CA:10", "soya beans", risk=0.2, pack=1.0),
    _g(
        "230400",
        "agri",
        "KGM",
        0.42,
        0.12,
        1,
        60000,
        0.0,
        "AR:55 BR:35 US:10",
        "soybean meal",
        "soya bean oil-cake",
        risk=0.2,
        pack=1.0,
    ),
    _g("151110", "agri", "KGM", 0.9, 0.15, 1, 40000, 0.0, "ID:55 MY:45", "crude palm oil", risk=0.3, pack=1.0),
    _g(
        "100630",
        "agri",
        "KGM",
        0.85,
        0.25,
        1,
        20000,
        20.0,
        "TH:25 IN:25 PK:20 KH:20 VN:10",
        "milled rice",
        "white long grain rice",
        "basmati rice",
        risk=1.2,
        pack=1.02,
    ),
    _g(
        "100640",
        "agri",
        "KGM",
        0.45,
        0.25,
        1,
        20000,
        14.0,
        "TH:30 IN:30 KH:20 PK:20",
        "broken rice",
        risk=0.8,
        pack=1.02,
    ),
    _g(
        "020130",
        "meat",
        "KGM",
        11,
        0.3,
        1,
        12000,
        40.0,
        "AR:35 UY:30 BR:20 US:15",
        "chilled boneless beef",
        "fresh beef cuts",
        risk=1.4,
        pack=1.08,
    ),
    _g(
        "020714",
        "meat",
        "KGM",
        2.6,
        0.3,
        1,
        20000,
        39.0,
        "BR:55 TH:30 UA:15",
        "frozen chicken cuts",
        "frozen chicken breast",
        risk=1.4,
        pack=1.08,
    ),
    _g(
        "180631",
        "food",
        "KGM",
        6,
        0.35,
        1,
        8000,
        8.3,
        "CH:35 GB:30 TR:20 US:15",
        "filled chocolate bars",
        "chocolate bars with filling",
        risk=0.6,
        pack=1.2,
    ),
    _g(
        "210690",
        "food",
        "KGM",
        5,
        0.7,
        1,
        6000,
        9.0,
        "US:25 CN:20 TH:15 KR:15 CH:15 GB:10",
        "food preparations",
        "food supplements",
        "flavoured syrups",
        risk=0.9,
        pack=1.2,
    ),
    # beverages and tobacco
    _g(
        "220421",
        "beverages",
        "LTR",
        3.2,
        0.5,
        1,
        18000,
        4.4,
        "CL:25 ZA:25 AU:20 AR:10 US:10 NZ:10",
        "bottled red wine",
        "still wine in bottles",
        risk=0.7,
        pack=1.45,
    ),
    _g(
        "220830",
        "beverages",
        "LTR",
        12,
        0.6,
        1,
        10000,
        0.0,
        "GB:80 US:15 JP:5",
        "Scotch whisky",
        "bottled whisky",
        risk=0.4,
        pack=1.45,
    ),
    _g(
        "220300",
        "beverages",
        "LTR",
        1.1,
        0.3,
        1,
        20000,
        0.0,
        "MX:50 GB:25 US:10 CN:10 JP:5",
        "bottled beer",
        "lager beer",
        risk=0.3,
        pack=1.5,
    ),
    _g(
        "240220",
        "tobacco",
        "MIL",
        22,
        0.4,
        1.0,
        6000,
        57.6,
        "AE:40 ID:20 CH:20 TR:20",
        "cigarettes",
        "king size cigarettes",
        risk=3.0,
        pack=1.2,
    ),
    _g(
        "240311",
        "tobacco",
        "KGM",
        12,
        0.4,
        1,
        3000,
        74.9,
        "AE:50 EG:25 TR:25",
        "water pipe tobacco",
        "shisha tobacco",
        risk=3.0,
        pack=1.3,
    ),
    # chemicals, plastics, building materials, ceramics and glass
    _g(
        "390110",
        "chemicals",
        "KGM",
        1.2,
        0.15,
        1,
        25000,
        6.5,
        "SA:35 US:25 KR:15 AE:15 IN:10",
        "LDPE granules",
        "low-density polyethylene",
        risk=0.5,
        pack=1.01,
    ),
    _g(
        "310210",
        "chemicals",
        "KGM",
        0.35,
        0.15,
        1,
        30000,
        6.5,
        "EG:45 DZ:30 SA:25",
        "urea fertiliser",
        "granular urea",
        risk=0.5,
        pack=1.01,
    ),
    _g(
        "392310",
        "plastics",
        "KGM",
        3.5,
        0.5,
        1,
        5000,
        6.5,
        "CN:60 TR:20 VN:15 IN:5",
        "plastic storage boxes",
        "plastic crates",
        risk=1.0,
        pack=1.15,
    ),
    _g(
        "392410",
        "plastics",
        "KGM",
        3.2,
        0.5,
        1,
        5000,
        6.5,
        "CN:70 VN:15 TR:10 TH:5",
        "plastic tableware",
        "plastic kitchenware",
        risk=1.0,
        pack=1.2,
    ),
    _g(
        "392321",
        "plastics",
        "KGM",
        2.0,
        0.35,
        1,
        10000,
        6.5,
        "CN:35 VN:25 MY:20 TR:15 TH:5",
        "polyethylene bags",
        "plastic carrier bags",
        risk=1.0,
        pack=1.05,
    ),
    _g(
        "252329",
        "building",
        "KGM",
        0.08,
        0.2,
        1,
        30000,
        1.7,
        "TR:60 EG:25 DZ:15",
        "portland cement",
        "grey cement",
        risk=0.4,
        pack=1.02,
    ),
    _g(
        "690721",
        "building",
        "KGM",
        0.55,
        0.3,
        1,
        24000,
        5.0,
        "IN:40 CN:30 TR:20 AE:10",
        "porcelain floor tiles",
        "glazed porcelain tiles 60x60",
        risk=1.2,
        pack=1.05,
    ),
    _g(
        "441231",
        "building",
        "MTQ",
        600,
        0.25,
        550,
        60,
        10.0,
        "ID:40 MY:30 CN:20 BR:10",
        "tropical hardwood plywood",
        "plywood with meranti face",
        risk=1.0,
        pack=1.02,
    ),
    _g(
        "440711",
        "building",
        "MTQ",
        260,
        0.25,
        520,
        70,
        0.0,
        "BR:30 CL:25 US:15 UA:20 NZ:10",
        "sawn pine timber",
        "pine boards",
        risk=0.4,
        pack=1.0,
    ),
    _g(
        "691110",
        "ceramics",
        "KGM",
        3.0,
        0.4,
        1,
        8000,
        12.0,
        "CN:55 TH:15 ID:10 TR:10 BD:10",
        "porcelain tableware",
        "porcelain dinner sets",
        "porcelain mugs",
        risk=1.3,
        pack=1.3,
    ),
    _g(
        "691200",
        "ceramics",
        "KGM",
        2.2,
        0.4,
        1,
        8000,
        7.0,
        "CN:50 TH:15 TR:15 IN:10 VN:10",
        "stoneware tableware",
        "ceramic mugs",
        "earthenware plates",
        risk=1.2,
        pack=1.3,
    ),
    _g(
        "691490",
        "ceramics",
        "KGM",
        2.5,
        0.5,
        1,
        5000,
        3.7,
        "CN:60 VN:20 IN:10 TR:10",
        "ceramic decorative articles",
        "ceramic flower pots",
        risk=0.8,
        pack=1.3,
    ),
    _g(
        "701349",
        "ceramics",
        "KGM",
        3.0,
        0.4,
        1,
        6000,
        11.0,
        "CN:50 TR:35 ID:15",
        "glass kitchenware",
        "glass food containers",
        "glass bowls",
        risk=1.0,
        pack=1.3,
    ),
    # cosmetics, pharmaceuticals, medical and optical
    _g(
        "330499",
        "cosmetics",
        "KGM",
        22,
        0.7,
        1,
        1500,
        0.0,
        "KR:35 US:20 CN:20 CH:10 GB:10 JP:5",
        "skin care creams",
        "sunscreen lotion",
        "cosmetic sheet masks",
        air=0.3,
        risk=0.5,
        pack=1.4,
    ),
    _g(
        "300490",
        "pharma",
        "KGM",
        110,
        0.9,
        1,
        600,
        0.0,
        "IN:40 US:25 CH:20 GB:15",
        "medicaments in retail packs",
        "generic tablets",
        "prescription medicines",
        air=0.6,
        risk=0.3,
        pack=1.4,
    ),
    _g(
        "901890",
        "medical",
        "KGM",
        120,
        0.8,
        1,
        500,
        0.0,
        "US:30 CN:30 CH:15 JP:10 MX:10 IL:5",
        "medical instruments",
        "surgical instruments",
        "catheters",
        air=0.5,
        risk=0.3,
        pack=1.4,
    ),
    _g(
        "900490",
        "medical",
        "NAR",
        5,
        0.7,
        0.04,
        10000,
        2.9,
        "CN:90 JP:5 KR:5",
        "reading glasses",
        "safety goggles",
        air=0.3,
        risk=0.7,
        pack=2.0,
    ),
    # furniture and home
    _g(
        "940360",
        "furniture",
        "KGM",
        3.5,
        0.45,
        1,
        6000,
        0.0,
        "VN:30 CN:30 ID:15 IN:10 MY:10 TR:5",
        "wooden furniture",
        "solid wood dining tables",
        "wooden cabinets",
        risk=0.5,
        pack=1.2,
    ),
    _g(
        "940161",
        "furniture",
        "NAR",
        120,
        0.5,
        30,
        250,
        0.0,
        "CN:50 VN:20 TR:15 UA:15",
        "upholstered wooden chairs",
        "fabric sofas with wooden frame",
        risk=0.5,
        pack=1.3,
    ),
    _g(
        "940171",
        "furniture",
        "NAR",
        90,
        0.5,
        20,
        300,
        0.0,
        "CN:70 VN:20 TR:10",
        "upholstered metal chairs",
        "office chairs",
        risk=0.5,
        pack=1.3,
    ),
    _g(
        "940421",
        "furniture",
        "NAR",
        85,
        0.45,
        20,
        250,
        3.7,
        "CN:55 TR:30 VN:15",
        "foam mattresses",
        "memory foam mattresses",
        risk=0.8,
    ),
    # toys and sports
    _g(
        "950300",
        "toys",
        "KGM",
        6,
        0.6,
        1,
        4000,
        4.7,
        "CN:85 VN:10 IN:5",
        "plastic toys",
        "dolls",
        "construction toy sets",
        risk=0.9,
        pack=1.5,
    ),
    _g(
        "950450",
        "toys",
        "NAR",
        240,
        0.35,
        3,
        400,
        0.0,
        "CN:55 VN:35 JP:10",
        "video game consoles",
        air=0.3,
        risk=0.4,
        pack=1.5,
    ),
    _g(
        "950691",
        "toys",
        "KGM",
        3.5,
        0.5,
        1,
        5000,
        2.7,
        "CN:75 TW:15 VN:10",
        "fitness equipment",
        "dumbbells and weights",
        "home exercise machines",
        risk=0.7,
        pack=1.2,
    ),
    # jewellery, gems, watches
    _g(
        "711319",
        "jewellery",
        "KGM",
        38000,
        0.5,
        1,
        3,
        2.5,
        "IN:35 TR:25 AE:20 TH:10 CH:10",
        "gold jewellery",
        "18 carat gold rings",
        "gold chains",
        air=1.0,
        risk=1.5,
        pack=1.3,
    ),
    _g(
        "711311",
        "jewellery",
        "KGM",
        900,
        0.5,
        1,
        25,
        2.5,
        "TH:45 IN:25 CN:20 TR:10",
        "silver jewellery",
        "sterling silver rings",
        air=0.9,
        risk=1.3,
        pack=1.3,
    ),
    _g(
        "710239",
        "jewellery",
        "CTM",
        1200,
        1.0,
        0.0002,
        300,
        0.0,
        "IN:65 AE:15 IL:10 US:5 ZA:5",
        "polished diamonds",
        "cut diamonds, loose",
        air=1.0,
        risk=0.8,
        pack=2.0,
    ),
    _g(
        "910221",
        "jewellery",
        "NAR",
        950,
        1.0,
        0.15,
        80,
        4.5,
        "CH:80 JP:15 CN:5",
        "automatic wrist watches",
        "mechanical watches",
        air=1.0,
        risk=1.2,
        pack=3.0,
    ),
)

_COUNTED_UNITS = frozenset({"NAR", "PR"})

# Illustrative trade-defence duties (anti-dumping / countervailing), percent, added to the duty rate for goods of
# that origin. Modelled on the kind of measures the EU applies to some goods from China; rounded, not the law.
TRADE_DEFENCE: dict[tuple[str, str], float] = {
    ("871200", "CN"): 48.5,  # bicycles
    ("871160", "CN"): 70.1,  # e-bikes
    ("731815", "CN"): 46.1,  # steel fasteners
    ("760711", "CN"): 28.5,  # aluminium foil
    ("690721", "CN"): 30.6,  # ceramic tiles
    ("691110", "CN"): 36.1,  # porcelain tableware
    ("691200", "CN"): 36.1,  # other ceramic tableware
}

# Plausible misclassifications: goods of the first subheading declared under the second, lower-duty one.
MISCLASSIFICATIONS: tuple[tuple[str, str], ...] = (
    ("852872", "852852"),  # television sets declared as computer monitors
    ("640419", "640399"),  # textile-upper shoes declared as leather shoes
    ("640299", "640399"),  # plastic footwear declared as leather shoes
    ("640411", "640399"),  # sports shoes declared as leather shoes
    ("160414", "160420"),  # canned tuna declared as other prepared fish
    ("871200", "871492"),  # complete bicycles declared as bicycle parts (rims)
    ("871160", "871200"),  # e-bikes declared as ordinary bicycles
    ("870421", "870332"),  # diesel pick-ups declared as passenger cars
    ("731815", "731829"),  # threaded bolts declared as non-threaded fasteners (escapes the trade-defence duty)
    ("691110", "691490"),  # porcelain tableware declared as decorative ceramics
    ("760711", "760612"),  # aluminium foil declared as aluminium plates
    ("940542", "853952"),  # LED luminaires declared as LED lamps
    ("850440", "847330"),  # power supplies declared as computer parts
    ("851830", "851762"),  # headsets declared as communication apparatus
    ("630260", "630790"),  # terry towels declared as other made-up textile articles
    ("100630", "100640"),  # milled rice declared as broken rice
)

# Origin masking: goods really from MASK_SOURCE declared as from one of these countries.
MASK_SOURCE = "CN"
MASKING_TARGETS: dict[str, tuple[str, ...]] = {
    "871200": ("KH", "LK", "ID", "TW", "MY"),
    "871160": ("TW", "VN", "MY"),
    "731815": ("MY", "TW", "TH", "VN"),
    "760711": ("TH", "MY", "TR"),
    "690721": ("MY", "IN", "VN"),
    "691110": ("TH", "MY", "ID", "VN"),
    "691200": ("TH", "MY", "ID", "VN"),
}
MASKING_SECTOR_TARGETS: dict[str, tuple[str, ...]] = {
    "apparel": ("BD", "KH", "VN", "PK", "LK"),
    "footwear": ("VN", "KH", "BD", "ID"),
}

# --- countries, preferences, money -----------------------------------------------------------------------------


def _cc(codes: str) -> tuple[str, ...]:
    """Country codes written as one space-separated string."""
    return tuple(codes.split())


EU27 = frozenset(_cc("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE"))
_EUROZONE = frozenset(_cc("AT BE BG HR CY EE FI FR DE GR IE IT LV LT LU MT NL PT SK SI ES"))
_EUROPE_ROAD = EU27 | frozenset(_cc("GB CH NO IS LI RS UA ME MK AL BA MD"))
_CURRENCY = {
    "GB": "GBP",
    "US": "USD",
    "CH": "CHF",
    "GE": "GEL",
    "PL": "PLN",
    "SE": "SEK",
    "DK": "DKK",
    "CZ": "CZK",
    "HU": "HUF",
    "RO": "RON",
    "NO": "NOK",
    "JP": "JPY",
    "CN": "CNY",
    "IN": "INR",
    "KR": "KRW",
    "TR": "TRY",
    "AU": "AUD",
    "CA": "CAD",
    "BR": "BRL",
    "ZA": "ZAR",
    "MX": "MXN",
    "UA": "UAH",
}
_PER_EUR = {
    "EUR": 1.0,
    "USD": 1.08,
    "GBP": 0.85,
    "CHF": 0.95,
    "GEL": 2.95,
    "PLN": 4.3,
    "SEK": 11.4,
    "DKK": 7.46,
    "CZK": 25.0,
    "HUF": 395.0,
    "RON": 4.97,
    "NOK": 11.6,
    "JPY": 162.0,
    "CNY": 7.8,
    "INR": 90.0,
    "KRW": 1460.0,
    "TRY": 35.0,
    "AUD": 1.65,
    "CAD": 1.48,
    "BRL": 5.9,
    "ZAR": 20.0,
    "MXN": 19.5,
    "UAH": 44.0,
}
# Approximate standard VAT / GST rates, percent; 20 where not listed.
VAT_RATES = {
    "NL": 21.0,
    "BE": 21.0,
    "DE": 19.0,
    "FR": 20.0,
    "IT": 22.0,
    "ES": 21.0,
    "PT": 23.0,
    "IE": 23.0,
    "AT": 20.0,
    "PL": 23.0,
    "SE": 25.0,
    "DK": 25.0,
    "FI": 25.5,
    "CZ": 21.0,
    "HU": 27.0,
    "RO": 19.0,
    "BG": 20.0,
    "GR": 24.0,
    "SK": 23.0,
    "SI": 22.0,
    "HR": 25.0,
    "LU": 17.0,
    "EE": 22.0,
    "LV": 21.0,
    "LT": 21.0,
    "MT": 18.0,
    "CY": 19.0,
    "GB": 20.0,
    "CH": 8.1,
    "NO": 25.0,
    "GE": 18.0,
    "TR": 20.0,
    "US": 0.0,
    "JP": 10.0,
    "AU": 10.0,
    "CA": 5.0,
    "UA": 20.0,
}

# Tariff preferences an EU administration grants: origin -> (preference code, agreement, kind).
# kind "zero": duty-free; "gsp": standard GSP, MFN minus 3.5 points; "cu": customs union, chapters 25-97 only.
# Codes follow TARIC's pattern (2xx GSP, 3xx agreements). Other administrations get the same partners, named
# "<country>-<partner> FTA" (the demo does not model their real agreements).
PREFERENCES_EU: dict[str, tuple[str, str, str]] = {
    "KR": ("300", "EU-Korea FTA", "zero"),
    "JP": ("300", "EU-Japan EPA", "zero"),
    "VN": ("300", "EU-Vietnam FTA", "zero"),
    "SG": ("300", "EU-Singapore FTA", "zero"),
    "CA": ("300", "CETA", "zero"),
    "MX": ("300", "EU-Mexico Global Agreement", "zero"),
    "CL": ("300", "EU-Chile Association Agreement", "zero"),
    "PE": ("300", "EU-Colombia/Peru/Ecuador Trade Agreement", "zero"),
    "CO": ("300", "EU-Colombia/Peru/Ecuador Trade Agreement", "zero"),
    "EC": ("300", "EU-Colombia/Peru/Ecuador Trade Agreement", "zero"),
    "CR": ("300", "EU-Central America Association Agreement", "zero"),
    "HN": ("300", "EU-Central America Association Agreement", "zero"),
    "ZA": ("300", "EU-SADC EPA", "zero"),
    "MA": ("300", "EU-Morocco Association Agreement", "zero"),
    "EG": ("300", "EU-Egypt Association Agreement", "zero"),
    "TN": ("300", "EU-Tunisia Association Agreement", "zero"),
    "GB": ("300", "EU-UK Trade and Cooperation Agreement", "zero"),
    "CH": ("300", "EU-Switzerland FTA", "zero"),
    "NO": ("300", "EEA Agreement", "zero"),
    "NZ": ("300", "EU-New Zealand FTA", "zero"),
    "CI": ("300", "EU-Cote d'Ivoire EPA", "zero"),
    "GH": ("300", "EU-Ghana EPA", "zero"),
    "KE": ("300", "EU-Kenya EPA", "zero"),
    "MU": ("300", "EU-ESA EPA", "zero"),
    "UA": ("300", "EU-Ukraine DCFTA", "zero"),
    "RS": ("300", "EU-Serbia SAA", "zero"),
    "IL": ("300", "EU-Israel Association Agreement", "zero"),
    "TR": ("300", "EU-Turkey Customs Union", "cu"),
    "BD": ("200", "GSP (Everything But Arms)", "zero"),
    "KH": ("200", "GSP (Everything But Arms)", "zero"),
    "ET": ("200", "GSP (Everything But Arms)", "zero"),
    "UG": ("200", "GSP (Everything But Arms)", "zero"),
    "PK": ("200", "GSP+", "zero"),
    "LK": ("200", "GSP+", "zero"),
    "PH": ("200", "GSP+", "zero"),
    "IN": ("200", "GSP", "gsp"),
    "ID": ("200", "GSP", "gsp"),
}

# Relative propensity of undervaluation by country of origin (1 where not listed).
ORIGIN_RISK = {
    "CN": 1.6,
    "HK": 1.5,
    "AE": 1.4,
    "TR": 1.2,
    "PK": 1.2,
    "IN": 1.1,
    "BD": 1.1,
    "KH": 1.1,
    "EG": 1.1,
    "US": 0.4,
    "JP": 0.3,
    "CH": 0.3,
    "GB": 0.6,
    "KR": 0.6,
    "CA": 0.4,
    "AU": 0.4,
    "NZ": 0.4,
    "NO": 0.4,
    "SG": 0.6,
    "TW": 0.8,
    "IL": 0.6,
}

# --- geography: ports, airports, road, vessels -----------------------------------------------------------------

SEA_PORTS: dict[str, tuple[str, ...]] = {
    "CN": ("CNSHA", "CNNGB", "CNYTN", "CNTAO", "CNXMN", "CNTXG"),
    "HK": ("HKHKG",),
    "TW": ("TWKHH", "TWKEL"),
    "KR": ("KRPUS", "KRINC"),
    "JP": ("JPTYO", "JPYOK", "JPUKB", "JPNGO"),
    "VN": ("VNSGN", "VNHPH"),
    "TH": ("THLCH", "THBKK"),
    "MY": ("MYPKG", "MYTPP"),
    "SG": ("SGSIN",),
    "ID": ("IDJKT", "IDSUB"),
    "PH": ("PHMNL",),
    "KH": ("KHKOS",),
    "BD": ("BDCGP",),
    "IN": ("INNSA", "INMUN", "INMAA"),
    "PK": ("PKKHI",),
    "LK": ("LKCMB",),
    "AE": ("AEJEA",),
    "SA": ("SAJED", "SADMM"),
    "EG": ("EGALY", "EGPSD"),
    "DZ": ("DZALG",),
    "TR": ("TRMER", "TRIST", "TRIZM"),
    "MA": ("MAPTM", "MACAS"),
    "TN": ("TNRDS",),
    "ZA": ("ZADUR", "ZACPT"),
    "KE": ("KEMBA",),
    "UG": ("KEMBA",),
    "ET": ("DJJIB",),
    "CI": ("CIABJ",),
    "GH": ("GHTEM",),
    "MU": ("MUPLU",),
    "EC": ("ECGYE",),
    "CO": ("COCTG", "COSMR"),
    "CR": ("CRLIO",),
    "HN": ("HNPCR",),
    "PE": ("PECLL",),
    "CL": ("CLSAI", "CLVAP"),
    "BR": ("BRSSZ", "BRPNG", "BRRIG"),
    "AR": ("ARBUE", "ARROS"),
    "UY": ("UYMVD",),
    "MX": ("MXVER", "MXZLO"),
    "US": ("USNYC", "USSAV", "USHOU", "USLAX"),
    "CA": ("CAMTR", "CAHAL"),
    "GB": ("GBFXT", "GBSOU", "GBTIL"),
    "NO": ("NOOSL",),
    "AU": ("AUMEL", "AUSYD"),
    "NZ": ("NZAKL", "NZTRG"),
    "UA": ("UAODS",),
    "IL": ("ILHFA", "ILASH"),
}
AIRPORTS: dict[str, tuple[str, ...]] = {
    "CN": ("CNSHA", "CNCAN", "CNPEK", "CNSZX"),
    "HK": ("HKHKG",),
    "TW": ("TWTPE",),
    "KR": ("KRSEL",),
    "JP": ("JPTYO", "JPOSA"),
    "VN": ("VNSGN", "VNHAN"),
    "TH": ("THBKK",),
    "MY": ("MYKUL",),
    "SG": ("SGSIN",),
    "ID": ("IDJKT",),
    "PH": ("PHMNL",),
    "KH": ("KHPNH",),
    "BD": ("BDDAC",),
    "IN": ("INBOM", "INDEL", "INBLR"),
    "PK": ("PKKHI", "PKLHE"),
    "LK": ("LKCMB",),
    "AE": ("AEDXB",),
    "SA": ("SARUH",),
    "EG": ("EGCAI",),
    "DZ": ("DZALG",),
    "TR": ("TRIST",),
    "MA": ("MACAS",),
    "TN": ("TNTUN",),
    "ZA": ("ZAJNB",),
    "KE": ("KENBO",),
    "ET": ("ETADD",),
    "UG": ("UGEBB",),
    "CI": ("CIABJ",),
    "GH": ("GHACC",),
    "MU": ("MUPLU",),
    "EC": ("ECUIO",),
    "CO": ("COBOG",),
    "CR": ("CRSJO",),
    "HN": ("HNSAP",),
    "PE": ("PELIM",),
    "CL": ("CLSCL",),
    "BR": ("BRSAO",),
    "AR": ("ARBUE",),
    "UY": ("UYMVD",),
    "MX": ("MXMEX",),
    "US": ("USNYC", "USCHI", "USLAX", "USMIA"),
    "CA": ("CATOR",),
    "GB": ("GBLON",),
    "CH": ("CHZRH", "CHGVA", "CHBSL"),
    "NO": ("NOOSL",),
    "AU": ("AUSYD",),
    "NZ": ("NZAKL",),
    "IL": ("ILTLV",),
    "RS": ("RSBEG",),
}
# (IATA airline designator, IATA air waybill prefix, airline nationality)
AIRLINES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "CN": (("CA", "999", "CN"), ("MU", "781", "CN"), ("CZ", "784", "CN")),
    "HK": (("CX", "160", "HK"),),
    "TW": (("CI", "297", "TW"), ("BR", "695", "TW")),
    "KR": (("KE", "180", "KR"), ("OZ", "988", "KR")),
    "JP": (("JL", "131", "JP"), ("NH", "205", "JP")),
    "VN": (("VN", "738", "VN"),),
    "TH": (("TG", "217", "TH"),),
    "MY": (("MH", "232", "MY"),),
    "SG": (("SQ", "618", "SG"),),
    "ID": (("GA", "126", "ID"),),
    "PH": (("PR", "079", "PH"),),
    "IN": (("AI", "098", "IN"),),
    "PK": (("PK", "214", "PK"),),
    "LK": (("UL", "603", "LK"),),
    "BD": (("BG", "997", "BD"),),
    "AE": (("EK", "176", "AE"),),
    "SA": (("SV", "065", "SA"),),
    "EG": (("MS", "077", "EG"),),
    "TR": (("TK", "235", "TR"),),
    "MA": (("AT", "147", "MA"),),
    "TN": (("TU", "199", "TN"),),
    "ZA": (("SA", "083", "ZA"),),
    "KE": (("KQ", "706", "KE"),),
    "ET": (("ET", "071", "ET"),),
    "US": (("UA", "016", "US"), ("DL", "006", "US")),
    "CA": (("AC", "014", "CA"),),
    "MX": (("AM", "139", "MX"),),
    "CL": (("LA", "045", "CL"),),
    "CO": (("AV", "134", "CO"),),
    "AR": (("AR", "044", "AR"),),
    "GB": (("BA", "125", "GB"),),
    "CH": (("LX", "724", "CH"),),
    "AU": (("QF", "081", "AU"),),
    "NZ": (("NZ", "086", "NZ"),),
    "IL": (("LY", "114", "IL"),),
    "MU": (("MK", "239", "MU"),),
    "RS": (("JU", "115", "RS"),),
    "DZ": (("AH", "124", "DZ"),),
}
HUB_AIRLINES = (("EK", "176", "AE"), ("QR", "157", "QA"), ("TK", "235", "TR"), ("KL", "074", "NL"), ("LH", "020", "DE"))
ROAD_CITIES: dict[str, tuple[str, ...]] = {
    "GB": ("GBBHM", "GBMNC", "GBLON", "GBLBA"),
    "CH": ("CHBSL", "CHZRH"),
    "NO": ("NOOSL",),
    "TR": ("TRIST", "TRIZM"),
    "RS": ("RSBEG",),
    "UA": ("UAIEV",),
    "MA": ("MATNG",),
    "TN": ("TNTUN",),
}
ROAD_SHARE = {"GB": 0.6, "CH": 0.85, "NO": 0.5, "TR": 0.3, "RS": 0.95, "UA": 0.7, "MA": 0.15, "TN": 0.1}
ROAD_TRANSIT_NL = {
    "GB": (),
    "CH": ("DE",),
    "NO": ("SE", "DK", "DE"),
    "TR": ("BG", "RO", "HU", "AT", "DE"),
    "RS": ("HU", "AT", "DE"),
    "UA": ("PL", "DE"),
    "MA": ("ES", "FR", "BE"),
    "TN": ("IT", "CH", "DE"),
}
_PLATE_FORMATS = {
    "GB": "LLDD LLL",
    "CH": "LL DDDDDD",
    "NO": "LL DDDDD",
    "TR": "DD LLL DDD",
    "RS": "LL-DDD-LL",
    "UA": "LLDDDDLL",
    "MA": "DDDDD-L-DD",
    "TN": "DDD TU DDDD",
    "NL": "LL-DDD-L",
}
# Ocean services: which vessels call where. The vessel of a sea declaration follows the service and the week.
SERVICE_OF = {
    **dict.fromkeys(_cc("CN HK TW KR JP VN TH MY SG ID PH KH"), "FE"),
    **dict.fromkeys(_cc("IN PK BD LK AE SA DJ KE UG ET"), "ISC"),
    **dict.fromkeys(_cc("US CA MX BR AR UY CL PE EC CO CR HN"), "AM"),
    **dict.fromkeys(_cc("MA DZ TN EG TR ZA CI GH MU IL UA"), "AF"),
    **dict.fromkeys(_cc("AU NZ"), "OC"),
    **dict.fromkeys(_cc("GB NO"), "EU"),
}
_SERVICE_SIZES = {"FE": 24, "ISC": 8, "AM": 10, "AF": 8, "OC": 4, "EU": 6}
TRANSHIPMENT_HUBS = {
    "FE": ("SG", "MY", "LK"),
    "ISC": ("AE", "LK"),
    "AM": ("PA", "JM"),
    "AF": ("MA", "EG"),
    "OC": ("SG",),
    "EU": (),
}
# Foreign sellers sometimes sit in a trading hub while the goods come from the origin country.
SELLER_HUBS = {
    "CN": ("HK", 0.12),
    "VN": ("SG", 0.06),
    "TH": ("SG", 0.06),
    "MY": ("SG", 0.06),
    "ID": ("SG", 0.06),
    "KH": ("SG", 0.05),
    "IN": ("AE", 0.06),
    "PK": ("AE", 0.06),
    "BD": ("AE", 0.05),
    "LK": ("AE", 0.05),
}
# (container owner code with category U, bill-of-lading prefix)
CARRIERS = (
    ("MSCU", "MEDU"),
    ("MAEU", "MAEU"),
    ("CMAU", "CMDU"),
    ("COSU", "COSU"),
    ("HLXU", "HLCU"),
    ("OOLU", "OOLU"),
    ("EGHU", "EGLV"),
    ("ONEU", "ONEY"),
    ("HDMU", "HDMU"),
    ("YMLU", "YMLU"),
    ("ZIMU", "ZIMU"),
)
LESSORS = ("TGHU", "TCNU", "SEGU", "TRHU", "CAIU", "FCIU", "GESU", "BMOU", "TEMU", "TCLU")
_FLAGS = (
    ("PA", (351, 352, 353, 354, 355, 356, 357, 370, 371, 372, 373), 18),
    ("LR", (636,), 16),
    ("MH", (538,), 12),
    ("SG", (563, 564, 565, 566), 10),
    ("HK", (477,), 9),
    ("MT", (215, 229, 248, 249), 7),
    ("PT", (255,), 5),
    ("DK", (219, 220), 4),
    ("CY", (209, 210, 212), 3),
    ("GR", (237, 239, 240, 241), 3),
    ("CN", (412, 413, 414), 4),
    ("DE", (211, 218), 2),
    ("BS", (308, 309, 311), 2),
    ("NL", (244, 245), 1),
    ("NO", (257, 258, 259), 1),
    ("GB", (232, 233, 234, 235), 1),
    ("KR", (440, 441), 1),
    ("JP", (431, 432), 1),
    ("TW", (416,), 1),
)
_VESSEL_WORDS = (
    _cc(
        "NORDIC OCEAN PACIFIC ATLANTIC EASTERN GOLDEN SILVER BLUE GRAND ROYAL CORAL JADE PEARL POLAR "
        "AURORA ORIENT CELESTIAL EMERALD NORTHERN SOUTHERN"
    ),
    _cc(
        "HARMONY PIONEER SPIRIT FORTUNE VOYAGER TRADER EXPRESS DAWN HORIZON WAVE MERIDIAN BRIDGE CROWN "
        "LOTUS FALCON DOLPHIN GLORY UNITY NAVIGATOR ENDEAVOUR"
    ),
)

# The importing administration's own places: unloading locations by mode, and office id suffixes.
UNLOADING: dict[str, dict[str, tuple[tuple[str, float], ...]]] = {
    "NL": {
        "sea": (("NLRTM", 80), ("NLAMS", 8), ("NLVLI", 7), ("NLMOE", 5)),
        "air": (("NLAMS", 100),),
        "road": (("NLRTM", 35), ("NLVLI", 15), ("NLEIN", 25), ("NLUTC", 25)),
    },
    "BE": {
        "sea": (("BEANR", 80), ("BEZEE", 20)),
        "air": (("BEBRU", 70), ("BELGG", 30)),
        "road": (("BEANR", 60), ("BEZEE", 40)),
    },
    "DE": {
        "sea": (("DEHAM", 70), ("DEBRV", 30)),
        "air": (("DEFRA", 80), ("DELEJ", 20)),
        "road": (("DEDUS", 50), ("DEMUC", 50)),
    },
    "FR": {"sea": (("FRLEH", 60), ("FRMRS", 40)), "air": (("FRPAR", 100),), "road": (("FRLIL", 50), ("FRLYS", 50))},
    "GB": {"sea": (("GBFXT", 50), ("GBSOU", 30), ("GBLGP", 20)), "air": (("GBLON", 100),), "road": (("GBDVR", 100),)},
    "US": {
        "sea": (("USLAX", 45), ("USNYC", 35), ("USSAV", 20)),
        "air": (("USNYC", 60), ("USCHI", 40)),
        "road": (("USDET", 50), ("USLRD", 50)),
    },
    "GE": {"sea": (("GEPTI", 60), ("GEBUS", 40)), "air": (("GETBS", 100),), "road": (("GETBS", 100),)},
}
OFFICE_SUFFIXES = {"sea": ("100100", "100200"), "air": ("200100",), "road": ("300100", "300200")}

# Importer address data per administration: legal suffix, (city, postcode prefix), postcode style, streets.
_DOMESTIC: dict[str, tuple[str, tuple[tuple[str, str], ...], str, tuple[str, ...]]] = {
    "NL": (
        "B.V.",
        (
            ("Rotterdam", "30"),
            ("Amsterdam", "10"),
            ("Venlo", "59"),
            ("Tilburg", "50"),
            ("Eindhoven", "56"),
            ("Utrecht", "35"),
            ("Breda", "48"),
            ("Nijmegen", "65"),
            ("Zwolle", "80"),
            ("Almere", "13"),
            ("Barendrecht", "29"),
            ("Waalwijk", "51"),
            ("Moerdijk", "47"),
            ("Schiphol", "11"),
            ("Den Haag", "25"),
            ("Oss", "53"),
            ("Apeldoorn", "73"),
            ("Groningen", "97"),
        ),
        "nl",
        (
            "Industrieweg",
            "Havenstraat",
            "Europaweg",
            "Marconistraat",
            "Nijverheidsweg",
            "Stationsweg",
            "Kanaalweg",
            "Transportweg",
            "Edisonstraat",
            "Energieweg",
            "Handelskade",
            "Parallelweg",
            "Distributieweg",
            "Hoofdweg",
            "Columbusweg",
            "Keurmeesterstraat",
        ),
    ),
    "BE": (
        "BV",
        (
            ("Antwerpen", "20"),
            ("Brussel", "10"),
            ("Gent", "90"),
            ("Zeebrugge", "83"),
            ("Liège", "40"),
            ("Mechelen", "28"),
        ),
        "4d",
        ("Industrieweg", "Havenlaan", "Noorderlaan", "Stationsstraat"),
    ),
    "DE": (
        "GmbH",
        (
            ("Hamburg", "2"),
            ("Bremen", "28"),
            ("Duisburg", "47"),
            ("Frankfurt am Main", "60"),
            ("München", "80"),
            ("Köln", "50"),
            ("Düsseldorf", "40"),
        ),
        "5d",
        ("Industriestraße", "Hafenstraße", "Bahnhofstraße", "Gewerbestraße", "Hauptstraße"),
    ),
    "FR": (
        "SAS",
        (("Le Havre", "766"), ("Marseille", "13"), ("Paris", "75"), ("Lyon", "69"), ("Lille", "59")),
        "5d",
        ("rue du Port", "avenue de l'Industrie", "rue de la Gare", "boulevard du Commerce"),
    ),
    "GB": (
        "Ltd",
        (("London", "E"), ("Felixstowe", "IP"), ("Manchester", "M"), ("Birmingham", "B"), ("Leeds", "LS")),
        "uk",
        ("Dock Road", "Station Road", "Commerce Way", "Industrial Estate", "Harbour Lane"),
    ),
    "US": (
        "Inc.",
        (("Los Angeles", "900"), ("Newark", "071"), ("Chicago", "606"), ("Savannah", "314"), ("Houston", "770")),
        "5d",
        ("Harbor Blvd", "Commerce St", "Industrial Pkwy", "Main St"),
    ),
    "GE": (
        "LLC",
        (("Tbilisi", "01"), ("Poti", "44"), ("Batumi", "60"), ("Kutaisi", "46")),
        "4d",
        ("Rustaveli Avenue", "Aghmashenebeli Avenue", "Chavchavadze Street", "Tamar Mepe Street"),
    ),
}
_DOMESTIC_DEFAULT = (
    "Ltd",
    (("Capital City", "1"), ("Port City", "2"), ("Free Zone", "3"), ("Industrial City", "4")),
    "5d",
    ("Harbour Road", "Commerce Street", "Industrial Avenue", "Station Road"),
)

FOREIGN_CITIES: dict[str, tuple[str, ...]] = {
    "CN": (
        "Ningbo",
        "Shenzhen",
        "Yiwu",
        "Xiamen",
        "Guangzhou",
        "Dongguan",
        "Qingdao",
        "Foshan",
        "Hangzhou",
        "Suzhou",
        "Tianjin",
        "Wenzhou",
        "Shanghai",
        "Zhongshan",
    ),
    "HK": ("Hong Kong",),
    "TW": ("Taichung", "Taipei", "Kaohsiung", "Tainan"),
    "KR": ("Busan", "Seoul", "Incheon", "Changwon"),
    "JP": ("Tokyo", "Osaka", "Nagoya", "Yokohama"),
    "VN": ("Ho Chi Minh City", "Hai Phong", "Binh Duong", "Hanoi", "Dong Nai"),
    "TH": ("Bangkok", "Chonburi", "Samut Prakan"),
    "MY": ("Penang", "Kuala Lumpur", "Johor Bahru", "Shah Alam"),
    "SG": ("Singapore",),
    "ID": ("Jakarta", "Surabaya", "Bandung", "Semarang"),
    "PH": ("Manila", "General Santos", "Cebu"),
    "KH": ("Phnom Penh", "Sihanoukville"),
    "BD": ("Dhaka", "Chattogram", "Gazipur"),
    "IN": ("Mumbai", "Tiruppur", "Chennai", "Ludhiana", "Surat", "Delhi"),
    "PK": ("Karachi", "Lahore", "Faisalabad", "Sialkot"),
    "LK": ("Colombo", "Negombo"),
    "AE": ("Dubai", "Sharjah", "Jebel Ali"),
    "SA": ("Jubail", "Riyadh", "Jeddah"),
    "EG": ("Alexandria", "Cairo", "Port Said"),
    "DZ": ("Algiers", "Oran", "Arzew"),
    "TR": ("Istanbul", "Bursa", "Izmir", "Gaziantep", "Denizli", "Manisa"),
    "MA": ("Tangier", "Casablanca", "Agadir"),
    "TN": ("Tunis", "Sousse", "Monastir"),
    "ZA": ("Durban", "Cape Town", "Johannesburg"),
    "KE": ("Nairobi", "Naivasha", "Mombasa"),
    "ET": ("Addis Ababa", "Bishoftu"),
    "UG": ("Kampala", "Entebbe"),
    "CI": ("Abidjan", "San-Pedro"),
    "GH": ("Tema", "Accra", "Kumasi"),
    "MU": ("Port Louis",),
    "EC": ("Guayaquil", "Machala", "Manta"),
    "CO": ("Bogota", "Medellin", "Santa Marta"),
    "CR": ("San Jose", "Limon"),
    "HN": ("San Pedro Sula", "Tegucigalpa"),
    "PE": ("Lima", "Piura", "Trujillo"),
    "CL": ("Santiago", "Valparaiso", "San Antonio"),
    "BR": ("Sao Paulo", "Santos", "Paranagua", "Itajai"),
    "AR": ("Buenos Aires", "Rosario"),
    "UY": ("Montevideo",),
    "MX": ("Monterrey", "Mexico City", "Guadalajara"),
    "US": ("Houston", "Chicago", "Los Angeles", "Newark", "Memphis"),
    "CA": ("Toronto", "Montreal", "Vancouver"),
    "GB": ("Birmingham", "Manchester", "Glasgow", "London", "Leeds"),
    "CH": ("Basel", "Zurich", "Biel", "Geneva"),
    "NO": ("Oslo", "Bergen", "Alesund"),
    "AU": ("Melbourne", "Sydney", "Adelaide"),
    "NZ": ("Auckland", "Blenheim"),
    "UA": ("Kyiv", "Lviv", "Odesa"),
    "IL": ("Haifa", "Tel Aviv", "Ramat Gan"),
    "RS": ("Belgrade", "Novi Sad", "Nis"),
}
_COMPANY_SUFFIX = {
    "CN": "Co., Ltd.",
    "HK": "Limited",
    "TW": "Co., Ltd.",
    "KR": "Co., Ltd.",
    "JP": "Co., Ltd.",
    "VN": "Company Limited",
    "TH": "Co., Ltd.",
    "MY": "Sdn. Bhd.",
    "SG": "Pte. Ltd.",
    "ID": "Tbk",
    "PH": "Inc.",
    "KH": "Co., Ltd.",
    "BD": "Ltd.",
    "IN": "Pvt. Ltd.",
    "PK": "(Pvt.) Ltd.",
    "LK": "(Pvt) Ltd",
    "AE": "FZE",
    "SA": "Co.",
    "EG": "S.A.E.",
    "DZ": "SPA",
    "TR": "A.S.",
    "MA": "SARL",
    "TN": "SARL",
    "ZA": "(Pty) Ltd",
    "KE": "Ltd",
    "ET": "PLC",
    "UG": "Ltd",
    "CI": "SA",
    "GH": "Ltd",
    "MU": "Ltd",
    "EC": "S.A.",
    "CO": "S.A.S.",
    "CR": "S.A.",
    "HN": "S.A.",
    "PE": "S.A.C.",
    "CL": "SpA",
    "BR": "Ltda.",
    "AR": "S.A.",
    "UY": "S.A.",
    "MX": "S.A. de C.V.",
    "US": "Inc.",
    "CA": "Inc.",
    "GB": "Ltd",
    "CH": "AG",
    "NO": "AS",
    "AU": "Pty Ltd",
    "NZ": "Ltd",
    "UA": "LLC",
    "IL": "Ltd.",
    "RS": "d.o.o.",
}
_POSTCODE_DIGITS = {
    "CN": 6,
    "IN": 6,
    "VN": 6,
    "SG": 6,
    "KR": 5,
    "TW": 5,
    "TH": 5,
    "MY": 5,
    "ID": 5,
    "US": 5,
    "MX": 5,
    "TR": 5,
    "MA": 5,
    "EG": 5,
    "PK": 5,
    "LK": 5,
    "SA": 5,
    "DZ": 5,
    "BR": 8,
    "JP": 7,
    "CH": 4,
    "NO": 4,
    "AU": 4,
    "NZ": 4,
    "ZA": 4,
    "BD": 4,
    "PH": 4,
    "TN": 4,
    "AR": 4,
    "KH": 5,
    "UA": 5,
    "IL": 7,
    "RS": 5,
    "KE": 5,
    "EC": 6,
    "CO": 6,
    "PE": 5,
    "CL": 7,
    "UY": 5,
    "CR": 5,
}
_CN_BRANDS = (
    "Huayang",
    "Jinlong",
    "Xinda",
    "Hengtai",
    "Dongfang",
    "Fuda",
    "Hongyu",
    "Tianli",
    "Baoli",
    "Kaixin",
    "Ruifeng",
    "Shengda",
    "Yongxin",
    "Mingtai",
    "Jiahe",
    "Zhenhua",
    "Sanhe",
    "Longsheng",
    "Xinyuan",
    "Guanghui",
    "Runda",
    "Jinhai",
    "Huarui",
    "Tengfei",
)
_CN_STREETS = (
    "Gongye Road",
    "Binhai Avenue",
    "Jinshan Road",
    "Huancheng Road",
    "Xinhua Road",
    "Chaoyang Road",
    "Jiefang Road",
    "Kaifa Avenue",
    "Keji Road",
    "Changjiang Road",
)
_FOREIGN_STREETS = (
    "Industrial Park Road",
    "Export Processing Zone",
    "Harbour Road",
    "Trade Centre Street",
    "Free Zone Block",
    "Factory Lane",
    "Commerce Avenue",
    "Ring Road",
)
_ROOTS = (
    "Sunrise",
    "Golden Bridge",
    "Evergreen",
    "Pacific",
    "Orient",
    "Unity",
    "Prosperity",
    "Everbright",
    "Silk Road",
    "Lotus",
    "Phoenix",
    "Harmony",
    "Apex",
    "Atlas",
    "Crown",
    "Star",
    "Diamond",
    "Silverline",
    "Global",
    "Prime",
    "Royal",
    "Victory",
    "Liberty",
    "Delta",
    "Alpha",
    "Eastern",
    "Western",
    "Northern",
    "Blue Ocean",
    "Green Valley",
    "Summit",
    "Meridian",
    "Keystone",
    "Beacon",
    "Crescent",
    "Horizon",
    "Northstar",
    "Granite",
    "Sterling",
    "Falcon",
)
_NL_ROOTS = (
    "Jansen",
    "De Vries",
    "Van den Berg",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "De Boer",
    "Mulder",
    "De Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "Van Leeuwen",
    "Dekker",
    "Brouwer",
    "De Wit",
    "Dijkstra",
    "Smits",
    "De Graaf",
    "Van der Meer",
    "Kok",
    "Jacobs",
    "De Haan",
    "Vermeulen",
    "Van Dijk",
    "Schouten",
    "Willems",
    "Hoekstra",
    "Maas",
    "Verhoeven",
    "Koster",
    "Prins",
    "Blom",
    "Huisman",
    "Kuipers",
    "Van Beek",
    "Postma",
    "Noordzee",
    "Delta",
    "Maasvlakte",
    "Oranje",
    "Polder",
    "Tulip",
    "Holland",
    "Rijnmond",
    "Zeeland",
    "Lowlands",
    "Europoort",
    "Waterland",
    "Amstel",
    "Brabant",
    "Veluwe",
    "Kempen",
    "Dutch",
)
_SECTOR_WORDS = {
    "electronics": ("Electronics", "Technology", "Digital"),
    "appliances": ("Home Appliances", "Electric Appliance"),
    "hardware": ("Hardware", "Fasteners", "Metal Products"),
    "metals": ("Steel", "Metals", "Aluminium"),
    "vehicles": ("Motors", "Auto Parts", "Tyres"),
    "cycles": ("Bicycle", "Cycles", "E-Mobility"),
    "apparel": ("Garments", "Apparel", "Fashion", "Knitwear"),
    "textiles": ("Textiles", "Home Textiles", "Weaving"),
    "footwear": ("Footwear", "Shoes"),
    "seafood": ("Seafood", "Fisheries", "Marine Products"),
    "fruit": ("Fruit", "Fresh Produce", "Agro"),
    "flowers": ("Flowers", "Roses", "Floriculture"),
    "agri": ("Agro", "Commodities", "Export"),
    "meat": ("Meat Packers", "Foods"),
    "food": ("Foods", "Food Industries"),
    "beverages": ("Wines", "Beverages", "Distillers"),
    "tobacco": ("Tobacco",),
    "chemicals": ("Chemicals", "Petrochemicals", "Fertilizers"),
    "plastics": ("Plastics", "Packaging"),
    "building": ("Building Materials", "Timber", "Tiles"),
    "ceramics": ("Ceramics", "Porcelain", "Tableware"),
    "cosmetics": ("Cosmetics", "Beauty"),
    "pharma": ("Pharmaceuticals", "Pharma", "Laboratories"),
    "medical": ("Medical", "Healthcare", "Surgical"),
    "furniture": ("Furniture", "Wood Industries", "Home"),
    "toys": ("Toys", "Sports", "Leisure"),
    "jewellery": ("Jewellery", "Gems", "Watches"),
}
_GENERIC_WORDS = ("Trading", "Import", "International", "Handel", "Distribution", "Wholesale", "Group", "Logistics")
# How often importers specialise in each sector.
_SECTOR_WEIGHTS = {
    "electronics": 12,
    "apparel": 12,
    "footwear": 6,
    "furniture": 5,
    "toys": 4,
    "appliances": 4,
    "hardware": 5,
    "metals": 3,
    "vehicles": 5,
    "cycles": 3,
    "textiles": 4,
    "seafood": 4,
    "fruit": 5,
    "flowers": 3,
    "agri": 4,
    "meat": 2,
    "food": 3,
    "beverages": 3,
    "tobacco": 1,
    "chemicals": 2,
    "plastics": 4,
    "building": 3,
    "ceramics": 3,
    "cosmetics": 3,
    "pharma": 2,
    "medical": 2,
    "jewellery": 2,
}
_RISKY_SECTORS = ("apparel", "footwear", "electronics", "cycles")

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
_CN_NEIGHBOURS = ("VN", "TH", "MY", "KH", "ID", "PH", "KR", "TW")
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

"""Public face of the reference data: HS editions in the store, and the validators of opencustoms.reference.codes."""

from __future__ import annotations

import datetime as dt
import re
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select

from opencustoms.reference.errors import InvalidCodeError, NomenclatureFileError
from opencustoms.reference.hs import PUBLIC_SOURCE, HSEntry, Nomenclature, read_hs_csv
from opencustoms.security.roles import Permission
from opencustoms.security.service import Identity, record
from opencustoms.store.tables import hs_nomenclature

_cache: dict[tuple[str, str], Nomenclature] = {}
_lock = threading.Lock()


def edition_from_name(path: Path) -> str | None:
    match = re.search(r"(19|20)\d\d", path.name)
    return match.group(0) if match else None


def load_hs(engine: Engine, actor: Identity, path: Path, edition: str | None = None) -> dict[str, Any]:
    """Load (or replace) one HS edition from a CSV in the datasets/harmonized-system layout."""
    actor.require(Permission.REFERENCE_WRITE)
    edition = edition or edition_from_name(path)
    if not edition or not re.fullmatch(r"\d{4}", edition):
        raise NomenclatureFileError(
            f"cannot tell the HS edition from {path.name!r}; pass it explicitly, e.g. --edition 2022", field="edition"
        )
    entries = read_hs_csv(path)
    with engine.begin() as conn:
        conn.execute(delete(hs_nomenclature).where(hs_nomenclature.c.edition == edition))
        conn.execute(
            insert(hs_nomenclature),
            [
                {
                    "edition": edition,
                    "code": e.code,
                    "description": e.description,
                    "parent": e.parent,
                    "level": e.level,
                    "section": e.section,
                }
                for e in entries
            ],
        )
        record(conn, actor, "load", "hs_nomenclature", edition, detail={"source": path.name, "codes": len(entries)})
    with _lock:
        for key in [k for k in _cache if k[1] == edition]:
            del _cache[key]
    nomenclature = Nomenclature(edition, entries)
    counts = nomenclature.counts()
    return {
        "edition": edition,
        "chapters": counts.get(2, 0),
        "headings": counts.get(4, 0),
        "subheadings": counts.get(6, 0),
        "source": PUBLIC_SOURCE,
    }


def editions(engine: Engine) -> list[str]:
    """The HS editions loaded into the database with `reference load-hs`."""
    with engine.connect() as conn:
        return sorted(conn.execute(select(hs_nomenclature.c.edition).distinct()).scalars())


BUNDLED_EDITIONS = ("2017", "2022")
_bundled: dict[str, Nomenclature] = {}


def bundled_nomenclature(edition: str) -> Nomenclature | None:
    """An HS edition shipped in the package (``reference/data``, from datasets/harmonized-system, see its
    SOURCE.md), read the first time it is needed; None for an edition not shipped."""
    if edition not in BUNDLED_EDITIONS:
        return None
    with _lock:
        if edition not in _bundled:
            import gzip
            from importlib import resources

            data = resources.files("opencustoms.reference").joinpath(f"data/harmonized-system-{edition}.csv.gz")
            _bundled[edition] = Nomenclature(edition, read_hs_csv(gzip.decompress(data.read_bytes())))
        return _bundled[edition]


def available_editions(engine: Engine) -> list[str]:
    """Every edition a code can be checked against: those shipped in the package and those loaded (a loaded
    edition takes precedence over the shipped copy of the same year)."""
    return sorted(set(BUNDLED_EDITIONS) | set(editions(engine)))


def nomenclature(engine: Engine, edition: str | None = None) -> Nomenclature | None:
    """The given HS edition, or the newest available one. The editions shipped in the package (HS 2017, HS 2022)
    are always available, so a new installation checks HS codes without a download; an edition loaded with
    `reference load-hs` replaces the shipped copy of the same year."""
    loaded = editions(engine)
    available = sorted(set(BUNDLED_EDITIONS) | set(loaded))
    chosen = edition or available[-1]
    if chosen not in available:
        raise InvalidCodeError(
            f"HS edition {chosen} is not available; available: {', '.join(available)}. "
            "Load it with `opencustoms reference load-hs FILE --edition YEAR`",
            field="edition",
        )
    if chosen not in loaded:
        return bundled_nomenclature(chosen)
    key = (str(engine.url), chosen)
    with _lock:
        if key not in _cache:
            with engine.connect() as conn:
                rows = conn.execute(select(hs_nomenclature).where(hs_nomenclature.c.edition == chosen)).mappings()
                _cache[key] = Nomenclature(
                    chosen, (HSEntry(r["code"], r["description"], r["parent"], r["level"], r["section"]) for r in rows)
                )
        return _cache[key]


class NomenclatureSet:
    """The loaded HS editions; picks the one in force on a declaration's acceptance date (an edition of year Y is
    in force from 1 January Y until the next edition; dates before every loaded edition use the oldest)."""

    def __init__(self, editions: dict[str, Nomenclature]) -> None:
        self.editions = dict(sorted(editions.items()))

    def __bool__(self) -> bool:
        return bool(self.editions)

    def for_date(self, when: dt.date | str | None) -> Nomenclature | None:
        if not self.editions:
            return None
        year = None
        if isinstance(when, dt.date):
            year = when.year
        elif isinstance(when, str) and len(when) >= 4 and when[:4].isdigit():
            year = int(when[:4])
        chosen = next(iter(self.editions.values()))
        for edition, nom in self.editions.items():
            if year is None or int(edition) <= year:
                chosen = nom
        return chosen


def nomenclatures(engine: Engine) -> NomenclatureSet:
    """Every available edition (shipped and loaded), for checking codes by acceptance date."""
    return NomenclatureSet({e: n for e in available_editions(engine) if (n := nomenclature(engine, e)) is not None})


def describe_hs(engine: Engine, code: str, edition: str | None = None) -> dict[str, Any]:
    nom = nomenclature(engine, edition)
    if nom is None:  # pragma: no cover - the shipped editions are always available
        raise InvalidCodeError(
            "no HS nomenclature is loaded; load one with `opencustoms reference load-hs FILE`", field="edition"
        )
    nom.check(code)
    lineage = nom.lineage(code)
    return {
        "code": code,
        "edition": nom.edition,
        "lineage": [{"code": e.code, "description": e.description, "level": e.level} for e in lineage],
        "section": lineage[0].section,
        "section_name": section_name(lineage[0].section),
        "children": [{"code": e.code, "description": e.description} for e in nom.children(lineage[-1].code)],
        "attribution": "HS descriptors: World Customs Organization; data: UN Comtrade via datasets/harmonized-system",
    }


def count_codes(engine: Engine) -> dict[str, int]:
    """The number of codes of every available edition: loaded ones, and the shipped ones not replaced by a load."""
    with engine.connect() as conn:
        rows = conn.execute(select(hs_nomenclature.c.edition, func.count()).group_by(hs_nomenclature.c.edition))
        counts = {edition: int(n) for edition, n in rows}
    for edition in BUNDLED_EDITIONS:
        if edition not in counts and (shipped := bundled_nomenclature(edition)) is not None:
            counts[edition] = len(shipped)
    return dict(sorted(counts.items()))


def section_name(section: str) -> str | None:
    """The title of an HS section (I..XXI), from the shipped sections.csv."""
    return _sections().get(section)


def _sections() -> dict[str, str]:
    global _section_names
    if _section_names is None:
        import csv
        import gzip
        import io
        from importlib import resources

        data = resources.files("opencustoms.reference").joinpath("data/sections.csv.gz").read_bytes()
        text = gzip.decompress(data).decode("utf-8-sig")
        _section_names = {r["section"]: r["name"] for r in csv.DictReader(io.StringIO(text)) if r.get("section")}
    return _section_names


_section_names: dict[str, str] | None = None

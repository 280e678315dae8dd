"""Layouts: how the records of a file become declarations, and back.

A *format* (CSV, JSON Lines, Parquet) says how records are stored; a *layout* says what the records mean:
- ``native``: one record per declaration, nested exactly like the model (the JSON Schema of
  `opencustoms schema declaration`); the natural layout of JSON Lines.
- ``flat``: one record per goods item, the declaration's columns repeated on each of its item rows (consecutive);
  the natural layout of CSV and Parquet. Its columns are listed in docs/import-export.md.
- ``kcs``: the Korea Customs Service synthetic import declarations (one goods item per declaration), with the
  inspection outcome (Fraud, Critical Fraud) kept as an inspection result.
National layouts plug in through the ``opencustoms_import_layouts`` hook (see opencustoms.plugins).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from opencustoms.declarations.kcs import HS10, KCS_COLUMNS, KCS_LABELS, KcsRelease, critical, kcs_release
from opencustoms.declarations.repository import ITEM_FIELDS
from opencustoms.model import Declaration

# ---------------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Problem:
    """One reason a record was not imported: where (row, field), what (value) and why (reason)."""

    row: int | None
    reference: str | None
    field: str
    value: str | None
    reason: str


@dataclass(slots=True)
class Label:
    """An inspection outcome carried by the source data (e.g. KCS's Fraud column)."""

    outcome: str  # "fraud" | "compliant"
    revenue_recovered: str | None = None
    detail: dict[str, Any] | None = None


@dataclass(slots=True)
class RawRecord:
    row: int
    values: dict[str, Any] | None
    problem: Problem | None = None


@dataclass(slots=True)
class Candidate:
    """Records assembled into one declaration-shaped dict, not yet validated."""

    rows: list[int]
    reference: str | None
    data: dict[str, Any] | None
    problems: list[Problem] = field(default_factory=list)
    label: Label | None = None
    item_rows: dict[int, int] = field(default_factory=dict)  # goods item index -> source row
    notes: dict[str, int] | None = None  # what the layout repaired, counted in the import summary


class Layout(Protocol):
    name: str
    description: str

    def check_columns(self, columns: list[str] | None) -> None:
        """Raise ImportFileError when a header cannot be this layout."""

    def candidates(self, records: Iterable[RawRecord]) -> Iterator[Candidate]: ...

    def locate(self, candidate: Candidate, loc: tuple[Any, ...]) -> tuple[int | None, str]:
        """Source row and field name of a validation error at model location ``loc``."""
        ...


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


REFERENCE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")  # the model's Identifier


def _trusted_reference(rec: RawRecord) -> str | None:
    """The declaration a flat record belongs to, or None when it cannot be told: no reference, or one that is no
    valid reference (damaged bytes, a stray byte-order mark, a shifted column)."""
    if rec.values is None:
        return None
    ref = _clean(rec.values.get("functional_reference_id"))
    if ref is None:
        return None
    ref = str(ref)
    return ref if REFERENCE_PATTERN.match(ref) else None


def _suggest(column: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(column, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- native ----------------------------------------------------------------------------------------------------


class NativeLayout:
    name = "native"
    description = "one nested record per declaration, as the JSON Schema of `opencustoms schema declaration`"

    def check_columns(self, columns: list[str] | None) -> None:
        return None

    def candidates(self, records: Iterable[RawRecord]) -> Iterator[Candidate]:
        for rec in records:
            if rec.values is None or rec.problem is not None:
                ref = rec.problem.reference if rec.problem else None
                yield Candidate([rec.row], ref, None, [rec.problem] if rec.problem else [])
                continue
            ref = rec.values.get("functional_reference_id")
            yield Candidate([rec.row], str(ref) if ref is not None else None, rec.values)

    def locate(self, candidate: Candidate, loc: tuple[Any, ...]) -> tuple[int | None, str]:
        return candidate.rows[0], ".".join(str(p) for p in loc)


# --- flat ------------------------------------------------------------------------------------------------------

PARTY_ROLES = ("declarant", "importer", "exporter", "seller", "carrier")
PARTY_FIELDS = (
    "id",
    "name",
    "address_line",
    "city_name",
    "postcode_id",
    "country_code",
    "tax_id",
    "aeo_status",
    "aeo_certificate_id",
)
DECLARATION_COLUMNS = (
    "functional_reference_id",
    "type_code",
    "acceptance_date",
    "declaration_office_id",
    "procedure_code",
)
TRANSPORT_COLUMNS = (
    "transport_mode_code",
    "transport_id",
    "transport_nationality_code",
    "vessel_imo",
    "vessel_mmsi",
    "container_ids",
    "loading_location",
    "unloading_location",
    "departure_country_code",
    "itinerary_country_codes",
)
ITEM_COLUMNS = (*ITEM_FIELDS, "preference_code", "preference_agreement", "preference_proving_document_id")
PARTY_COLUMNS = tuple(f"{role}_{f}" for role in PARTY_ROLES for f in PARTY_FIELDS)
HEAD_COLUMNS = DECLARATION_COLUMNS + PARTY_COLUMNS + TRANSPORT_COLUMNS + ("additional_documents",)
FLAT_COLUMNS = HEAD_COLUMNS + ITEM_COLUMNS
REQUIRED_FLAT_COLUMNS = (
    "functional_reference_id",
    "type_code",
    "acceptance_date",
    "declaration_office_id",
    "declarant_id",
    "hs_code",
    "customs_value_amount",
    "customs_value_currency",
    "origin_country_code",
)
_FLAT_SET = frozenset(FLAT_COLUMNS)
_PARTY_COLUMN_MAP = tuple((role, tuple((f, f"{role}_{f}") for f in PARTY_FIELDS)) for role in PARTY_ROLES)
_ADDRESS_FIELDS = (("line", "address_line"), ("city_name", "city_name"), ("postcode_id", "postcode_id"))
_TRANSPORT_COLUMN_MAP = (
    ("mode_code", "transport_mode_code"),
    ("id", "transport_id"),
    ("nationality_code", "transport_nationality_code"),
    ("vessel_imo", "vessel_imo"),
    ("vessel_mmsi", "vessel_mmsi"),
    ("loading_location", "loading_location"),
    ("unloading_location", "unloading_location"),
    ("departure_country_code", "departure_country_code"),
)
# model location -> flat column, for the fields whose names differ
_TRANSPORT_LOC = {
    "mode_code": "transport_mode_code",
    "id": "transport_id",
    "nationality_code": "transport_nationality_code",
}


def is_national_column(column: str) -> bool:
    head, dot, tail = column.partition(".")
    return bool(dot) and len(head) == 2 and head.isalpha() and head.islower() and bool(tail)


def _split(value: Any) -> list[str]:
    return [] if _blank(value) else str(value).split()


def parse_documents(value: Any) -> list[dict[str, Any]]:
    """'861:COO-1:2025-01-02:KR;380:INV-7' -> additional documents (type_code:id[:issue_date[:issuer_country]])."""
    docs = []
    for part in [] if _blank(value) else str(value).split(";"):
        if not part.strip():
            continue
        bits = part.strip().split(":")
        doc: dict[str, Any] = {"type_code": bits[0], "id": bits[1] if len(bits) > 1 else ""}
        if len(bits) > 2 and bits[2]:
            doc["issue_date"] = bits[2]
        if len(bits) > 3 and bits[3]:
            doc["issuer_country_code"] = bits[3]
        if len(bits) > 4:  # refused by the model as an unknown field rather than dropped
            doc["unexpected_parts"] = ":".join(bits[4:])
        docs.append(doc)
    return docs


def format_documents(documents: list[dict[str, Any]]) -> str | None:
    parts = []
    for d in documents:
        bits = [d["type_code"], d["id"], str(d.get("issue_date") or ""), d.get("issuer_country_code") or ""]
        while bits and not bits[-1]:
            bits.pop()
        parts.append(":".join(bits))
    return ";".join(parts) or None


class FlatLayout:
    name = "flat"
    description = "one row per goods item; declaration columns repeated on consecutive rows"

    def check_columns(self, columns: list[str] | None) -> None:
        from opencustoms.declarations.errors import ImportFileError

        if columns is None:
            return
        unknown = [c for c in columns if c not in FLAT_COLUMNS and not is_national_column(c)]
        if unknown:
            raise ImportFileError(
                f"column {unknown[0]!r} is not part of the flat layout{_suggest(unknown[0], FLAT_COLUMNS)}; "
                "rename or remove it (the columns are listed in docs/import-export.md; national data goes in "
                "columns named '<country>.<name>', e.g. 'kr.import_use'); a file with its own column names is "
                "imported with a mapping: `opencustoms import FILE --suggest-map` proposes one",
                field=unknown[0],
            )
        missing = [c for c in REQUIRED_FLAT_COLUMNS if c not in columns]
        if missing:
            raise ImportFileError(f"the flat layout needs the column(s) {', '.join(missing)}", field=missing[0])

    def candidates(self, records: Iterable[RawRecord], seen: dict[str, int] | None = None) -> Iterator[Candidate]:
        """``seen`` maps references met earlier in the same file to their first row (the columnar path passes
        it so that a reference repeated across its batches is reported as here).

        A declaration is stored complete or not at all. A row whose declaration cannot be told (no reference,
        or one that could not be read) may belong to the declaration before it or to the one after it, so
        neither neighbour is stored; both are reported with their reference, and a corrected file stores them."""
        group: list[RawRecord] = []
        seen = {} if seen is None else seen
        current: str | None = None
        suspects: list[int] = []  # unknown rows right before the group being built
        pending: list[int] = []  # unknown rows right before the next group
        for rec in records:
            ref = _trusted_reference(rec)
            if ref is None:
                if group:
                    yield self._assemble(group, seen, [*suspects, rec.row])
                    group, current = [], None
                if rec.values is not None and rec.problem is None:
                    yield self._assemble([rec], {}, [])  # the model reports the missing or invalid reference
                else:
                    yield Candidate([rec.row], None, None, [rec.problem] if rec.problem else [])
                pending = [rec.row]
                continue
            if group and ref != current:
                yield self._assemble(group, seen, suspects)
                group = []
            if not group:
                suspects, pending = pending, []
            current = ref
            group.append(rec)
        if group:
            yield self._assemble(group, seen, suspects)

    def _assemble(self, group: list[RawRecord], seen: dict[str, int], suspects: list[int]) -> Candidate:
        first = group[0].values or {}
        ref = _clean(first.get("functional_reference_id"))
        ref = str(ref) if ref is not None else None
        rows = [r.row for r in group]
        candidate = Candidate(rows, ref, None)
        unreadable = [r for r in group if r.problem is not None]
        if unreadable:
            for r in unreadable:
                assert r.problem is not None
                r.problem.reference = ref
                candidate.problems.append(r.problem)
            if len(group) > 1:
                candidate.problems.append(
                    Problem(
                        rows[0],
                        ref,
                        "functional_reference_id",
                        ref,
                        f"the whole declaration is rejected because row(s) {', '.join(str(r.row) for r in unreadable)} "
                        "could not be read; a declaration is stored complete or not at all",
                    )
                )
        if suspects:
            candidate.problems.append(
                Problem(
                    rows[0],
                    ref,
                    "functional_reference_id",
                    ref,
                    f"the whole declaration is rejected because row(s) {', '.join(map(str, suspects))} next to it "
                    "could not be told apart (no readable reference) and may be among its goods items; a declaration "
                    "is stored complete or not at all — correct those rows and import the file again",
                )
            )
        if candidate.problems:
            if ref is not None:
                seen.setdefault(ref, rows[0])
            return candidate
        if ref is not None:
            if ref in seen:
                candidate.problems.append(
                    Problem(
                        rows[0],
                        ref,
                        "functional_reference_id",
                        ref,
                        f"rows of declaration {ref!r} must be consecutive and the reference unique in a file; "
                        f"it already appeared at row {seen[ref]}",
                    )
                )
                return candidate
            seen[ref] = rows[0]
        for rec in group[1:]:
            values = rec.values or {}
            for column in HEAD_COLUMNS:
                raw_a, raw_b = first.get(column), values.get(column)
                if raw_a == raw_b or column not in values:
                    continue
                a, b = _clean(raw_a), _clean(raw_b)
                if a != b:
                    candidate.problems.append(
                        Problem(
                            rec.row,
                            ref,
                            column,
                            None if b is None else str(b),
                            f"differs from row {rows[0]} of the same declaration ({a!r}); declaration columns must "
                            "repeat identically on every goods-item row — a shifted column or a mixed-up reference?",
                        )
                    )
        if candidate.problems:
            return candidate
        candidate.data = self._to_dict(first, [r.values or {} for r in group])
        candidate.item_rows = dict(enumerate(rows))
        return candidate

    @staticmethod
    def _to_dict(head: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
        # The hot path of a CSV import: one pass to clean the cells, then plain lookups.
        v = {k: (x.strip() or None) if isinstance(x, str) else x for k, x in head.items()}
        get = v.get
        data: dict[str, Any] = {c: v[c] for c in DECLARATION_COLUMNS if get(c) is not None}
        for role, columns in _PARTY_COLUMN_MAP:
            party = {f: v[c] for f, c in columns if get(c) is not None}
            if not party:
                continue
            address = {k: party.pop(src) for k, src in _ADDRESS_FIELDS if src in party}
            if address:
                address["country_code"] = party.get("country_code")
                party["address"] = address
            data[role] = party
        transport = {k: v[c] for k, c in _TRANSPORT_COLUMN_MAP if get(c) is not None}
        containers, itinerary = get("container_ids"), get("itinerary_country_codes")
        # a typed file (Parquet) may hold other than text here: the model then refuses it by name
        if containers:
            transport["container_ids"] = containers.split() if isinstance(containers, str) else containers
        if itinerary:
            transport["itinerary_country_codes"] = itinerary.split() if isinstance(itinerary, str) else itinerary
        if transport:
            data["transport"] = transport
        documents = get("additional_documents")
        if documents:
            data["additional_documents"] = parse_documents(documents)
        national = {k: str(v[k]) for k in v.keys() - _FLAT_SET if v[k] is not None and is_national_column(k)}
        if national:
            data["national_extensions"] = national
        goods = []
        for n, raw in enumerate(items, 1):
            row = {c: (x.strip() or None) if isinstance(x := raw.get(c), str) else x for c in ITEM_COLUMNS}
            item = {c: row[c] for c in ITEM_COLUMNS[:13] if row[c] is not None}
            item.setdefault("sequence_number", n)
            if any(row[c] is not None for c in ITEM_COLUMNS[13:]):  # a claim without its code is refused
                item["preference"] = {
                    "code": row["preference_code"],
                    "agreement": row["preference_agreement"],
                    "proving_document_id": row["preference_proving_document_id"],
                }
            goods.append(item)
        data["goods_items"] = goods
        return data

    def locate(self, candidate: Candidate, loc: tuple[Any, ...]) -> tuple[int | None, str]:
        row = candidate.rows[0]
        if not loc:
            return row, ""
        top = loc[0]
        if top == "goods_items" and len(loc) > 1 and isinstance(loc[1], int):
            row = candidate.item_rows.get(loc[1], row)
            rest = [p for p in loc[2:] if not isinstance(p, int)]
            if rest[:1] == ["preference"]:
                return row, "preference_" + ("proving_document_id" if len(rest) < 2 else str(rest[1]))
            return row, str(rest[0]) if rest else "goods_items"
        if top in PARTY_ROLES and len(loc) > 1:
            sub = loc[1]
            if sub == "address":
                inner = loc[2] if len(loc) > 2 else "country_code"
                name = {"line": "address_line"}.get(str(inner), str(inner))
                return row, f"{top}_{name}"
            return row, f"{top}_{sub}"
        if top == "transport" and len(loc) > 1:
            return row, _TRANSPORT_LOC.get(str(loc[1]), str(loc[1]))
        if top == "national_extensions" and len(loc) > 1:
            return row, str(loc[1])
        return row, str(top)

    # --- export --------------------------------------------------------------------------------------------

    @staticmethod
    def to_records(d: Declaration) -> list[dict[str, Any]]:
        head: dict[str, Any] = {
            "functional_reference_id": d.functional_reference_id,
            "type_code": d.type_code.value,
            "acceptance_date": d.acceptance_date.isoformat(),
            "declaration_office_id": d.declaration_office_id,
            "procedure_code": d.procedure_code,
        }
        parties = d.parties()
        for role in PARTY_ROLES:
            p = parties.get(role)
            a = p.address if p else None
            values = {
                "id": p.id if p else None,
                "name": p.name if p else None,
                "address_line": a.line if a else None,
                "city_name": a.city_name if a else None,
                "postcode_id": a.postcode_id if a else None,
                "country_code": (p.country_code or (a.country_code if a else None)) if p else None,
                "tax_id": p.tax_id if p else None,
                "aeo_status": p.aeo_status.value if p else None,
                "aeo_certificate_id": p.aeo_certificate_id if p else None,
            }
            head.update({f"{role}_{k}": x for k, x in values.items()})
        t = d.transport
        head.update(
            {
                "transport_mode_code": t.mode_code.value if t else None,
                "transport_id": t.id if t else None,
                "transport_nationality_code": t.nationality_code if t else None,
                "vessel_imo": t.vessel_imo if t else None,
                "vessel_mmsi": t.vessel_mmsi if t else None,
                "container_ids": " ".join(t.container_ids) if t and t.container_ids else None,
                "loading_location": t.loading_location if t else None,
                "unloading_location": t.unloading_location if t else None,
                "departure_country_code": t.departure_country_code if t else None,
                "itinerary_country_codes": " ".join(t.itinerary_country_codes)
                if t and t.itinerary_country_codes
                else None,
                "additional_documents": format_documents([doc.model_dump() for doc in d.additional_documents]),
            }
        )
        head.update(d.national_extensions)
        records = []
        for g in d.goods_items:
            item = {c: getattr(g, c) for c in ITEM_COLUMNS[:13]}
            for k in ("customs_value_amount", "duty_rate", "duty_tax_amount"):
                item[k] = None if item[k] is None else str(item[k])
            pref = g.preference
            item.update(
                {
                    "preference_code": pref.code if pref else None,
                    "preference_agreement": pref.agreement if pref else None,
                    "preference_proving_document_id": pref.proving_document_id if pref else None,
                }
            )
            records.append({**head, **item})
        return records


# --- Korea Customs Service synthetic data ----------------------------------------------------------------------

# Korean transport mode codes -> UN/ECE Rec. 19 (90 'other' has no equivalent and is kept only as kr.transport_mode)
KCS_TRANSPORT = {"10": "1", "20": "2", "30": "3", "40": "4", "50": "5"}
# model location -> canonical KCS column, for error reports (the release then gives the file's own name)
_KCS_LOC = {
    "functional_reference_id": "Declaration ID",
    "acceptance_date": "Date",
    "declaration_office_id": "Office ID",
    "declarant": "Declarant ID",
    "importer": "Importer ID",
    "seller": "Seller ID",
    "carrier": "Courier ID",
    "hs_code": "HS6 Code",
    "origin_country_code": "Country of Origin",
    "duty_rate": "Tax Rate",
    "duty_regime_code": "Tax Type",
    "net_mass_kg": "Net Mass",
    "customs_value_amount": "Item Price",
    "departure_country_code": "Country of Departure",
    "mode_code": "Mode of Transport",
}


class KcsLayout:
    """Korea Customs Service synthetic import declarations (Seondong/Customs-Declaration-Datasets), every published
    release (see :mod:`opencustoms.declarations.kcs`: English or Korean headers, HS6 or HS10 codes, with or without
    a declaration number).

    Values are in KRW. Columns with no WCO element (process type, import type and use, payment type, origin
    indicator) are kept as national extensions 'kr.*'. Tax types starting with 'F' are FTA rates: they become a
    preference claim with that code (the data names no certificate). Fraud / Critical Fraud (0, 1 fraud,
    2 critical fraud) become the declaration's inspection result.
    """

    name = "kcs"
    description = (
        "Korea Customs Service import declarations (one goods item each, any published release), with fraud labels"
    )

    def __init__(self, release: KcsRelease | None = None) -> None:
        self.release = release

    def check_columns(self, columns: list[str] | None) -> None:
        kcs_release(columns)

    def bind(self, columns: list[str] | None) -> KcsLayout:
        """This layout for a file with this header (which release it is)."""
        return KcsLayout(kcs_release(columns))

    def candidates(self, records: Iterable[RawRecord]) -> Iterator[Candidate]:
        seen: dict[str, int] = {}
        release = self.release
        for rec in records:
            if release is None:  # not bound to a header: the first record's columns, else the shared files' release
                release = _guess_release(rec.values)
            if rec.values is None or rec.problem is not None:
                # one row per declaration: nothing else is lost, and the reference is reported when readable
                readable = _clean((rec.values or {}).get(release.column("Declaration ID")))
                if not release.has_reference and rec.values is not None:
                    readable = None
                ref = None if readable is None or "\ufffd" in str(readable) else str(readable)
                if rec.problem is not None:
                    rec.problem.reference = ref
                yield Candidate([rec.row], ref, None, [rec.problem] if rec.problem else [])
                continue
            row = release.normalise({k: _clean(x) for k, x in rec.values.items()}, rec.row)
            v = row.values
            ref = None if v.get("Declaration ID") is None else str(v["Declaration ID"])
            candidate = Candidate([rec.row], ref, None)
            candidate.notes = {
                "zeros_restored": row.zeros_restored,
                "references_generated": int(row.reference_generated),
            }
            if ref is not None and ref in seen:
                what = "the same row content" if row.reference_generated else "duplicate Declaration ID"
                candidate.problems.append(
                    Problem(rec.row, ref, release.column("Declaration ID"), ref, f"{what}; first at row {seen[ref]}")
                )
                yield candidate
                continue
            if ref is not None:
                seen[ref] = rec.row
            candidate.data = self._to_dict(v)
            fraud = v.get("Fraud")
            if fraud is not None:
                candidate.label = Label(
                    "fraud" if str(fraud) == "1" else "compliant",
                    detail={"critical": critical(v.get("Critical Fraud")), "source": "kcs"},
                )
            yield candidate

    @staticmethod
    def _to_dict(v: dict[str, Any]) -> dict[str, Any]:
        def party(key: str) -> dict[str, Any] | None:
            return None if v.get(key) is None else {"id": str(v[key])}

        tax_type = v.get("Tax Type")
        mode = v.get("Mode of Transport")
        item: dict[str, Any] = {
            "sequence_number": 1,
            "hs_code": v.get(HS10) or v.get("HS6 Code"),
            "net_mass_kg": v.get("Net Mass"),
            "customs_value_amount": v.get("Item Price"),
            "customs_value_currency": "KRW",
            "origin_country_code": v.get("Country of Origin"),
            "duty_rate": v.get("Tax Rate"),
            "duty_regime_code": tax_type,
        }
        if tax_type is not None and str(tax_type).startswith("F"):
            item["preference"] = {"code": str(tax_type)}
        if isinstance(item["customs_value_amount"], float | str):
            item["customs_value_amount"] = _round_money(item["customs_value_amount"])
        national = {
            f"kr.{key}": str(v[col])
            for key, col in (
                ("process_type", "Process Type"),
                ("import_type", "Import Type"),
                ("import_use", "Import Use"),
                ("payment_type", "Payment Type"),
                ("origin_indicator", "Country of Origin Indicator"),
                ("transport_mode", "Mode of Transport"),
            )
            if v.get(col) is not None
        }
        data: dict[str, Any] = {
            "functional_reference_id": None if v.get("Declaration ID") is None else str(v["Declaration ID"]),
            "type_code": "import",
            "acceptance_date": v.get("Date"),
            "declaration_office_id": None if v.get("Office ID") is None else str(v["Office ID"]),
            "declarant": party("Declarant ID"),
            "importer": party("Importer ID"),
            "goods_items": [item],
            "national_extensions": national,
        }
        for role, key in (("seller", "Seller ID"), ("carrier", "Courier ID")):
            if v.get(key) is not None:
                data[role] = party(key)
        transport = {"departure_country_code": v.get("Country of Departure")}
        if mode is not None and str(mode) in KCS_TRANSPORT:
            transport["mode_code"] = KCS_TRANSPORT[str(mode)]
            data["transport"] = {k: x for k, x in transport.items() if x is not None}
        return data

    def locate(self, candidate: Candidate, loc: tuple[Any, ...]) -> tuple[int | None, str]:
        names = [str(p) for p in loc if not isinstance(p, int)]
        column = self.release.column if self.release is not None else (lambda c: c)
        for name in reversed(names):
            if name in _KCS_LOC:
                return candidate.rows[0], column(_KCS_LOC[name])
        return candidate.rows[0], ".".join(names)


def _guess_release(values: dict[str, Any] | None) -> KcsRelease:
    from opencustoms.declarations.errors import ImportFileError

    try:
        return kcs_release(list(values or ()))
    except ImportFileError:
        return kcs_release([*KCS_COLUMNS, *KCS_LABELS])


def _round_money(value: Any) -> Any:
    try:
        return f"{float(value):.2f}"
    except ValueError:
        return value


BUILTIN_LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (NativeLayout(), FlatLayout(), KcsLayout())}


def all_layouts() -> dict[str, Layout]:
    """Built-in layouts plus those that plugins register."""
    from opencustoms.plugins import plugin_manager

    layouts = dict(BUILTIN_LAYOUTS)
    for contributed in plugin_manager().hook.opencustoms_import_layouts():
        for layout in contributed:
            layouts[layout.name] = layout
    return layouts


def export_records(d: Declaration) -> list[dict[str, Any]]:
    return FlatLayout.to_records(d)


_ = Declaration

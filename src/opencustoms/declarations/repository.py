"""Declarations in the relational store: model <-> rows, batch inserts, loading and searching.

A declaration spreads over five tables (declarations, declaration_parties, goods_items, declaration_containers,
additional_documents); parties are kept as declared on each declaration, so what a trader declared is never
overwritten by a later declaration.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, and_, func, insert, select

from opencustoms.model import Declaration, GoodsItem
from opencustoms.security.pseudonyms import identifiers_with
from opencustoms.store.bulk import bulk_insert, insert_tuples, sqlite_timestamp  # noqa: F401  (also imported from here)
from opencustoms.store.tables import (
    additional_documents,
    declaration_containers,
    declaration_parties,
    declarations,
    goods_items,
    inspection_results,
)

_PARTY_ROLES = ("declarant", "importer", "exporter", "seller", "carrier")
# the goods item's own columns (its preference is flattened into preference_* columns)
ITEM_FIELDS = tuple(name for name in GoodsItem.model_fields if name != "preference")


@dataclass(slots=True)
class DeclarationRows:
    """One declaration as table rows (without the database id, which the insert assigns)."""

    declaration: dict[str, Any]
    parties: list[dict[str, Any]]
    items: list[dict[str, Any]]
    containers: list[dict[str, Any]]
    documents: list[dict[str, Any]]


def to_rows(d: Declaration, import_id: int | None = None, now: dt.datetime | None = None) -> DeclarationRows:
    t = d.transport
    row = {
        "functional_reference_id": d.functional_reference_id,
        "type_code": d.type_code.value,
        "acceptance_date": d.acceptance_date,
        "declaration_office_id": d.declaration_office_id,
        "procedure_code": d.procedure_code,
        "transport_mode_code": t.mode_code.value if t else None,
        "transport_identification_id": t.id if t else None,
        "transport_nationality_code": t.nationality_code if t else None,
        "vessel_imo": t.vessel_imo if t else None,
        "vessel_mmsi": t.vessel_mmsi if t else None,
        "loading_location": t.loading_location if t else None,
        "unloading_location": t.unloading_location if t else None,
        "departure_country_code": t.departure_country_code if t else None,
        "itinerary_country_codes": t.itinerary_country_codes if t and t.itinerary_country_codes else None,
        "national_extensions": d.national_extensions or None,
        "import_id": import_id,
        "created_at": now or dt.datetime.now(dt.UTC),
    }
    parties = []
    for role, p in d.parties().items():
        a = p.address
        parties.append(
            {
                "role": role,
                "party_id": p.id,
                "name": p.name,
                "country_code": p.country_code,
                "tax_id": p.tax_id,
                "aeo_status": p.aeo_status.value,
                "aeo_certificate_id": p.aeo_certificate_id,
                "address_line": a.line if a else None,
                "city_name": a.city_name if a else None,
                "postcode_id": a.postcode_id if a else None,
                "address_country_code": a.country_code if a else None,
            }
        )
    items = []
    for g in d.goods_items:
        pref = g.preference
        items.append(
            {
                **{name: getattr(g, name) for name in ITEM_FIELDS},
                "preference_code": pref.code if pref else None,
                "preference_agreement": pref.agreement if pref else None,
                "preference_proving_document_id": pref.proving_document_id if pref else None,
            }
        )
    containers = [{"position": i, "container_id": c} for i, c in enumerate(t.container_ids if t else [], 1)]
    documents = [
        {
            "position": i,
            "type_code": doc.type_code,
            "document_id": doc.id,
            "issue_date": doc.issue_date,
            "issuer_country_code": doc.issuer_country_code,
        }
        for i, doc in enumerate(d.additional_documents, 1)
    ]
    return DeclarationRows(row, parties, items, containers, documents)


def existing_references(conn: Connection, references: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(references), 900):
        chunk = references[start : start + 900]
        found.update(
            conn.execute(
                select(declarations.c.functional_reference_id).where(declarations.c.functional_reference_id.in_(chunk))
            ).scalars()
        )
    return found


def insert_rows(conn: Connection, batch: Sequence[DeclarationRows]) -> list[int]:
    """Insert declarations with their children in the caller's transaction; returns the new ids in order."""
    if not batch:
        return []
    bulk_insert(conn, declarations, [r.declaration for r in batch])
    by_reference = reference_ids(conn, [r.declaration["functional_reference_id"] for r in batch])
    ids = [by_reference[r.declaration["functional_reference_id"]] for r in batch]
    children: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for new_id, rows in zip(ids, batch, strict=True):
        for table, part in (
            (declaration_parties, rows.parties),
            (goods_items, rows.items),
            (declaration_containers, rows.containers),
            (additional_documents, rows.documents),
        ):
            for child in part:
                child["declaration_id"] = new_id
                children[table].append(child)
    for table, rows_ in children.items():
        bulk_insert(conn, table, rows_)
    return ids


def reference_ids(conn: Connection, references: Sequence[str]) -> dict[str, int]:
    """Database ids of stored declarations by functional_reference_id."""
    found: dict[str, int] = {}
    for start in range(0, len(references), 5000):
        chunk = list(references[start : start + 5000])
        found.update(
            conn.execute(
                select(declarations.c.functional_reference_id, declarations.c.id).where(
                    declarations.c.functional_reference_id.in_(chunk)
                )
            ).all()
        )
    return found


def insert_labels(conn: Connection, labels: Sequence[dict[str, Any]]) -> None:
    if labels:
        conn.execute(insert(inspection_results), list(labels))


def _group(rows: Sequence[Any]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[r["declaration_id"]].append(dict(r))
    return out


def load(conn: Connection, ids: Sequence[int]) -> list[Declaration]:
    """Rebuild declarations from their rows, in the order of ``ids``."""
    if not ids:
        return []
    heads = {r["id"]: dict(r) for r in conn.execute(select(declarations).where(declarations.c.id.in_(ids))).mappings()}
    children = {}
    for name, table, order in (
        ("parties", declaration_parties, declaration_parties.c.role),
        ("items", goods_items, goods_items.c.sequence_number),
        ("containers", declaration_containers, declaration_containers.c.position),
        ("documents", additional_documents, additional_documents.c.position),
    ):
        children[name] = _group(
            conn.execute(select(table).where(table.c.declaration_id.in_(ids)).order_by(table.c.declaration_id, order))
            .mappings()
            .all()
        )
    return [
        from_rows(
            heads[i], children["parties"][i], children["items"][i], children["containers"][i], children["documents"][i]
        )
        for i in ids
        if i in heads
    ]


def from_rows(
    head: dict[str, Any],
    parties: list[dict[str, Any]],
    items: list[dict[str, Any]],
    containers: list[dict[str, Any]],
    documents: list[dict[str, Any]],
) -> Declaration:
    data: dict[str, Any] = {
        "functional_reference_id": head["functional_reference_id"],
        "type_code": head["type_code"],
        "acceptance_date": head["acceptance_date"],
        "declaration_office_id": head["declaration_office_id"],
        "procedure_code": head["procedure_code"],
        "national_extensions": head["national_extensions"] or {},
    }
    for p in parties:
        address = None
        if p["address_country_code"]:
            address = {
                "line": p["address_line"],
                "city_name": p["city_name"],
                "postcode_id": p["postcode_id"],
                "country_code": p["address_country_code"],
            }
        data[p["role"]] = {
            "id": p["party_id"],
            "name": p["name"],
            "address": address,
            "country_code": p["country_code"],
            "tax_id": p["tax_id"],
            "aeo_status": p["aeo_status"],
            "aeo_certificate_id": p["aeo_certificate_id"],
        }
    if head["transport_mode_code"]:
        data["transport"] = {
            "mode_code": head["transport_mode_code"],
            "id": head["transport_identification_id"],
            "nationality_code": head["transport_nationality_code"],
            "vessel_imo": head["vessel_imo"],
            "vessel_mmsi": head["vessel_mmsi"],
            "container_ids": [c["container_id"] for c in containers],
            "loading_location": head["loading_location"],
            "unloading_location": head["unloading_location"],
            "departure_country_code": head["departure_country_code"],
            "itinerary_country_codes": head["itinerary_country_codes"] or [],
        }
    data["additional_documents"] = [
        {
            "type_code": d["type_code"],
            "id": d["document_id"],
            "issue_date": d["issue_date"],
            "issuer_country_code": d["issuer_country_code"],
        }
        for d in documents
    ]
    goods = []
    for g in items:
        item = {k: g[k] for k in ITEM_FIELDS}
        if g["preference_code"]:
            item["preference"] = {
                "code": g["preference_code"],
                "agreement": g["preference_agreement"],
                "proving_document_id": g["preference_proving_document_id"],
            }
        goods.append(item)
    data["goods_items"] = goods
    return Declaration.model_validate(data)


@dataclass(frozen=True)
class SearchFilters:
    type_code: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    office_id: str | None = None
    party_id: str | None = None
    hs_prefix: str | None = None
    origin_country_code: str | None = None
    container_id: str | None = None
    reference_prefix: str | None = None
    # the trader numbers a pseudonym stands for (set by the service, never by a caller): parties among them match
    party_ids: tuple[str, ...] | None = None


def _filtered(query: Select[Any], f: SearchFilters) -> Select[Any]:
    d = declarations.c
    conditions = []
    if f.type_code:
        conditions.append(d.type_code == f.type_code)
    if f.date_from:
        conditions.append(d.acceptance_date >= f.date_from)
    if f.date_to:
        conditions.append(d.acceptance_date <= f.date_to)
    if f.office_id:
        conditions.append(d.declaration_office_id == f.office_id)
    if f.reference_prefix:
        conditions.append(d.functional_reference_id.startswith(f.reference_prefix, autoescape=True))
    if f.party_id or f.party_ids is not None:
        wanted = [*([f.party_id] if f.party_id else []), *(f.party_ids or ())]
        conditions.append(
            d.id.in_(select(declaration_parties.c.declaration_id).where(declaration_parties.c.party_id.in_(wanted)))
        )
    item_conditions = []
    if f.hs_prefix:
        item_conditions.append(goods_items.c.hs_code.startswith(f.hs_prefix, autoescape=True))
    if f.origin_country_code:
        item_conditions.append(goods_items.c.origin_country_code == f.origin_country_code)
    if item_conditions:
        conditions.append(d.id.in_(select(goods_items.c.declaration_id).where(and_(*item_conditions))))
    if f.container_id:
        conditions.append(
            d.id.in_(
                select(declaration_containers.c.declaration_id).where(
                    declaration_containers.c.container_id == f.container_id
                )
            )
        )
    return query.where(*conditions) if conditions else query


def search(conn: Connection, filters: SearchFilters, *, limit: int, offset: int) -> tuple[list[int], int]:
    """Ids of matching declarations, newest first, and the total count."""
    total = conn.execute(_filtered(select(func.count()).select_from(declarations), filters)).scalar_one()
    ids = (
        conn.execute(
            _filtered(select(declarations.c.id), filters)
            .order_by(declarations.c.acceptance_date.desc(), declarations.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        .scalars()
        .all()
    )
    return list(ids), int(total)


def parties_with_pseudonym(conn: Connection, pseudonym: str, pseudonymise: Callable[[str], str]) -> tuple[str, ...]:
    """The stored trader numbers whose pseudonym is ``pseudonym`` (:func:`pseudonyms.identifiers_with`)."""
    numbers = conn.execute(select(declaration_parties.c.party_id).distinct()).scalars()
    return identifiers_with(pseudonym, numbers, pseudonymise)


def id_of(conn: Connection, reference: str) -> int | None:
    return conn.execute(
        select(declarations.c.id).where(declarations.c.functional_reference_id == reference)
    ).scalar_one_or_none()


def iter_ids(conn: Connection, filters: SearchFilters) -> list[int]:
    return list(conn.execute(_filtered(select(declarations.c.id), filters).order_by(declarations.c.id)).scalars())

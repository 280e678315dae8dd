"""Signals: the small typed records the pillars exchange.

Ledger, documents and IoT *emit* signals ("AEO certificate suspended", "e-seal opened outside a customs zone",
"certificate of origin revoked", "plate read does not match the declaration"); the risk engine *reads* the signals
that concern a declaration. Pillars never import one another: they meet here and in the model.

A signal's subject is what it is about: a declaration (by functional_reference_id), a party (trader id), a
container (ISO 6346), a vehicle (registration), a vessel (IMO or MMSI), a certificate or a document (its id).
``for_declaration`` gathers every signal whose subject appears on a declaration (``for_stored`` does the same for
stored declarations in bulk, from the store's rows). Emitting is idempotent by id, so a pillar that re-sends after a
crash does not double-count.

**No name is ever stored in a signal's text.** A reason names a party or an AEO certificate by a token,
``{party:<trader id>}`` or ``{certificate:<number>}`` (:func:`party_token`, :func:`certificate_token`), and a
:class:`ReaderView` fills the tokens at read time for one reader: the name and the identifier for a reader with the
personal-data permission, the installation's keyed pseudonym for everyone else (as declarations show parties).
Texts stored before tokens existed are masked at read time too (:meth:`ReaderView.text`).

**Every reason in the reader's language.** The stored ``reason`` is English; :func:`describe` writes the same event
in the reader's language from the sentence template of its kind (``wording/signals.toml``) and the values the
emitter put into ``evidence`` (tokens stay tokens: the reader's view fills them afterwards,
:meth:`ReaderView.describe`). A kind without a template, or a signal stored before its evidence carried the values,
is shown with its stored reason. :func:`kind_label` names a kind in words, for tables.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Engine, String, and_, bindparam, literal, select, tuple_, union

from opencustoms import wording
from opencustoms.model import Declaration
from opencustoms.store.bulk import bulk_insert
from opencustoms.store.database import as_utc
from opencustoms.store.tables import additional_documents, declaration_containers, declaration_parties, declarations
from opencustoms.store.tables import signals as signals_table


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class SubjectType(StrEnum):
    DECLARATION = "declaration"
    PARTY = "party"
    CONTAINER = "container"
    VEHICLE = "vehicle"
    VESSEL = "vessel"
    CERTIFICATE = "certificate"
    DOCUMENT = "document"
    ADMINISTRATION = "administration"  # e.g. a partner administration whose log showed a forked history


class Signal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), max_length=36)
    kind: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z0-9_.]+$", max_length=64)] = Field(
        description="'<pillar>.<what>', e.g. 'ledger.aeo_suspended', 'iot.seal_opened_outside_zone'."
    )
    subject_type: SubjectType
    subject_id: Annotated[str, Field(min_length=1, max_length=128)]
    severity: Severity
    source: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=32)]
    reason: Annotated[str, Field(min_length=1, max_length=2000)] = Field(
        description="Plain language, for officers; a party or AEO certificate named only by its token "
        "(party_token, certificate_token), never by name: readers see it through their ReaderView."
    )
    evidence: dict[str, Any] = Field(default_factory=dict)
    observed_at: dt.datetime


def _row(signal: Signal, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": signal.id,
        "kind": signal.kind,
        "subject_type": signal.subject_type.value,
        "subject_id": signal.subject_id,
        "severity": signal.severity.value,
        "source": signal.source,
        "reason": signal.reason,
        "evidence": signal.evidence or None,
        "observed_at": signal.observed_at,
        "recorded_at": now,
    }


def emit(target: Engine | Connection, signals: Sequence[Signal]) -> int:
    """Store signals (in the caller's transaction when given a Connection); known ids are skipped.
    Returns how many were new."""
    if not signals:
        return 0
    if isinstance(target, Engine):
        with target.begin() as conn:
            return emit(conn, signals)
    unique = list({s.id: s for s in signals}.values())
    known: set[str] = set()
    for start in range(0, len(unique), 5000):  # stay below the databases' bound-parameter limits
        chunk = [s.id for s in unique[start : start + 5000]]
        known.update(target.execute(select(signals_table.c.id).where(signals_table.c.id.in_(chunk))).scalars())
    now = dt.datetime.now(dt.UTC)
    fresh = [_row(s, now) for s in unique if s.id not in known]
    bulk_insert(target, signals_table, fresh)
    return len(fresh)


def _from_row(row: Any) -> Signal:
    observed = as_utc(row["observed_at"])
    return Signal(
        id=row["id"],
        kind=row["kind"],
        subject_type=row["subject_type"],
        subject_id=row["subject_id"],
        severity=row["severity"],
        source=row["source"],
        reason=row["reason"],
        evidence=row["evidence"] or {},
        observed_at=observed,
    )


def for_subjects(
    engine: Engine, subjects: Iterable[tuple[SubjectType | str, str]], since: dt.datetime | None = None
) -> list[Signal]:
    """Signals about any of the (subject_type, subject_id) pairs, oldest first."""
    pairs = sorted({(SubjectType(t).value, i) for t, i in subjects if i})
    if not pairs:
        return []
    query = _FOR_SUBJECTS if since is None else _FOR_SUBJECTS.where(signals_table.c.observed_at >= since)
    with engine.connect() as conn:
        return [_from_row(r) for r in conn.execute(query, {"pairs": pairs}).mappings()]


# one statement whatever the number of subjects (a row-value IN, compiled once and cached; an OR of one AND per
# subject was compiled again for every count of subjects, 5x slower per online decision)
_FOR_SUBJECTS = (
    select(signals_table)
    .where(tuple_(signals_table.c.subject_type, signals_table.c.subject_id).in_(bindparam("pairs", expanding=True)))
    .order_by(signals_table.c.observed_at, signals_table.c.id)
)


def subjects_of(declaration: Declaration) -> list[tuple[SubjectType, str]]:
    """Everything on a declaration that a signal can be about."""
    out: list[tuple[SubjectType, str]] = [(SubjectType.DECLARATION, declaration.functional_reference_id)]
    out += [(SubjectType.PARTY, p.id) for p in declaration.parties().values()]
    out += [
        (SubjectType.CERTIFICATE, p.aeo_certificate_id) for p in declaration.parties().values() if p.aeo_certificate_id
    ]
    out += [(SubjectType.DOCUMENT, d.id) for d in declaration.additional_documents]
    t = declaration.transport
    if t is not None:
        out += [(SubjectType.CONTAINER, c) for c in t.container_ids]
        out += [(SubjectType.VESSEL, v) for v in (t.vessel_imo, t.vessel_mmsi) if v]
        if t.id and t.mode_code.value == "3":
            out.append((SubjectType.VEHICLE, t.id))
    return out


def for_declaration(engine: Engine, declaration: Declaration, since: dt.datetime | None = None) -> list[Signal]:
    return for_subjects(engine, subjects_of(declaration), since)


# --- signals of stored declarations, in bulk ----------------------------------------------------------------


def _stored_subjects() -> Any:
    """(reference, subject_type, subject_id) of every subject of the stored declarations whose references are bound
    to ``references``: what :func:`subjects_of` gives for each of them, read from the store's rows (tested)."""
    d, p, a, c = declarations.c, declaration_parties.c, additional_documents.c, declaration_containers.c
    mine = d.functional_reference_id.in_(bindparam("references", expanding=True))

    def of(kind: SubjectType, column: Any, *joined: Any, where: Any = None) -> Any:
        query = select(d.functional_reference_id.label("reference"), literal(kind.value, String).label("t"), column)
        for table, on in joined:
            query = query.join(table, on)
        return query.where(mine, column.is_not(None), *(() if where is None else (where,)))

    return union(
        of(SubjectType.DECLARATION, d.functional_reference_id.label("i")),
        of(SubjectType.PARTY, p.party_id.label("i"), (declaration_parties, p.declaration_id == d.id)),
        of(SubjectType.CERTIFICATE, p.aeo_certificate_id.label("i"), (declaration_parties, p.declaration_id == d.id)),
        of(SubjectType.DOCUMENT, a.document_id.label("i"), (additional_documents, a.declaration_id == d.id)),
        of(SubjectType.CONTAINER, c.container_id.label("i"), (declaration_containers, c.declaration_id == d.id)),
        of(SubjectType.VESSEL, d.vessel_imo.label("i")),
        of(SubjectType.VESSEL, d.vessel_mmsi.label("i")),
        of(SubjectType.VEHICLE, d.transport_identification_id.label("i"), where=d.transport_mode_code == "3"),
    ).subquery()


def _stored_signals() -> Any:
    subjects = _stored_subjects()
    return (
        select(subjects.c.reference, signals_table)
        .join(
            signals_table,
            and_(signals_table.c.subject_type == subjects.c.t, signals_table.c.subject_id == subjects.c.i),
        )
        .order_by(subjects.c.reference, signals_table.c.observed_at, signals_table.c.id)
    )


# one statement, built once (its compiled form is cached): deciding a stored declaration online runs it per request
_STORED_SIGNALS = _stored_signals()
STORED_CHUNK = 1000  # references per query (below every database's bound-parameter limit)


def for_stored(engine: Engine | Connection, references: Iterable[str]) -> dict[str, list[Signal]]:
    """The signals of each stored declaration (by functional reference), oldest first, as :func:`for_declaration`
    gives them for that declaration; references without signals (or not stored) are absent. One query per
    :data:`STORED_CHUNK` declarations: the batch paths (the backlog, a file) lane with the signals as online does."""
    if isinstance(engine, Engine):
        with engine.connect() as conn:
            return for_stored(conn, references)
    wanted = list(dict.fromkeys(r for r in references if r))
    out: dict[str, list[Signal]] = {}
    for start in range(0, len(wanted), STORED_CHUNK):
        rows = engine.execute(_STORED_SIGNALS, {"references": wanted[start : start + STORED_CHUNK]}).mappings()
        for row in rows:
            out.setdefault(row["reference"], []).append(_from_row(row))
    return out


def for_stored_one(conn: Connection, reference: str) -> list[Signal]:
    """:func:`for_stored` of one stored declaration."""
    return for_stored(conn, [reference]).get(reference, [])


def merged(*groups: Iterable[Signal]) -> list[Signal]:
    """Signals gathered from several look-ups (a stored declaration's, those of other subjects), each once (by id),
    oldest first, as :func:`for_stored` orders them."""
    unique = {s.id: s for group in groups for s in group}
    return sorted(unique.values(), key=lambda s: (s.observed_at, s.id))


# --- one event, one reason -----------------------------------------------------------------------------------


def distinct(found: Iterable[Signal]) -> list[Signal]:
    """One signal per event, in order: a pillar emits the same event once per subject it concerns (the ledger an
    AEO status about the certificate and about its holder; documents about the document and the declaration; IoT
    about the declaration, the container, the vehicle); a declaration that shows several of those subjects would
    otherwise count and explain the event several times. Same event: same kind, severity, reason and evidence."""
    seen: set[tuple[str, str, str, str]] = set()
    out = []
    for s in found:
        key = (s.kind, s.severity.value, s.reason, json.dumps(s.evidence, sort_keys=True, default=str))
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


# --- subjects named in texts, rendered for one reader ---------------------------------------------------------


def party_token(party_id: str) -> str:
    """How a signal's text names a party: the trader id in a token, filled per reader (never a name)."""
    return "{party:" + party_id + "}"


def certificate_token(number: str) -> str:
    """How a signal's text names an AEO certificate (its number identifies the holder: masked like a party)."""
    return "{certificate:" + number + "}"


_TOKEN = re.compile(r"\{(party|certificate):([^{}]{1,128})\}")
# the AEO texts the ledger stored before tokens: "AEO certificate <number> of <holder name> (<origin>) is <status> ("
_LEGACY_AEO = re.compile(r"AEO certificate (?P<number>[^\s{}]+) of (?P<name>.+?) \((?P<origin>[^()]*)\) is (?=\w+ \()")
WITHHELD = "[withheld]"
# evidence keys holding a party id or a certificate number (masked like the tokens)
PARTY_EVIDENCE = ("holder_id", "party_id")
CERTIFICATE_EVIDENCE = ("certificate_number",)


# --- reasons in the reader's language -------------------------------------------------------------------------

SENTENCES = Path(wording.__file__).parent / "signals.toml"  # a sentence template per signal kind, per language
KIND_NAMES = Path(wording.__file__).parent / "signal_kinds.toml"  # each kind in words, per language
POSITION_EVIDENCE = ("position", "first_position")  # [latitude, longitude]
_ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?$")


def _plain(value: Any) -> str:
    """A value as a variant's condition compares it (``#status=revoked``, ``#battery_percent=``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _value(kind: str, key: str, value: Any, lang: str) -> str | None:
    """One evidence value written for a reader of ``lang`` (None: nothing a sentence can show). A list of records
    (``findings``) is written one sentence per record, from the templates ``<kind>.<key>``, joined by semicolons."""
    if value is None or isinstance(value, bool | dict) or (isinstance(value, str | list | tuple) and not value):
        return None
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        said = [_sentence(f"{kind}.{key}", v, lang) for v in value]
        return None if any(x is None for x in said) else (" ; " if lang == "fr" else "; ").join(x for x in said if x)
    if isinstance(value, str) and key in PARTY_EVIDENCE:
        return party_token(value)
    if isinstance(value, str) and key in CERTIFICATE_EVIDENCE:
        return certificate_token(value)
    if isinstance(value, int | float):
        return wording.number(lang, value)
    if isinstance(value, list | tuple):
        if key in POSITION_EVIDENCE and len(value) == 2 and all(isinstance(v, int | float) for v in value):
            separator = " ; " if lang == "fr" else ", "
            return separator.join(wording.number(lang, float(v), 5) for v in value)
        if all(isinstance(v, str) for v in value):
            return ", ".join(value)
        return None
    text = str(value)
    if _ISO_TIME.match(text):
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC)
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    if key == "country" or key.endswith("_country"):
        from opencustoms.wording.labels import country

        return country(text, lang)
    return text


def _variants(kind: str) -> list[str]:
    """The templates of a kind, in file order: ``kind`` itself and its variants ``kind#...``."""
    return [k for k in wording.catalogue(str(SENTENCES)).entries if k == kind or k.startswith(kind + "#")]


def _applies(key: str, evidence: Mapping[str, Any]) -> bool:
    """A variant ``kind#name=value&other=value`` applies when the evidence has those values (``name=``: the
    emitter recorded that there is no value, the key is present and empty); a part without ``=`` only names the
    variant (``kind#with_notes``)."""
    _, _, conditions = key.partition("#")
    for condition in conditions.split("&"):
        name, equals, wanted = condition.partition("=")
        if equals and (name not in evidence or _plain(evidence[name]) != wanted):
            return False
    return True


def _sentence(kind: str, evidence: Mapping[str, Any], lang: str) -> str | None:
    sentences = wording.catalogue(str(SENTENCES))
    values: dict[str, str] | None = None
    for key in _variants(kind):
        if not _applies(key, evidence):
            continue
        if values is None:
            values = {k: v for k, raw in evidence.items() if (v := _value(kind, k, raw, lang)) is not None}
        if sentences.placeholders(key, lang) <= values.keys():
            return sentences.say(key, lang, **values)
    return None


def describe(kind: str, evidence: Mapping[str, Any], lang: str, fallback: str) -> str:
    """The signal's reason in ``lang``: the first template of ``kind`` (``wording/signals.toml``) that applies to
    the evidence and whose every placeholder has a value there, filled with the evidence's values written for that
    language (numbers, dates, countries; a party or certificate as its token, which the caller's
    :class:`ReaderView` fills). ``fallback`` (the stored English reason) when no template fits."""
    said = _sentence(kind, evidence, lang)
    return fallback if said is None else said


def kind_label(kind: str, lang: str) -> str:
    """A signal kind in words, for tables (``ledger.aeo_suspended`` → "AEO certificate suspended" / "Certificat
    OEA suspendu"); a kind without a name is shown as it is."""
    names = wording.catalogue(str(KIND_NAMES))
    return names.template(kind, lang) if kind in names else kind


@dataclass
class ReaderView:
    """How one reader sees the parties and certificates a text names.

    ``masked``: the reader lacks the personal-data permission; tokens then become the installation's pseudonyms
    (``pseudonymiser``; without one, :data:`WITHHELD`). ``names``: party id -> name of the parties known to the
    page (the declaration's), shown to readers who may see them and, for masked readers, searched in texts stored
    before tokens so that no such name or id is shown. ``holders``: certificate number -> holder's party id.
    ``revealed`` becomes True once a name, trader id or certificate number was shown: the caller audits that read.
    """

    masked: bool
    pseudonymiser: Callable[[str], str] | None = None
    names: Mapping[str, str] = field(default_factory=dict)
    holders: Mapping[str, str] = field(default_factory=dict)
    revealed: bool = False

    def party(self, party_id: str) -> str:
        if self.masked:
            return self.pseudonymiser(party_id) if self.pseudonymiser else WITHHELD
        self.revealed = True
        name = self.names.get(party_id)
        return f"{name} ({party_id})" if name else party_id

    def certificate(self, number: str) -> str:
        if self.masked:
            return self.pseudonymiser(number) if self.pseudonymiser else WITHHELD
        self.revealed = True
        return number

    def subject(self, subject_type: SubjectType | str, subject_id: str) -> str:
        kind = SubjectType(subject_type)
        if kind is SubjectType.PARTY:
            return self.party(subject_id)
        if kind is SubjectType.CERTIFICATE:
            return self.certificate(subject_id)
        return subject_id

    def _legacy(self, match: re.Match[str]) -> str:
        number, name = match["number"], match["name"]
        holder = self.holders.get(number) or next((i for i, n in self.names.items() if n == name), None)
        if not holder and not self.masked:
            self.revealed = True  # an old name this view cannot map to a party: shown as stored
        shown = party_token(holder) if holder else (WITHHELD if self.masked else name)
        return f"AEO certificate {certificate_token(number)} of {shown} ({match['origin']}) is "

    def _scrub(self, text: str) -> str:
        """For a masked reader, the known names and ids left in a text stored before tokens, as pseudonyms (for
        any other reader they stay, and the read counts as revealing them)."""
        if not self.masked:
            known = [*self.names, *self.names.values(), *self.holders]
            if not self.revealed and any(k and k in text for k in known):
                self.revealed = True
            return text
        for party_id, name in self.names.items():
            if name and len(name) >= 3 and name in text:
                text = text.replace(name, self.party(party_id))
        for party_id in self.names:
            if party_id in text:
                text = re.sub(rf"(?<![\w{{:]){re.escape(party_id)}(?!\w)", self.party(party_id), text)
        for number in self.holders:
            if number in text:
                text = re.sub(rf"(?<![\w{{:]){re.escape(number)}(?!\w)", self.certificate(number), text)
        return text

    def text(self, text: str) -> str:
        """A stored text with its tokens filled for this reader (and, for a masked reader, texts stored before
        tokens cleared of the names and ids it knows)."""
        if "AEO certificate " in text:
            text = _LEGACY_AEO.sub(self._legacy, text)
        pieces = _TOKEN.split(text)  # [plain, kind, id, plain, kind, id, ..., plain]
        out = [self._scrub(pieces[0])]
        for i in range(1, len(pieces), 3):
            kind, identifier = pieces[i], pieces[i + 1]
            out.append(self.party(identifier) if kind == "party" else self.certificate(identifier))
            out.append(self._scrub(pieces[i + 2]))
        return "".join(out)

    def evidence(self, evidence: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(evidence)
        for key in PARTY_EVIDENCE:
            if isinstance(out.get(key), str):
                out[key] = self.party(out[key])
        for key in CERTIFICATE_EVIDENCE:
            if isinstance(out.get(key), str):
                out[key] = self.certificate(out[key])
        return out

    def describe(self, s: Signal, lang: str) -> str:
        """The signal's reason in ``lang`` (:func:`describe`), its tokens filled for this reader."""
        return self.text(describe(s.kind, s.evidence, lang, s.reason))

    def signal(self, s: Signal, lang: str | None = None) -> Signal:
        """A signal as this reader may see it: subject, reason and evidence rendered; with ``lang``, the reason
        written in that language (:meth:`describe`), else the stored text."""
        return s.model_copy(
            update={
                "subject_id": self.subject(s.subject_type, s.subject_id),
                "reason": self.describe(s, lang) if lang else self.text(s.reason),
                "evidence": self.evidence(s.evidence),
            }
        )


def names_of(declaration: Declaration) -> tuple[dict[str, str], dict[str, str]]:
    """(party id -> name, certificate number -> holder id) of a declaration's parties, for a :class:`ReaderView`."""
    names: dict[str, str] = {}
    holders: dict[str, str] = {}
    for party in declaration.parties().values():
        names.setdefault(party.id, party.name or "")
        if party.aeo_certificate_id:
            holders[party.aeo_certificate_id] = party.id
    return names, holders


def stored_names(conn: Connection, references: Iterable[str]) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """:func:`names_of` for stored declarations, by reference (one query per :data:`STORED_CHUNK`)."""
    wanted = list(dict.fromkeys(references))
    d, p = declarations.c, declaration_parties.c
    out: dict[str, tuple[dict[str, str], dict[str, str]]] = {r: ({}, {}) for r in wanted}
    for start in range(0, len(wanted), STORED_CHUNK):
        query = (
            select(d.functional_reference_id, p.party_id, p.name, p.aeo_certificate_id)
            .join(declaration_parties, p.declaration_id == d.id)
            .where(d.functional_reference_id.in_(wanted[start : start + STORED_CHUNK]))
        )
        for reference, party_id, name, certificate in conn.execute(query).all():
            names, holders = out[reference]
            names.setdefault(party_id, name or "")
            if certificate:
                holders[certificate] = party_id
    return out

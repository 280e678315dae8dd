"""The one authorisation table: for every route of the application, who may call it, whether it reads or writes,
and how large a request body it accepts.

``ROLE_PERMISSIONS`` (roles.py) says which permissions each role holds; ``ROUTES`` here says which permissions each
route needs; role × route follows from both (:func:`role_may`). The API's gate (``opencustoms.api.gate``) enforces
this table before any byte of a request body is read, ``create_app`` refuses to start when a route has no entry,
and docs/security.md carries the table as :func:`route_table_markdown` writes it (a test keeps them equal).

An entry's permissions are clauses that must all hold; a clause holds when the caller has any one of its
permissions (``needs(P.A, any_of(P.B, P.C))``: A, and B or C). The services still check the same permissions
themselves (``actor.require``): the gate refuses early, the service stays safe when called from the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from opencustoms.security.roles import ROLE_PERMISSIONS, Permission, Role

P = Permission


class Credential(StrEnum):
    """How a caller proves who they are on a route."""

    NONE = "none"  # public: nobody needs to
    TOKEN = "token"  # an API token, `Authorization: Bearer oc_...`, checked by the gate
    DEVICE = "device"  # a device's own secret (`Bearer ocd_...` + X-Device-Id) or an API token
    SESSION = "session"  # a dashboard page: the signed session cookie, checked by the page (web/core.py Page)


class Limit(StrEnum):
    """The largest request body of a route, by the setting (config.py) that holds it."""

    REQUEST = "max_request_bytes"  # ordinary JSON bodies and requests without one
    DECLARATION = "max_declaration_bytes"  # one declaration as JSON
    BATCH = "max_batch_bytes"  # JSON batches: ledger entries, documents to issue
    FORM = "max_form_bytes"  # dashboard forms
    DOCUMENT = "max_document_bytes"  # a wrapped document to verify
    UPLOAD = "max_upload_bytes"  # a declarations file to import
    EVENTS = "max_event_batch_bytes"  # a batch of device events
    SCAN = "max_scan_bytes"  # a scan's images, or a scan package

    @property
    def variable(self) -> str:
        return "OPENCUSTOMS_" + self.value.upper()


# Multipart framing around an uploaded file (boundaries, part headers, small form fields) counted on top of the
# file-size settings, so that a file exactly at its limit still gets through the gate.
FRAMING_BYTES = 64 * 1024
FRAMED = frozenset({Limit.UPLOAD, Limit.DOCUMENT, Limit.SCAN, Limit.FORM})

Clause = frozenset[Permission]


@dataclass(frozen=True)
class Access:
    """One route's entry. ``needs`` empty: anyone holding the credential (``signed in``), or anyone (public)."""

    credential: Credential
    needs: tuple[Clause, ...] = ()
    write: bool = False
    limit: Limit = Limit.REQUEST
    extra: frozenset[int] = frozenset()  # statuses beyond those the entry implies (OpenAPI), e.g. 404 without input
    html: bool = False  # a dashboard or public page: refusals are HTML pages, not problem+json

    @property
    def public(self) -> bool:
        return self.credential is Credential.NONE

    def missing(self, permissions: Iterable[Permission]) -> Clause | None:
        """The first clause the holder of ``permissions`` does not satisfy, or None when they may call the route."""
        held = frozenset(permissions)
        for clause in self.needs:
            if not clause & held:
                return clause
        return None

    def allows(self, permissions: Iterable[Permission]) -> bool:
        return self.missing(permissions) is None

    @property
    def who(self) -> str:
        """The entry's requirement in words of the table: ``public``, ``signed in`` or the permissions."""
        if self.public:
            return "public"
        if not self.needs:
            return "signed in"
        return " + ".join(" or ".join(sorted(p.value for p in clause)) for clause in self.needs)


def _clause(item: Permission | Clause) -> Clause:
    return item if isinstance(item, frozenset) else frozenset({Permission(item)})


def any_of(*permissions: Permission) -> Clause:
    return frozenset(permissions)


def api(
    *needs: Permission | Clause, write: bool = False, limit: Limit = Limit.REQUEST, extra: Iterable[int] = ()
) -> Access:
    """An API route called with a token; without permissions, any valid token (``signed in``)."""
    return Access(Credential.TOKEN, tuple(_clause(n) for n in needs), write, limit, frozenset(extra))


def public(
    *, write: bool = False, limit: Limit = Limit.REQUEST, extra: Iterable[int] = (), html: bool = False
) -> Access:
    """Anyone, without a token; ``html`` for a page of the dashboard (the login form, public verification)."""
    return Access(Credential.NONE, (), write, limit, frozenset(extra), html)


def page(*needs: Permission | Clause, write: bool = False, limit: Limit = Limit.FORM) -> Access:
    """A dashboard page behind the session cookie; the page itself checks the permission (``Page.user``)."""
    return Access(Credential.SESSION, tuple(_clause(n) for n in needs), write, limit, html=True)


def device(*needs: Permission | Clause, limit: Limit = Limit.EVENTS) -> Access:
    return Access(Credential.DEVICE, tuple(_clause(n) for n in needs), True, limit)


# (method, path template) → entry. HEAD follows GET. Each permission is the one the route's service requires.
ROUTES: dict[tuple[str, str], Access] = {
    # --- public: the landing page, health, API documentation, schemas, static files ---------------------------
    ("GET", "/"): public(),
    ("GET", "/health"): public(),
    ("GET", "/openapi.json"): public(),
    ("GET", "/docs"): public(),
    ("GET", "/docs/oauth2-redirect"): public(),
    ("GET", "/redoc"): public(),
    ("GET", "/schema/declaration"): public(),
    ("GET", "/iot/schema/event"): public(),
    ("GET", "/static/{path:path}"): public(),
    # --- declarations ------------------------------------------------------------------------------------------
    ("POST", "/declarations"): api(P.DECLARATIONS_WRITE, write=True, limit=Limit.DECLARATION),
    ("GET", "/declarations"): api(P.DECLARATIONS_READ),
    ("GET", "/declarations/{reference}"): api(P.DECLARATIONS_READ),
    ("POST", "/declarations/import"): api(P.DECLARATIONS_WRITE, write=True, limit=Limit.UPLOAD),
    # --- reference data: any signed-in caller ------------------------------------------------------------------
    ("GET", "/reference/hs"): api(),
    ("GET", "/reference/hs/{code}"): api(),
    ("GET", "/reference/containers/{number}"): api(),
    # --- users and audit ---------------------------------------------------------------------------------------
    ("GET", "/users"): api(P.USERS_MANAGE),
    ("POST", "/users"): api(P.USERS_MANAGE, write=True),
    # anyone may get a token for themselves; for someone else the service requires users:manage (hence 403)
    ("POST", "/users/{username}/tokens"): api(write=True, extra={403}),
    ("GET", "/users/me"): api(),
    ("GET", "/audit"): api(P.AUDIT_READ),
    ("GET", "/audit/verify"): api(P.AUDIT_READ),
    # --- risk --------------------------------------------------------------------------------------------------
    # Laning a stored declaration (storing its decision) needs decisions:write; the what-if stores nothing.
    ("POST", "/risk/decisions/{reference}"): api(P.DECISIONS_WRITE, write=True, extra={404}),
    ("POST", "/risk/what-if"): api(P.DECLARATIONS_READ, limit=Limit.DECLARATION),
    ("GET", "/risk/decisions/{reference}"): api(P.DECLARATIONS_READ, extra={404}),
    ("POST", "/risk/backlog"): api(P.DECISIONS_WRITE, write=True),
    ("GET", "/risk/queue"): api(P.DECLARATIONS_READ),
    ("POST", "/risk/assignments/{reference}"): api(P.DECISIONS_WRITE, write=True, extra={404}),
    ("POST", "/risk/inspections"): api(P.INSPECTIONS_WRITE, write=True),
    ("POST", "/risk/inspections/batch"): api(P.INSPECTIONS_WRITE, write=True, limit=Limit.BATCH),
    ("GET", "/risk/profiles"): api(P.DECLARATIONS_READ),
    ("POST", "/risk/profiles"): api(P.RISK_MANAGE, write=True),
    ("GET", "/risk/profiles/{profile_id}"): api(P.DECLARATIONS_READ),
    ("POST", "/risk/profiles/{profile_id}/retire"): api(P.RISK_MANAGE, write=True),
    ("GET", "/risk/models"): api(P.RISK_MANAGE),
    ("GET", "/risk/models/{version}/report"): api(P.RISK_MANAGE),
    ("GET", "/risk/models/{version}/drift"): api(P.RISK_MANAGE),
    ("GET", "/risk/valuation/flags"): api(P.RISK_MANAGE),
    ("POST", "/risk/models/{version}/promote"): api(P.RISK_MANAGE, write=True),
    ("POST", "/risk/models/rollback"): api(P.RISK_MANAGE, write=True, extra={404}),
    # --- ledger ------------------------------------------------------------------------------------------------
    ("GET", "/ledger/key"): api(P.LEDGER_READ, extra={404}),
    ("GET", "/ledger/checkpoint"): api(P.LEDGER_READ, extra={404}),
    # the entries' content only with ledger:replicate (partners, officers); other readers get the signed leaves
    ("GET", "/ledger/entries"): api(P.LEDGER_READ, extra={404}),
    ("POST", "/ledger/entries"): api(P.LEDGER_WRITE, write=True, limit=Limit.BATCH),
    ("GET", "/ledger/consistency"): api(P.LEDGER_READ, extra={404}),
    ("GET", "/ledger/inclusion"): api(P.LEDGER_READ, extra={404}),
    ("GET", "/ledger/witness"): api(P.LEDGER_READ, extra={404}),
    ("POST", "/ledger/certificates"): api(P.LEDGER_WRITE, write=True),
    ("PUT", "/ledger/certificates/{number}"): api(P.LEDGER_WRITE, write=True),
    ("POST", "/ledger/certificates/{number}/status"): api(P.LEDGER_WRITE, write=True),
    ("GET", "/ledger/certificates/{number}"): api(P.LEDGER_READ),
    ("GET", "/ledger/certificates/{number}/history"): api(P.LEDGER_READ),
    # a holder by its pseudonym; by trader id only with personal_data:read or ledger:replicate (else 403, holder_id)
    ("GET", "/ledger/holders/{holder_id}/certificates"): api(P.LEDGER_READ),
    ("GET", "/ledger/logs"): api(P.LEDGER_READ, extra={404}),
    ("POST", "/ledger/partners/pull"): api(P.LEDGER_WRITE, write=True, extra={404}),
    ("GET", "/ledger/alarms"): api(P.LEDGER_READ),
    ("POST", "/ledger/anchors"): api(P.LEDGER_WRITE, write=True, extra={404}),
    ("GET", "/ledger/anchors"): api(P.LEDGER_READ),
    ("POST", "/ledger/anchors/verify"): api(P.LEDGER_READ),
    ("POST", "/ledger/restore"): api(P.USERS_MANAGE, write=True, extra={404}),
    # --- exchange between administrations (docs/exchange.md) --------------------------------------------------------
    ("GET", "/exchange/partners"): api(P.DECLARATIONS_READ),
    ("GET", "/exchange/agreements"): api(P.DECLARATIONS_READ),
    ("PUT", "/exchange/agreements/{partner_code}"): api(P.USERS_MANAGE, write=True, extra={404}),
    ("POST", "/exchange/outbox"): api(P.EXCHANGE_SEND, write=True, limit=Limit.BATCH, extra={404}),
    ("POST", "/exchange/outbox/deliver"): api(P.EXCHANGE_SEND, write=True),
    ("GET", "/exchange/outbox"): api(P.EXCHANGE_SEND),
    # a partner administration delivers one signed message (compact JWS); refusals are 4xx naming what failed
    ("POST", "/exchange/inbox"): api(P.EXCHANGE_DELIVER, write=True, limit=Limit.DECLARATION, extra={409}),
    ("POST", "/exchange/inbox/batch"): api(P.EXCHANGE_DELIVER, write=True, limit=Limit.BATCH),
    ("GET", "/exchange/inbox"): api(P.DECLARATIONS_READ),
    ("POST", "/exchange/matches"): api(P.RISK_MANAGE, write=True),
    ("GET", "/exchange/mirror"): api(P.RISK_MANAGE),
    # --- documents: verification is public; the origin check reads the declaration, then its certificates ------
    ("POST", "/documents/verify"): public(limit=Limit.DOCUMENT),
    ("POST", "/documents/verify/upload"): public(limit=Limit.DOCUMENT),
    ("GET", "/documents/verify/qr"): public(),
    ("POST", "/documents/obfuscate"): public(limit=Limit.DOCUMENT),
    ("POST", "/documents"): api(P.DOCUMENTS_ISSUE, write=True, limit=Limit.BATCH),
    ("POST", "/documents/revoke"): api(P.DOCUMENTS_ISSUE, write=True, extra={404}),
    ("POST", "/documents/evm-sync"): api(P.DOCUMENTS_ISSUE, write=True, extra={404}),
    ("GET", "/documents/{key}"): api(P.DOCUMENTS_READ),
    ("GET", "/documents/{key}/print"): api(P.DOCUMENTS_READ),
    ("GET", "/documents/{key}/pdf"): api(P.DOCUMENTS_READ),
    ("GET", "/documents/{key}/json"): api(P.DOCUMENTS_READ),
    ("POST", "/documents/origin-checks/{reference}"): api(
        P.DECLARATIONS_READ, P.DOCUMENTS_READ, write=True, limit=Limit.DECLARATION
    ),
    # --- iot -------------------------------------------------------------------------------------------------
    ("POST", "/iot/devices"): api(P.DEVICES_MANAGE, write=True),
    ("GET", "/iot/devices"): api(P.DEVICES_MANAGE),
    ("POST", "/iot/zones"): api(P.DEVICES_MANAGE, write=True, limit=Limit.BATCH),
    ("POST", "/iot/transits"): api(P.DECLARATIONS_WRITE, write=True, limit=Limit.BATCH),
    ("GET", "/iot/transits"): api(P.DECLARATIONS_READ),
    ("GET", "/iot/transits/{movement_id}"): api(P.DECLARATIONS_READ),
    ("POST", "/iot/events"): device(any_of(P.DEVICE_EVENTS_WRITE, P.DEVICES_MANAGE)),
    ("GET", "/iot/quarantine"): api(P.DEVICES_MANAGE),
    ("GET", "/iot/alerts"): api(P.DECLARATIONS_READ),
    ("GET", "/iot/stats"): api(P.DECLARATIONS_READ),
    ("GET", "/iot/gate/queue"): api(P.DECLARATIONS_READ),
    ("POST", "/iot/gate/decisions/{decision_id}"): api(P.INSPECTIONS_WRITE, write=True),
    ("POST", "/iot/vessels/analyse"): api(any_of(P.RISK_MANAGE, P.DEVICES_MANAGE), write=True, extra={404}),
    ("POST", "/iot/sweep"): api(any_of(P.DEVICES_MANAGE, P.DEVICE_EVENTS_WRITE, P.RISK_MANAGE), write=True),
    ("POST", "/iot/scans"): api(P.SCANS_UPLOAD, write=True, limit=Limit.SCAN),
    ("GET", "/iot/scans"): api(P.DECLARATIONS_READ),
    ("POST", "/iot/scans/import"): api(P.SCANS_UPLOAD, write=True, limit=Limit.SCAN),
    ("GET", "/iot/scans/{scan_id}"): api(P.DECLARATIONS_READ),
    ("GET", "/iot/scans/{scan_id}/views/{view}.png"): api(P.DECLARATIONS_READ),
    ("POST", "/iot/scans/{scan_id}/claim"): api(P.SCANS_REVIEW, write=True),
    ("POST", "/iot/scans/{scan_id}/release"): api(P.SCANS_REVIEW, write=True),
    ("POST", "/iot/scans/{scan_id}/finding"): api(P.SCANS_REVIEW, write=True),
    ("GET", "/iot/scans/{scan_id}/package"): api(P.SCANS_REVIEW),
    # --- classification: suggestions read the administration's confirmed goods descriptions (evidence) ----------
    ("POST", "/hs/suggest"): api(P.DECLARATIONS_READ, limit=Limit.DECLARATION),
    ("GET", "/hs/explain/{code}"): api(),
    ("GET", "/hs/models"): api(P.RISK_MANAGE),
    ("POST", "/hs/models"): api(P.RISK_MANAGE, write=True),
    ("POST", "/hs/models/{version}/promote"): api(P.RISK_MANAGE, write=True, extra={404}),
    # misclassification signals feed the lanes: the permission that lanes declarations
    ("POST", "/hs/signals"): api(P.DECISIONS_WRITE, write=True, extra={404}),
    # --- the dashboard (session cookie; each page checks the permission it names here) --------------------------
    ("GET", "/verify"): public(html=True),
    ("GET", "/tariff"): public(html=True),  # the tariff finder: the nomenclature only, never the administration's data
    ("POST", "/verify"): public(limit=Limit.DOCUMENT, html=True),
    ("GET", "/ui/login"): public(html=True),
    # sign-in: a username and a password or token, a few hundred bytes; the ordinary request limit, not a form's
    ("POST", "/ui/login"): public(limit=Limit.REQUEST, html=True),
    # OpenID Connect sign-in (404 unless OPENCUSTOMS_OIDC_ISSUER is set): leave for the provider, come back with a code
    ("GET", "/ui/login/oidc"): public(html=True),
    ("GET", "/ui/login/oidc/callback"): public(html=True),
    ("POST", "/ui/logout"): public(limit=Limit.FORM, html=True),
    ("GET", "/ui"): page(),
    ("GET", "/ui/"): page(),
    ("GET", "/ui/queue"): page(P.DECLARATIONS_READ),
    ("GET", "/ui/declarations/{reference}"): page(P.DECLARATIONS_READ),
    ("POST", "/ui/declarations/{reference}/inspection"): page(P.INSPECTIONS_WRITE, write=True),
    ("GET", "/ui/documents"): page(P.DOCUMENTS_READ),
    ("GET", "/ui/documents/new"): page(P.DOCUMENTS_ISSUE),
    ("POST", "/ui/documents/new"): page(P.DOCUMENTS_ISSUE, write=True),
    ("GET", "/ui/documents/{number}"): page(P.DOCUMENTS_READ),
    ("GET", "/ui/documents/{number}/print"): page(P.DOCUMENTS_READ),
    ("GET", "/ui/documents/{number}/pdf"): page(P.DOCUMENTS_READ),
    ("GET", "/ui/documents/{number}/json"): page(P.DOCUMENTS_READ),
    ("POST", "/ui/documents/{number}/revoke"): page(P.DOCUMENTS_ISSUE, write=True),
    ("GET", "/ui/aeo"): page(P.LEDGER_READ),
    ("GET", "/ui/aeo/{number}"): page(P.LEDGER_READ),
    ("GET", "/ui/transits"): page(P.DECLARATIONS_READ),
    ("GET", "/ui/transits/map.json"): page(P.DECLARATIONS_READ),
    ("GET", "/ui/transits/{movement_id}"): page(P.DECLARATIONS_READ),
    ("GET", "/ui/gates"): page(P.DECLARATIONS_READ),
    ("GET", "/ui/gates/rows"): page(P.DECLARATIONS_READ),
    ("POST", "/ui/gates/{decision_id}"): page(P.INSPECTIONS_WRITE, write=True),
    ("GET", "/ui/vessels"): page(P.DECLARATIONS_READ),
    ("GET", "/ui/vessels/map.json"): page(P.DECLARATIONS_READ),
    ("POST", "/ui/vessels/analyse"): page(P.RISK_MANAGE, write=True),
    ("GET", "/ui/scans"): page(P.DECLARATIONS_READ),
    ("GET", "/ui/scans/{scan_id}"): page(P.DECLARATIONS_READ),
    ("GET", "/ui/scans/{scan_id}/views/{view}.png"): page(P.DECLARATIONS_READ),
    ("POST", "/ui/scans/{scan_id}/finding"): page(P.SCANS_REVIEW, write=True),
    ("POST", "/ui/scans/{scan_id}/claim"): page(P.SCANS_REVIEW, write=True),
    ("GET", "/ui/risk/profiles"): page(P.DECLARATIONS_READ),
    ("POST", "/ui/risk/profiles"): page(P.RISK_MANAGE, write=True),
    ("GET", "/ui/risk/profiles/{profile_id}"): page(P.DECLARATIONS_READ),
    ("POST", "/ui/risk/profiles/{profile_id}/retire"): page(P.RISK_MANAGE, write=True),
    ("GET", "/ui/risk/models"): page(P.RISK_MANAGE),
    ("GET", "/ui/classification"): page(P.DECLARATIONS_READ),  # misclassification signals; HS models for risk:manage
    ("GET", "/ui/risk/valuation"): page(P.RISK_MANAGE),
    ("POST", "/ui/risk/models/{version}/promote"): page(P.RISK_MANAGE, write=True),
    ("GET", "/ui/exchange"): page(P.DECLARATIONS_READ),
    ("GET", "/ui/exchange/mirror"): page(P.RISK_MANAGE),
    ("GET", "/ui/audit"): page(P.AUDIT_READ),
    ("POST", "/ui/audit/verify"): page(P.AUDIT_READ, write=True),  # the check is itself audited
}


def entry(method: str, path: str) -> Access | None:
    """The entry of a route (HEAD answers as GET), or None when the table has none."""
    method = method.upper()
    found = ROUTES.get((method, path))
    if found is None and method == "HEAD":
        found = ROUTES.get(("GET", path))
    return found


def roles_granting(permission: Permission) -> list[str]:
    return sorted(role.value for role, held in ROLE_PERMISSIONS.items() if permission in held)


def roles_satisfying(clause: Clause) -> list[str]:
    return sorted({role for p in clause for role in roles_granting(p)})


def role_may(role: Role, access: Access) -> bool:
    """Whether a holder of ``role`` alone passes the route's permission check (given its credential)."""
    return access.allows(ROLE_PERMISSIONS[role])


def route_table_markdown() -> str:
    """The role × route table as docs/security.md carries it: one row per route, one column per role."""
    roles = list(Role)
    short = {
        Role.OFFICER: "officer",
        Role.RISK_ANALYST: "analyst",
        Role.SUPERVISOR: "supervisor",
        Role.DATA_PROTECTION_OFFICER: "DPO",
        Role.PARTNER: "partner",
        Role.DEVICE: "device",
        Role.ADMINISTRATOR: "admin",
    }
    head = ["method", "path", "needs", "r/w", "body", *(short[r] for r in roles)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (method, path), access in sorted(ROUTES.items(), key=lambda item: (item[0][1], item[0][0])):
        cells = ["any" if access.public else "yes" if role_may(role, access) else "" for role in roles]
        via = {Credential.SESSION: " (page)", Credential.DEVICE: " (device secret or token)"}.get(access.credential, "")
        row = [
            method,
            f"`{path}`",
            access.who + via,
            "write" if access.write else "read",
            access.limit.name.lower(),
            *cells,
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"

"""Roles and what each may do. A role is a named set of permissions; an identity holds one or more roles."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OFFICER = "officer"
    RISK_ANALYST = "risk_analyst"
    SUPERVISOR = "supervisor"
    DATA_PROTECTION_OFFICER = "data_protection_officer"
    PARTNER = "partner"
    DEVICE = "device"
    ADMINISTRATOR = "administrator"


class Permission(StrEnum):
    DECLARATIONS_READ = "declarations:read"
    DECLARATIONS_WRITE = "declarations:write"
    PERSONAL_DATA_READ = "personal_data:read"
    INSPECTIONS_WRITE = "inspections:write"
    RISK_MANAGE = "risk:manage"
    AUDIT_READ = "audit:read"
    USERS_MANAGE = "users:manage"
    REFERENCE_WRITE = "reference:write"
    LEDGER_READ = "ledger:read"
    LEDGER_WRITE = "ledger:write"
    # the signed log's content as partner administrations receive it: entry bodies (AEO holders' names, ids,
    # addresses, officers' reasons) in GET /ledger/entries and certificate histories; without it, the leaf only
    LEDGER_REPLICATE = "ledger:replicate"
    DEVICE_EVENTS_WRITE = "device_events:write"
    DEVICES_MANAGE = "devices:manage"
    DOCUMENTS_ISSUE = "documents:issue"
    DOCUMENTS_READ = "documents:read"
    SCANS_UPLOAD = "scans:upload"  # record X-ray / CT scans and import scan packages of other administrations
    SCANS_REVIEW = "scans:review"  # claim scans of the review queue and record the image analyst's finding
    # lane stored declarations (store a risk decision: online by reference, or the backlog); a what-if scoring
    # that stores nothing needs only declarations:read
    DECISIONS_WRITE = "decisions:write"
    # the exchange between administrations (docs/exchange.md): queue and send our export declarations' data to a
    # partner under its agreement; a partner administration delivering its signed messages to our inbox
    EXCHANGE_SEND = "exchange:send"
    EXCHANGE_DELIVER = "exchange:deliver"


P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    # Frontline officers see declarations in full (they clear goods for named traders).
    Role.OFFICER: frozenset(
        {
            P.DECLARATIONS_READ,
            P.DECLARATIONS_WRITE,
            P.PERSONAL_DATA_READ,
            P.INSPECTIONS_WRITE,
            P.LEDGER_READ,
            P.LEDGER_REPLICATE,
            P.DOCUMENTS_READ,
            P.SCANS_UPLOAD,
            P.SCANS_REVIEW,
        }
    ),
    # Analysts work on pseudonymised parties: patterns, not people. They run the targeting, so they lane.
    Role.RISK_ANALYST: frozenset(
        {P.DECLARATIONS_READ, P.RISK_MANAGE, P.DECISIONS_WRITE, P.LEDGER_READ, P.SCANS_REVIEW}
    ),
    Role.SUPERVISOR: frozenset(
        {
            P.DECLARATIONS_READ,
            P.DECLARATIONS_WRITE,
            P.PERSONAL_DATA_READ,
            P.INSPECTIONS_WRITE,
            P.RISK_MANAGE,
            P.DECISIONS_WRITE,
            P.AUDIT_READ,
            P.LEDGER_READ,
            P.LEDGER_REPLICATE,
            P.LEDGER_WRITE,
            P.DOCUMENTS_ISSUE,
            P.DOCUMENTS_READ,
            P.SCANS_UPLOAD,
            P.SCANS_REVIEW,
            P.EXCHANGE_SEND,
            # as ledger:replicate: held so that the server's operator (administrator + supervisor) may issue a
            # partner's token; a delivery from our own administration is refused by the service (not a partner)
            P.EXCHANGE_DELIVER,
        }
    ),
    Role.DATA_PROTECTION_OFFICER: frozenset({P.DECLARATIONS_READ, P.PERSONAL_DATA_READ, P.AUDIT_READ}),
    # A partner administration under an MRA replicates the log: it receives the AEO holders' data to recognise them.
    # It also delivers its signed export-declaration messages to our inbox (exchange:deliver).
    Role.PARTNER: frozenset({P.LEDGER_READ, P.LEDGER_REPLICATE, P.DOCUMENTS_READ, P.EXCHANGE_DELIVER}),
    Role.DEVICE: frozenset({P.DEVICE_EVENTS_WRITE, P.SCANS_UPLOAD}),  # scanner gateways upload their images
    # IT staff run the installation; they load data but see parties only pseudonymised.
    Role.ADMINISTRATOR: frozenset(
        {
            P.USERS_MANAGE,
            P.REFERENCE_WRITE,
            P.DECLARATIONS_READ,
            P.DECLARATIONS_WRITE,
            P.AUDIT_READ,
            P.DEVICES_MANAGE,
            P.DEVICE_EVENTS_WRITE,  # loading device event files and running the IoT sweeps
        }
    ),
}


def permissions_of(roles: frozenset[Role] | set[Role] | list[Role]) -> frozenset[Permission]:
    out: set[Permission] = set()
    for role in roles:
        out |= ROLE_PERMISSIONS[Role(role)]
    return frozenset(out)

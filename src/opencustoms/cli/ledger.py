"""`opencustoms ledger ...`: the AEO certificate registry on a signed transparency log. Commands only parse input
and call opencustoms.ledger.service."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from opencustoms.cli.progress import RichProgress
from opencustoms.errors import OpenCustomsError
from opencustoms.lazy import lazy_module
from opencustoms.ledger.errors import AdministrationChoiceError

if TYPE_CHECKING:  # imported when a command runs, not when the CLI starts
    from opencustoms.context import Platform
    from opencustoms.ledger import service
    from opencustoms.ledger.keys import KeyStore
    from opencustoms.security.service import Identity
else:
    service = lazy_module("opencustoms.ledger.service")

app = typer.Typer(
    help="AEO certificate registry on a signed transparency log, replicated with partners.", no_args_is_help=True
)
console = Console()
err = Console(stderr=True)


_chosen: dict[str, str | None] = {"administration": None}  # the group's --administration, per invocation


@app.callback()
def _group(
    administration: Annotated[
        str | None,
        typer.Option(
            "--administration",
            help="This node's administration code, when several are registered (its own and its partners'); "
            "default OPENCUSTOMS_ADMINISTRATION, else the only one registered. Give it before the command: "
            "`opencustoms ledger --administration AR key`.",
        ),
    ] = None,
) -> None:
    _chosen["administration"] = administration


def _platform() -> Platform:
    from opencustoms.context import Platform

    try:
        platform = Platform.from_environment()
    except ValidationError as exc:  # a setting with a bad value: name it instead of a traceback
        _fail(exc)
    try:
        code = service.node_administration(
            platform.engine, _chosen["administration"] or platform.settings.administration
        )
    except AdministrationChoiceError as exc:
        err.print(f"[red]error[/red] {exc.message}")
        raise typer.Exit(2) from None
    except OpenCustomsError as exc:  # the database is not initialised, or cannot be opened
        _fail(exc)
    return Platform(platform.settings.model_copy(update={"administration": code}))


def _ctx() -> tuple[Platform, KeyStore, Identity]:
    from opencustoms.ledger.keys import KeyStore
    from opencustoms.security.service import local_operator

    platform = _platform()
    return platform, KeyStore.for_data_dir(platform.settings.data_dir), local_operator(platform.administration_code)


def _officer(platform: Platform, username: str) -> Identity:
    return service.local_officer(platform.administration_code, username)


def _fail(exc: Exception) -> NoReturn:
    if isinstance(exc, ValidationError):
        for e in exc.errors(include_url=False):
            err.print(
                f"[red]error[/red] {'.'.join(str(p) for p in e['loc'])}: {str(e['msg']).removeprefix('Value error, ')}"
            )
    else:
        err.print(f"[red]error[/red] {exc}")
    raise typer.Exit(1)


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, indent=1, default=str))


@app.command()
def init(origin: Annotated[str | None, typer.Option(help="Log name (default opencustoms/<CODE>/aeo).")] = None) -> None:
    """Create this node's log and administration key (under <data_dir>/ledger/keys, 0600)."""
    platform, keys, operator = _ctx()
    try:
        result = service.init_log(platform.engine, operator, keys, platform.administration_code, origin)
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"log {result['origin']} {'created' if result['created'] else 'already exists'}")
    typer.echo(result["verifier_key"])


@app.command()
def key() -> None:
    """Print this node's verifier key, to give to partners."""
    platform, _, _ = _ctx()
    try:
        typer.echo(service.own_log(platform.engine).verifier_key)
    except OpenCustomsError as exc:
        _fail(exc)


@app.command("officer-key")
def officer_key(
    officer: Annotated[str, typer.Argument(help="The officer's username.")],
    rotate: Annotated[bool, typer.Option(help="Revoke the current key.")] = False,
) -> None:
    """Create an officer's signing key and certify it in the log (administration key)."""
    platform, keys, operator = _ctx()
    try:
        result = service.certify_officer(platform.engine, operator, keys, officer, rotate=rotate)
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(
        f"officer {officer}: key {result['key_id']} certified at entry {result['index']}"
        + (f", revoked {', '.join(result['revoked'])}" if result["revoked"] else "")
    )


@app.command("revoke-key")
def revoke_key(
    officer: Annotated[str, typer.Argument(help="The officer's username.")],
    reason: Annotated[str, typer.Option(help="Why the key is revoked (kept in the log).")],
) -> None:
    """Revoke an officer's key: entries signed with it from now on are refused."""
    platform, keys, operator = _ctx()
    try:
        result = service.revoke_officer(platform.engine, operator, keys, officer, reason)
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"revoked {', '.join(result['revoked'])}")


@app.command()
def issue(
    file: Annotated[Path, typer.Argument(help="JSON certificate (see docs/ledger.md).")],
    officer: Annotated[str, typer.Option(help="Officer signing the entry.")],
) -> None:
    """Record a new AEO certificate."""
    from opencustoms.ledger.entries import AEOCertificate

    platform, keys, _ = _ctx()
    try:
        certificate = AEOCertificate.model_validate_json(file.read_text())
        receipt = service.issue(platform.engine, _officer(platform, officer), keys, certificate)
    except (OpenCustomsError, ValidationError) as exc:
        _fail(exc)
    console.print(f"{receipt['certificate_number']}: {receipt['status']} (entry {receipt['index']})")


@app.command()
def amend(
    file: Annotated[Path, typer.Argument(help="JSON certificate with the changes (same number).")],
    officer: Annotated[str, typer.Option(help="Officer signing the entry.")],
    reason: Annotated[str, typer.Option(help="Why it changes (kept in the log).")],
) -> None:
    """Record a changed certificate (holder, address, type, validity, partners)."""
    from opencustoms.ledger.entries import AEOCertificate

    platform, keys, _ = _ctx()
    try:
        certificate = AEOCertificate.model_validate_json(file.read_text())
        receipt = service.amend(platform.engine, _officer(platform, officer), keys, certificate, reason)
    except (OpenCustomsError, ValidationError) as exc:
        _fail(exc)
    console.print(f"{receipt['certificate_number']}: amended (entry {receipt['index']})")


def _change(kind: str, number: str, officer: str, reason: str, effective: str | None) -> None:
    platform, keys, _ = _ctx()
    try:
        receipt = service.change_status(
            platform.engine,
            _officer(platform, officer),
            keys,
            kind,
            number,
            reason,
            dt.date.fromisoformat(effective) if effective else None,
        )
    except (OpenCustomsError, ValueError) as exc:
        _fail(exc)
    console.print(f"{receipt['certificate_number']}: {receipt['status']} (entry {receipt['index']})")


Officer = Annotated[str, typer.Option(help="Officer signing the entry.")]
Reason = Annotated[str, typer.Option(help="Why the status changes.")]
Effective = Annotated[str | None, typer.Option(help="YYYY-MM-DD (default today).")]
Number = Annotated[str, typer.Argument(help="Certificate number.")]


@app.command()
def suspend(number: Number, officer: Officer, reason: Reason, effective: Effective = None) -> None:
    _change("aeo.suspended", number, officer, reason, effective)


@app.command()
def revoke(number: Number, officer: Officer, reason: Reason, effective: Effective = None) -> None:
    _change("aeo.revoked", number, officer, reason, effective)


@app.command()
def reinstate(number: Number, officer: Officer, reason: Reason, effective: Effective = None) -> None:
    _change("aeo.reinstated", number, officer, reason, effective)


@app.command()
def status(
    number: Number,
    as_of: Annotated[str | None, typer.Option(help="The status on this day, YYYY-MM-DD (default today).")] = None,
    origin: Annotated[str | None, typer.Option(help="A partner's log (default: this node's).")] = None,
) -> None:
    """Status of a certificate (in this node's log or a partner's)."""
    platform, _, operator = _ctx()
    try:
        _print(
            service.status(
                platform.engine, operator, number, origin=origin, as_of=dt.date.fromisoformat(as_of) if as_of else None
            )
        )
    except (OpenCustomsError, ValueError) as exc:
        _fail(exc)


@app.command()
def history(
    number: Number, origin: Annotated[str | None, typer.Option(help="A partner's log (default: this node's).")] = None
) -> None:
    """Every entry of a certificate with its inclusion proof and the checkpoint (JSON)."""
    platform, _, operator = _ctx()
    try:
        _print(service.history(platform.engine, operator, number, origin=origin))
    except OpenCustomsError as exc:
        _fail(exc)


@app.command()
def holder(holder_id: Annotated[str, typer.Argument(help="The trader's identifier, e.g. an EORI number.")]) -> None:
    """All certificates of a holder (trader id), in every log this node holds."""
    platform, _, operator = _ctx()
    table = Table("certificate", "log", "status", "type", "holder")
    try:
        found = service.certificates_of(platform.engine, operator, holder_id)
    except OpenCustomsError as exc:
        _fail(exc)
    for c in found:
        table.add_row(c["certificate_number"], c["origin"], c["status"], c["type"], c["holder_name"])
    console.print(table)


@app.command()
def verify(origin: Annotated[str | None, typer.Option(help="A partner's log (default: this node's).")] = None) -> None:
    """Re-check a stored log: every body against its signed leaf, signatures, keys in force, leaves against the
    tree, the tree against the signed checkpoint. Exit 1 naming the first bad entry."""
    platform, _, operator = _ctx()
    try:
        with RichProgress(err, console) as progress:
            result = service.verify_log(
                platform.engine, operator, origin, progress=progress.counter("verifying the log (entries)")
            )
    except OpenCustomsError as exc:
        _fail(exc)
    progress.finish(
        f"{result['origin']}: {result['size']} entries verified against checkpoint "
        f"{result['checkpoint_size']} ({result['root'][:16]}...)"
    )


@app.command("rebuild-tree")
def rebuild_tree(
    origin: Annotated[str | None, typer.Option(help="A partner's log (default: this node's).")] = None,
) -> None:
    """Recompute the tree's node table from the entries (after restoring a backup)."""
    platform, _, operator = _ctx()
    try:
        result = service.rebuild_tree(platform.engine, operator, origin)
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"{result['origin']}: tree of {result['size']} entries rebuilt")


@app.command("partner-add")
def partner_add(
    verifier_key: Annotated[str, typer.Argument(help="The partner's `opencustoms ledger key`.")],
    administration: Annotated[str, typer.Option(help="The partner's administration code.")],
    url: Annotated[str | None, typer.Option(help="The partner's API base URL.")] = None,
    token: Annotated[
        str | None, typer.Option(help="API token the partner issued to us.", envvar="OPENCUSTOMS_LEDGER_PARTNER_TOKEN")
    ] = None,
) -> None:
    """Register a partner's log (its token goes to the key store, never the database)."""
    platform, keys, operator = _ctx()
    try:
        result = service.add_partner(platform.engine, operator, keys, verifier_key, url, administration, token)
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"partner {result['origin']} ({result['administration_code']}) added")


@app.command()
def pull(origin: Annotated[str | None, typer.Argument(help="Partner log (default: all).")] = None) -> None:
    """Fetch and verify partners' new entries; refuse and raise an alarm on a fork or split view."""
    platform, keys, operator = _ctx()
    results = service.pull_all(platform.engine, operator, keys, [origin] if origin else None)
    for r in results:
        if "error" in r:
            err.print(f"[red]{r['origin']}[/red]: {r['error']}")
        else:
            console.print(
                f"{r['origin']}: {r['from']} -> {r['to']} ({r['new_entries']} new)"
                + "".join(f"\n  [red]alarm[/red] {a}" for a in r["alarms"])
            )
    if any("error" in r for r in results):
        raise typer.Exit(1)


@app.command()
def alarms(origin: Annotated[str | None, typer.Option(help="Only this partner's log (default: all).")] = None) -> None:
    """Forks, split views and bad entries seen from partners."""
    platform, _, operator = _ctx()
    table = Table("at", "log", "kind", "reported by", "reason")
    try:
        found = service.alarms(platform.engine, operator, origin)
    except OpenCustomsError as exc:
        _fail(exc)
    for a in found:
        table.add_row(str(a["at"])[:19], a["origin"], a["kind"], a["reported_by"] or "", a["reason"])
    console.print(table)


# --- EVM anchoring --------------------------------------------------------------------------------------------------


@app.command("anchor-deploy")
def anchor_deploy(
    name: Annotated[str, typer.Argument(help="A name stored in the contract.")] = "OpenCustoms checkpoints",
) -> None:
    """Deploy a CheckpointAnchor contract (owner: OPENCUSTOMS_LEDGER_EVM_PRIVATE_KEY_FILE's account), authorised to
    anchor this node's log; prints its address for OPENCUSTOMS_LEDGER_EVM_CONTRACT."""
    platform, _, operator = _ctx()
    try:
        result = service.deploy_anchor_contract(platform.engine, operator, name, platform.settings)
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"CheckpointAnchor deployed, owner {result['owner']}, may anchor {result['origin']}")
    typer.echo(result["address"])


@app.command("anchor-submitter")
def anchor_submitter(
    account: Annotated[str, typer.Argument(help="EVM address (0x...) of the account to authorise.")],
    origin: Annotated[str, typer.Option(help="The log it may anchor (e.g. opencustoms/BR/aeo).")],
    remove: Annotated[bool, typer.Option(help="Withdraw the authorisation instead.")] = False,
) -> None:
    """(The contract's owner) let another administration's account anchor its log on a shared contract."""
    platform, _, operator = _ctx()
    try:
        result = service.set_anchor_submitter(
            platform.engine, operator, origin, account, not remove, settings=platform.settings
        )
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"{account} {'may' if result['allowed'] else 'may no longer'} anchor {origin} ({result['tx_hash']})")


@app.command("anchor")
def anchor_now() -> None:
    """Anchor this node's latest signed checkpoint on the EVM network, if newer than the last one anchored."""
    platform, _, operator = _ctx()
    try:
        result = service.anchor(platform.engine, operator, settings=platform.settings)
    except OpenCustomsError as exc:
        _fail(exc)
    if result["anchored"]:
        console.print(
            f"{result['origin']}: checkpoint {result['size']} anchored in block {result['block_number']} "
            f"(transaction {result['tx_hash']})"
        )
    else:
        console.print(f"{result['origin']}: nothing to anchor ({result['reason']})")


@app.command("anchors")
def anchors_list(limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20) -> None:
    """The anchors this node submitted (from its records; `verify-anchors` reads the chain)."""
    platform, _, operator = _ctx()
    table = Table("anchored at", "log", "size", "block", "transaction", "contract")
    try:
        found = service.anchors(platform.engine, operator, limit)
    except OpenCustomsError as exc:
        _fail(exc)
    for a in found:
        table.add_row(
            str(a["anchored_at"])[:19], a["origin"], str(a["size"]), str(a["block_number"]), a["tx_hash"], a["contract"]
        )
    console.print(table)


@app.command("verify-anchors")
def verify_anchors(
    origin: Annotated[str | None, typer.Option(help="One log (default: every log held).")] = None,
    last: Annotated[int | None, typer.Option(help="Check only the most recent anchors of each log.")] = None,
) -> None:
    """Check every log held here against its anchors on the chain (a rewritten history is caught); exit 1 and
    raise an alarm on a mismatch."""
    platform, _, operator = _ctx()
    try:
        reports = service.verify_anchors(platform.engine, operator, origin, last=last, settings=platform.settings)
    except OpenCustomsError as exc:
        _fail(exc)
    for r in reports:
        line = f"{r['origin']}: {r['checked']} of {r['anchors']} anchors checked, {r['pending']} beyond the copy held"
        if r["ok"]:
            console.print(line + ", consistent")
        else:
            err.print(f"[red]{line}[/red]" + "".join(f"\n  [red]problem[/red] {p}" for p in r["problems"]))
    if not all(r["ok"] for r in reports):
        raise typer.Exit(1)


# --- rebuilding from a partner ---------------------------------------------------------------------------------------


@app.command("restore-from-partner")
def restore_from_partner(
    partner: Annotated[str, typer.Option(help="Administration code (or log origin) of the partner to copy from.")],
    origin: Annotated[str | None, typer.Option(help="This node's log name (default opencustoms/<CODE>/aeo).")] = None,
) -> None:
    """Rebuild this node's own log, lost with its database, from a partner's copy, checked against the
    administration key in <data_dir>/ledger/keys; appending then resumes where the log was."""
    platform, keys, operator = _ctx()
    try:
        with RichProgress(err, console) as progress:
            result = service.restore_from_partner(
                platform.engine, operator, keys, partner, origin=origin, progress=progress
            )
    except OpenCustomsError as exc:
        _fail(exc)
    progress.finish(
        f"{result['origin']}: {result['size']} entries restored from {result['partner']} "
        f"(root {result['root'][:16]}...), {result['content_unavailable']} without content"
        + (f", content of restricted entries from {result['content_from']}" if result["content_from"] else "")
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: OPENCUSTOMS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: OPENCUSTOMS_PORT).")] = None,
    poll: Annotated[float, typer.Option(help="Seconds between pulls of every partner (0: never).")] = 1.0,
    follow: Annotated[
        bool,
        typer.Option(
            help="Also long-poll each partner's checkpoint and pull as soon as its log grows (a change is seen "
            "within one pull of its commit); the periodic pull still runs, for witnessing and partners added later."
        ),
    ] = True,
) -> None:
    """Serve the API (partners pull from it), follow every partner's log, and pull every partner every --poll
    seconds."""
    import uvicorn

    from opencustoms.api import create_app

    platform, keys, operator = _ctx()
    try:
        platform.engine  # noqa: B018 - fail early when the database is not initialised
    except OpenCustomsError as exc:
        _fail(exc)
    stop = threading.Event()

    def poller() -> None:
        while not stop.wait(poll):
            try:
                service.pull_all(platform.engine, operator, keys)
            except Exception as exc:  # noqa: BLE001 - the poller must outlive a failed round; the next one retries
                err.print(f"[red]pull failed[/red]: {exc.__class__.__name__}: {exc}")

    if poll > 0:
        threading.Thread(target=poller, name="ledger-poller", daemon=True).start()

    def report(origin: str, exc: OpenCustomsError) -> None:
        err.print(f"[red]following {origin} failed[/red]: {exc.message}")

    if follow:
        for log in service.logs(platform.engine, operator):
            if log["role"] == "partner":
                threading.Thread(
                    target=service.follow,
                    args=(platform.engine, operator, keys, log["origin"], stop),
                    kwargs={"on_error": report},
                    name=f"ledger-follow-{log['origin']}",
                    daemon=True,
                ).start()
    settings = platform.settings
    if service.anchoring_configured(settings) and (
        settings.ledger_anchor_every_entries or settings.ledger_anchor_every_minutes
    ):

        def anchorer() -> None:
            while not stop.wait(max(poll, 1.0)):
                try:
                    done = service.anchor_if_due(platform.engine, operator, settings)
                    if done and done.get("anchored"):
                        console.print(f"anchored checkpoint {done['size']} in block {done['block_number']}")
                except Exception as exc:  # noqa: BLE001 - the next round retries; the node keeps serving
                    err.print(f"[red]anchoring failed[/red]: {exc.__class__.__name__}: {exc}")

        threading.Thread(target=anchorer, name="ledger-anchorer", daemon=True).start()
    try:
        uvicorn.run(
            create_app(platform),
            host=host or platform.settings.host,
            port=port or platform.settings.port,
            log_level="warning",
            # partners' long polls stay open up to 20 s: do not wait for them to end on shutdown
            timeout_graceful_shutdown=3,
        )
    finally:
        stop.set()
        time.sleep(0)

"""`opencustoms exchange ...`: signed export-declaration data between administrations, matched to our imports
(docs/exchange.md). Commands only parse input and call opencustoms.exchange.service; partners and this
administration's key are the ledger's."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from opencustoms.errors import OpenCustomsError
from opencustoms.lazy import lazy_module

if TYPE_CHECKING:  # imported when a command runs, not when the CLI starts
    from opencustoms.context import Platform
    from opencustoms.exchange import service
    from opencustoms.ledger import service as ledger
    from opencustoms.ledger.keys import KeyStore
    from opencustoms.security.service import Identity
else:
    service = lazy_module("opencustoms.exchange.service")
    ledger = lazy_module("opencustoms.ledger.service")

app = typer.Typer(
    help="Exchange with partner administrations: signed export data, matching to imports, mirror discrepancies.",
    no_args_is_help=True,
)
agreements_app = typer.Typer(help="What each partner may receive (data minimisation).", no_args_is_help=True)
app.add_typer(agreements_app, name="agreements")
err = Console(stderr=True)


def _fail(exc: Exception) -> NoReturn:
    err.print(f"[red]error[/red] {exc}")
    raise typer.Exit(1)


def _print(value: Any) -> None:
    typer.echo(json.dumps(value, indent=1, default=str))


def _ctx() -> tuple[Platform, KeyStore, Identity, dict[str, Any]]:
    from opencustoms.context import Platform
    from opencustoms.ledger.keys import KeyStore
    from opencustoms.security.service import local_operator

    try:
        platform = Platform.from_environment()
        keys = KeyStore.for_data_dir(platform.settings.data_dir)
        code = ledger.node_administration(platform.engine, platform.settings.administration)
        partners = service.directory(ledger.partner_directory(platform.engine, keys))
    except OpenCustomsError as exc:
        _fail(exc)
    return platform, keys, local_operator(code), partners


@app.command()
def partners() -> None:
    """List the registered partner administrations (`opencustoms ledger partner-add`) and their agreements."""
    platform, _, operator, known = _ctx()
    try:
        _print(service.partner_list(platform.engine, operator, known))
    except OpenCustomsError as exc:
        _fail(exc)


@agreements_app.command("list")
def agreements_list() -> None:
    """Show every agreement and the field groups an agreement may name."""
    platform, _, operator, _ = _ctx()
    try:
        _print({"agreements": service.agreements(platform.engine, operator), "field_groups": service.field_groups()})
    except OpenCustomsError as exc:
        _fail(exc)


@agreements_app.command("set")
def agreements_set(
    partner: Annotated[str, typer.Argument(help="The partner's administration code, as registered in the ledger.")],
    country: Annotated[str, typer.Option(help="Destination country whose exports go to this partner (ISO code).")],
    field: Annotated[
        list[str] | None,
        typer.Option(help="A field group the partner may receive (repeat it); default: all but parties' names."),
    ] = None,
    inactive: Annotated[
        bool, typer.Option(help="Suspend the agreement: nothing more is queued for the partner.")
    ] = False,
) -> None:
    """Create or replace the agreement with a partner."""
    platform, _, operator, known = _ctx()
    try:
        _print(service.set_agreement(platform.engine, operator, known, partner, country, field or None, not inactive))
    except OpenCustomsError as exc:
        _fail(exc)


@app.command()
def send(
    partner: Annotated[str, typer.Argument(help="The partner's administration code.")],
    reference: Annotated[
        list[str] | None, typer.Option(help="An export declaration to send (repeat it); default: all since --since.")
    ] = None,
    since: Annotated[
        dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Send exports accepted on or after this date.")
    ] = None,
    wait: Annotated[
        float, typer.Option(min=0, help="Keep retrying due messages for up to this many seconds (0: one round).")
    ] = 0.0,
) -> None:
    """Queue (sign and store) our export declarations for a partner, then deliver the outbox with retries."""
    platform, keys, operator, known = _ctx()
    try:
        queued = service.queue(
            platform.engine,
            operator,
            ledger.signing_key(keys),
            known,
            partner,
            references=reference or None,
            since=since.date() if since else None,
        )
        rounds = service.deliver(platform.engine, operator, known)
        stop = time.monotonic() + wait
        while rounds["pending"] and time.monotonic() < stop:
            due = rounds["next_attempt_at"]
            pause = max(0.0, (due - dt.datetime.now(dt.UTC)).total_seconds()) if due else 1.0
            time.sleep(min(pause, max(0.0, stop - time.monotonic())) or 0.05)
            rounds = service.deliver(platform.engine, operator, known)
    except OpenCustomsError as exc:
        _fail(exc)
    _print({"queued": queued, "delivery": rounds})


@app.command()
def inbox(
    sender: Annotated[str | None, typer.Option(help="Only messages from this partner.")] = None,
    unmatched: Annotated[bool, typer.Option(help="Only records not matched to an import yet.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many records.")] = 20,
) -> None:
    """Show received export records (newest first) with their match."""
    platform, _, operator, _ = _ctx()
    try:
        _print(
            service.inbox(
                platform.engine,
                operator,
                platform.pseudonymiser,
                sender=sender,
                match_status="unmatched" if unmatched else None,
                limit=limit,
            )
        )
    except OpenCustomsError as exc:
        _fail(exc)


@app.command()
def match(sender: Annotated[str | None, typer.Option(help="Only records from this partner.")] = None) -> None:
    """Match received export records to our imports; mirror discrepancies become signals for the risk engine."""
    platform, _, operator, _ = _ctx()
    try:
        _print(service.run_matching(platform.engine, operator, sender=sender))
    except OpenCustomsError as exc:
        _fail(exc)


@app.command()
def mirror(
    partner: Annotated[str, typer.Argument(help="The partner administration's code.")],
    comtrade: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="A UN Comtrade CSV with the partner country's exports to ours (for a partner that does not "
            "exchange declarations); default: the records the partner sent.",
        ),
    ] = None,
    annual: Annotated[bool, typer.Option(help="Compare by year instead of by month.")] = False,
    top: Annotated[int, typer.Option(min=1, max=1000, help="The largest gaps shown.")] = 20,
) -> None:
    """Our imports against the partner's exports by HS6 and month, the gaps ranked by the value at stake."""
    platform, _, operator, _ = _ctx()
    try:
        _print(service.mirror_statistics(platform.engine, operator, partner, comtrade=comtrade, annual=annual, top=top))
    except OpenCustomsError as exc:
        _fail(exc)

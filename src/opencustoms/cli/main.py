"""The `opencustoms` command (Typer + Rich). Commands hold no logic: each calls a service function."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from opencustoms.cli.progress import RichProgress
from opencustoms.errors import OpenCustomsError
from opencustoms.lazy import lazy_module
from opencustoms.security.roles import Role
from opencustoms.store.registry import PILLARS, pillar_module

# Services are imported when a command runs, not when the CLI starts (`--help` must not load polars, SQLAlchemy...).
if TYPE_CHECKING:
    from opencustoms.context import Platform
    from opencustoms.declarations import service as declarations
    from opencustoms.reference import codes
    from opencustoms.reference import service as reference
    from opencustoms.security import service as security
else:
    declarations = lazy_module("opencustoms.declarations.service")
    codes = lazy_module("opencustoms.reference.codes")
    reference = lazy_module("opencustoms.reference.service")
    security = lazy_module("opencustoms.security.service")

app = typer.Typer(
    help="OpenCustoms: declarations, risk, ledger, documents and IoT on one data model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
reference_app = typer.Typer(help="Reference data: HS nomenclature, code checks.", no_args_is_help=True)
users_app = typer.Typer(help="Officers, roles and API tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log: show it, verify its hash chain, sign its head.")
app.add_typer(reference_app, name="reference")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
for _pillar in PILLARS:
    _commands = pillar_module(f"opencustoms.cli.{_pillar}")
    if _commands is not None:
        app.add_typer(_commands.app, name=getattr(_commands, "NAME", _pillar))
console = Console()
err = Console(stderr=True)


def _platform() -> Platform:
    from opencustoms.context import Platform

    return Platform.from_environment()


def _operator(platform: Platform) -> security.Identity:
    return platform.operator()


def main() -> None:
    """The `opencustoms` command: a platform error a command did not handle itself (e.g. a database not
    initialised, met before the command's own error handling) is printed as one line, exit code 1, not a traceback."""
    try:
        app()
    except OpenCustomsError as exc:
        err.print(f"[red]error[/red] {exc}")
        raise SystemExit(1) from None


@app.callback()
def _root() -> None:
    """Errors are printed as one line saying what to do; the exit code is 1 (2 for usage errors)."""


def _fail(exc: Exception) -> None:
    if isinstance(exc, ValidationError):
        for e in exc.errors(include_url=False):
            loc = ".".join(str(p) for p in e["loc"])
            err.print(f"[red]error[/red] {loc}: {str(e['msg']).removeprefix('Value error, ')}")
    else:
        err.print(f"[red]error[/red] {exc}")
    raise typer.Exit(1)


def show_problems(problems: Sequence[Sequence[Any]], first: int = 15) -> None:
    """The first problems of a file (row, reference, the file's column, value, reason) as a table on stderr. Cells
    come from the file: shown as text, never as Rich markup or terminal escape codes."""
    if not problems:
        return
    from rich.text import Text

    from opencustoms.declarations.importer import terminal_text

    table = Table("row", "reference", "column", "value", "reason", title="first problems")
    for row, reference, column, value, reason in problems[:first]:
        cells = (row, reference, column, (value or "")[:30], reason)
        table.add_row(*(Text(terminal_text(c)) for c in cells))
    err.print(table)


@app.command()
def init(
    administration: Annotated[str | None, typer.Option(help="Administration code (default: settings).")] = None,
    name: Annotated[
        str | None, typer.Option(help="Administration name (default: 'Customs administration' when registering it).")
    ] = None,
    country: Annotated[str | None, typer.Option(help="ISO country code (default: the administration code).")] = None,
    identity_domain: Annotated[
        str | None,
        typer.Option(
            help="Domain whose DNS-TXT record publishes this administration's document store (named in every document "
            "issued here; issuing is refused until one is set).",
        ),
    ] = None,
    issuer_name: Annotated[
        str | None, typer.Option(help="Issuer name written in documents issued here (default: --name).")
    ] = None,
) -> None:
    """Create or upgrade the database (Alembic migrations), register the administration and, with
    --identity-domain, the issuer identity of its documents."""
    platform = _platform()
    issuer = None
    try:
        code = administration or platform.settings.administration
        if not code:
            raise OpenCustomsError(
                "say which administration this installation is: --administration CODE "
                "(e.g. NL), or set OPENCUSTOMS_ADMINISTRATION"
            )
        engine = platform.initialise()
        security.ensure_administration(engine, code, name or "Customs administration", country or code)
        platform.pseudonymiser  # noqa: B018 - creates the installation's pseudonym key on first run
        if identity_domain or issuer_name:
            from opencustoms.documents import service as documents

            current = documents.issuer_identity(engine)  # what init recorded before, else the administration's name
            identity_domain = identity_domain or (current.domain if current.source == "init" else None)
            if not identity_domain:
                raise OpenCustomsError("--issuer-name needs --identity-domain DOMAIN (the documents' DNS-TXT domain)")
            issuer = documents.record_issuer(
                engine, security.local_operator(code), issuer_name or name or current.name, identity_domain
            )
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"database ready at {engine.url.render_as_string()} (administration {code})")
    if issuer is not None:
        console.print(
            f"documents are issued as {issuer.name!r}, identity {issuer.domain}: publish its openatts DNS-TXT record "
            "(docs/documents.md)"
        )


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV, JSON Lines or Parquet file (.csv, .jsonl, .parquet...).")],
    layout: Annotated[
        str | None,
        typer.Option(
            help="native, flat, kcs or a plugin's layout (default: flat for CSV/Parquet, native for JSON Lines; a "
            "Korea Customs file is recognised by its header)."
        ),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(help="csv, jsonl or parquet (default: from the extension; e.g. --format csv for a .txt file)."),
    ] = None,
    map_: Annotated[
        Path | None,
        typer.Option(
            "--map",
            help="Column mapping (TOML) for a file with its own column names, date format, decimal comma or codes; "
            "see docs/import-export.md.",
        ),
    ] = None,
    suggest_map: Annotated[
        bool,
        typer.Option(
            "--suggest-map",
            help="Import nothing: propose a mapping from the header and the first rows, printed as TOML to edit "
            "(or written to --output).",
        ),
    ] = False,
    output: Annotated[
        Path | None, typer.Option(help="With --suggest-map: write the proposed mapping to this file.")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the problems to this CSV file.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="Declarations stored per transaction.")] = 1000,
    workers: Annotated[int, typer.Option(min=0, max=64, help="Row-path validating processes (0: CPU count).")] = 0,
    fast: Annotated[bool, typer.Option(help="Columnar fast path for flat CSV/Parquet (--no-fast: row path).")] = True,
) -> None:
    """Import declarations. Bad rows are reported (row, column, value, reason); good rows are stored."""
    if suggest_map:
        try:
            text = declarations.suggest_mapping(file, fmt=format)
        except OpenCustomsError as exc:
            _fail(exc)
        if output:
            output.write_text(text, encoding="utf-8")
            err.print(f"mapping proposed in {output}: check it, then run `opencustoms import {file} --map {output}`")
        else:
            typer.echo(text, nl=False)
        return
    platform = _platform()
    try:
        with RichProgress(err, console) as progress:
            progress.phase(f"importing {file.name} (declarations)")
            result = declarations.import_file(
                platform.engine,
                _operator(platform),
                file,
                fmt=format,
                layout=layout,
                mapping=map_,
                batch_size=batch_size,
                workers=workers or os.cpu_count() or 1,
                fast=fast,
                progress=progress.advance,
            )
    except OpenCustomsError as exc:
        _fail(exc)
    for notice in result.notices:
        err.print(f"note: {notice}", markup=False, highlight=False, soft_wrap=True)
    progress.finish(f"import {result.import_id}: {result.headline()}")
    show_problems([(p.row, p.reference, p.field, p.value, p.reason) for p in result.problems])
    if report:
        result.write_csv(report)
        console.print(f"problem report written to {report}")


@app.command()
def export(
    file: Annotated[
        Path | None, typer.Argument(help="Destination: .csv / .parquet (flat layout) or .jsonl (native).")
    ] = None,
    lake: Annotated[
        Path | None,
        typer.Option(
            help="Append what changed since the last export to the data lake in this folder (Parquet partitioned "
            "by acceptance date, parties as pseudonyms; docs/scale.md) instead of writing FILE."
        ),
    ] = None,
    format: Annotated[str | None, typer.Option(help="csv, jsonl or parquet (default: from the extension).")] = None,
    date_from: Annotated[str | None, typer.Option(help="First acceptance day, YYYY-MM-DD.")] = None,
    date_to: Annotated[str | None, typer.Option(help="Last acceptance day, YYYY-MM-DD.")] = None,
    hs_prefix: Annotated[str | None, typer.Option(help="Only goods items whose HS code starts so, e.g. 8471.")] = None,
    pseudonymise: Annotated[bool, typer.Option(help="Replace parties by pseudonyms.")] = False,
) -> None:
    """Export declarations to a file, or append them to the data lake (--lake DIR)."""
    if (file is None) == (lake is None):
        raise typer.BadParameter("give a FILE or --lake DIR (one of them)")
    platform = _platform()
    actor = _operator(platform)
    if lake is not None:
        if format or date_from or date_to or hs_prefix or pseudonymise:
            raise typer.BadParameter("--lake exports everything that changed, always pseudonymised: no other option")
        from opencustoms.installation import service as installation

        try:
            with RichProgress(err, console) as progress:
                run = installation.export_lake(platform, actor, lake, progress)
        except OpenCustomsError as exc:
            _fail(exc)
        rows = ", ".join(f"{table} {n:,}" for table, n in run["rows"].items())
        progress.finish(f"lake {lake}: run {run['run']} appended {rows}")
        return
    assert file is not None
    if pseudonymise:
        actor = security.Identity.of("cli", actor.administration_code, [Role.ADMINISTRATOR])
    from opencustoms.declarations.repository import SearchFilters

    try:
        filters = SearchFilters(
            date_from=dt.date.fromisoformat(date_from) if date_from else None,
            date_to=dt.date.fromisoformat(date_to) if date_to else None,
            hs_prefix=hs_prefix,
        )
        with RichProgress(err, console) as progress:
            progress.phase(f"exporting to {file.name} (declarations)")
            n = declarations.export(
                platform.engine,
                actor,
                file,
                platform.pseudonymiser,
                fmt=format,
                filters=filters,
                progress=progress.advance,
            )
    except (OpenCustomsError, ValueError) as exc:
        _fail(exc)
    progress.finish(f"{n} declarations written to {file}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default: OPENCUSTOMS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: OPENCUSTOMS_PORT).")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Server processes (uvicorn workers), each with its own connections and caches; about one per core.",
        ),
    ] = 1,
) -> None:
    """Serve the API (and the landing page) until Ctrl-C."""
    import uvicorn

    from opencustoms.api import create_app

    platform = _platform()
    try:
        platform.engine  # noqa: B018 - fail early with a clear message when the database is not initialised
    except OpenCustomsError as exc:
        _fail(exc)
    host, port = host or platform.settings.host, port or platform.settings.port
    if workers == 1:
        uvicorn.run(create_app(platform), host=host, port=port)
        return
    _serve_workers(host, port, workers)


def _serve_workers(host: str, port: int, workers: int) -> None:
    """uvicorn's multi-process server, each worker building its own app from the same environment (settings come
    from OPENCUSTOMS_*), with two corrections of ``uvicorn.run(..., workers=N)``: the shared listening socket is
    made with its protocol (TCP) so that asyncio sets TCP_NODELAY on every connection (uvicorn's ``socket(family)``
    has protocol 0, asyncio then leaves Nagle's algorithm on and small answers wait ~40 ms for delayed ACKs), and
    the worker health check waits 60 s instead of 5 (a worker starts by importing this CLI: seconds on a loaded
    machine; uvicorn >= 0.33 has the setting)."""
    import inspect
    import socket

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    options: dict[str, Any] = {}
    if "timeout_worker_healthcheck" in inspect.signature(uvicorn.Config).parameters:
        options["timeout_worker_healthcheck"] = 60
    config = uvicorn.Config(
        "opencustoms.api.app:create_app", factory=True, host=host, port=port, workers=workers, **options
    )
    bound = config.bind_socket()
    sock = socket.socket(fileno=bound.detach())  # family, type and protocol read from the descriptor
    sock.set_inheritable(True)
    if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn < 0.30's supervisor
        Multiprocess(config, target=uvicorn.Server(config).run, sockets=[sock]).run()  # type: ignore[call-arg]
    else:
        Multiprocess(config, sockets=[sock]).run()


@app.command()
def schema(
    name: Annotated[str, typer.Argument(help="Which schema: declaration.")] = "declaration",
) -> None:
    """Print the JSON Schema of a model."""
    if name != "declaration":
        _fail(OpenCustomsError(f"unknown schema {name!r}; available: declaration"))
    typer.echo(declarations.schema_json())


@app.command()
def demo(
    check: Annotated[bool, typer.Option(help="Run the pipeline headless, verify it through the API, exit.")] = False,
    declarations_count: Annotated[
        int, typer.Option("--declarations", min=10, max=2_000_000, help="How many synthetic declarations.")
    ] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed of the generator (same seed, same declarations).")] = 7,
    host: Annotated[str, typer.Option(help="Address the demo API listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the demo API listens on.")] = 8000,
) -> None:
    """Generate synthetic declarations, load them into a fresh SQLite database and serve the API."""
    from opencustoms.demo import run

    try:
        run.main(check=check, count=declarations_count, seed=seed, host=host, port=port, console=console)
    except OpenCustomsError as exc:
        _fail(exc)


# --- reference ---------------------------------------------------------------------------------------------------


@reference_app.command("load-hs")
def load_hs(
    file: Annotated[Path, typer.Argument(help="CSV in the datasets/harmonized-system layout.")],
    edition: Annotated[str | None, typer.Option(help="HS edition, e.g. 2022 (default: from the file name).")] = None,
) -> None:
    """Load an HS edition (replacing a previous load of the same edition)."""
    platform = _platform()
    try:
        result = reference.load_hs(platform.engine, _operator(platform), file, edition)
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(
        f"HS {result['edition']}: {result['chapters']} chapters, {result['headings']} headings, "
        f"{result['subheadings']} subheadings loaded"
    )


@reference_app.command("hs")
def hs(
    code: Annotated[str, typer.Argument(help="HS code, 2 to 6 digits (dots and spaces allowed).")],
    edition: Annotated[str | None, typer.Option(help="HS edition, e.g. 2022 (default: the newest loaded).")] = None,
) -> None:
    """Describe an HS code: lineage and subdivisions."""
    platform = _platform()
    try:
        result = reference.describe_hs(platform.engine, code, edition)
    except OpenCustomsError as exc:
        _fail(exc)
    for entry in result["lineage"]:
        console.print(f"{'  ' * (entry['level'] // 2 - 1)}{entry['code']}  {entry['description']}")
    for child in result["children"]:
        console.print(f"      {child['code']}  {child['description']}")


@reference_app.command("check")
def check(
    kind: Annotated[str, typer.Argument(help="container, country, currency, hs, locode, imo or mmsi")],
    value: Annotated[str, typer.Argument(help="The code to check, e.g. MSCU1234566.")],
) -> None:
    """Check one code and say what is wrong with it."""
    checkers = {
        "container": codes.check_container_number,
        "country": codes.check_country,
        "currency": codes.check_currency,
        "hs": codes.check_hs_format,
        "locode": codes.check_unlocode,
        "imo": codes.check_imo_number,
        "mmsi": codes.check_mmsi,
    }
    if kind not in checkers:
        _fail(OpenCustomsError(f"unknown kind {kind!r}; choose one of {', '.join(checkers)}"))
    try:
        console.print(f"valid: {checkers[kind](value)}")
    except OpenCustomsError as exc:
        _fail(exc)


# --- users ---------------------------------------------------------------------------------------------------------


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[list[Role], typer.Option("--role", help="Repeat for several roles.")],
    full_name: Annotated[str | None, typer.Option(help="The officer's name, as shown to colleagues.")] = None,
    administration: Annotated[
        str | None, typer.Option(help="Administration code (default: this installation's).")
    ] = None,
) -> None:
    """Create a user with one or more roles."""
    platform = _platform()
    try:
        user = security.create_user(platform.engine, _operator(platform), username, administration, role, full_name)
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"user {user['username']} created with roles {', '.join(user['roles'])}")


@users_app.command("list")
def users_list() -> None:
    platform = _platform()
    table = Table("username", "administration", "roles", "active", "full name")
    for u in security.list_users(platform.engine, _operator(platform)):
        table.add_row(
            u["username"], u["administration_code"], ", ".join(u["roles"]), str(u["active"]), u["full_name"] or ""
        )
    console.print(table)


@users_app.command("token")
def users_token(
    username: Annotated[str, typer.Argument(help="Whose token.")],
    label: Annotated[str | None, typer.Option(help="What the token is for, e.g. the client's name.")] = None,
    valid_days: Annotated[
        int | None,
        typer.Option(help="Days the token is valid; default and maximum: OPENCUSTOMS_TOKEN_MAX_DAYS (365)."),
    ] = None,
) -> None:
    """Issue an API token (printed once; only its hash is stored). Tokens always expire."""
    platform = _platform()
    try:
        token = security.issue_token(
            platform.engine,
            _operator(platform),
            username,
            label,
            valid_days,
            max_days=platform.settings.token_max_days,
        )
    except OpenCustomsError as exc:
        _fail(exc)
    typer.echo(token)


@users_app.command("password")
def users_password(
    username: Annotated[str, typer.Argument(help="The staff member's username.")],
    stdin: Annotated[
        bool, typer.Option("--stdin", help="Read the password from the first line of standard input (scripts).")
    ] = False,
) -> None:
    """Set a staff member's dashboard password (asked twice, not shown); unlocks the account and ends its sessions."""
    import sys

    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    platform = _platform()
    try:
        security.set_password(platform.engine, _operator(platform), username, password, platform.settings)
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"password set for {username}; their dashboard sessions were ended")


@users_app.command("disable")
def users_disable(username: Annotated[str, typer.Argument(help="The user to disable.")]) -> None:
    """Disable a user and revoke their tokens."""
    platform = _platform()
    try:
        security.set_user_active(platform.engine, _operator(platform), username, False)
        n = security.revoke_tokens(platform.engine, _operator(platform), username)
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"user {username} disabled, {n} token(s) revoked")


@users_app.command("enable")
def users_enable(username: Annotated[str, typer.Argument(help="The user to enable again.")]) -> None:
    platform = _platform()
    try:
        security.set_user_active(platform.engine, _operator(platform), username, True)
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"user {username} enabled")


@audit_app.callback(invoke_without_command=True)
def audit(
    ctx: typer.Context,
    object_type: Annotated[
        str | None, typer.Option(help="Only entries about this kind of object, e.g. declaration.")
    ] = None,
    object_id: Annotated[str | None, typer.Option(help="Only entries about this object (with --object-type).")] = None,
    actor: Annotated[str | None, typer.Option(help="Only what this user did.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many entries, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show the audit log: who read or changed what (`audit verify` checks its hash chain)."""
    if ctx.invoked_subcommand is not None:
        return
    platform = _platform()
    rows = security.read_audit(
        platform.engine, _operator(platform), object_type=object_type, object_id=object_id, who=actor, limit=limit
    )
    if as_json:
        typer.echo(json.dumps(rows, default=str, indent=1))
        return
    table = Table("at", "actor", "action", "object", "purpose")
    for r in rows:
        table.add_row(
            str(r["at"])[:19], r["actor"], r["action"], f"{r['object_type']} {r['object_id'] or ''}", r["purpose"] or ""
        )
    console.print(table)


@audit_app.command("verify")
def audit_verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check the audit log's hash chain and signed heads; name the first edited, removed, inserted or moved entry.
    Exit code 1 when the log was tampered with."""
    platform = _platform()
    try:
        with RichProgress(err, console) as progress:
            result = security.verify_audit(
                platform.engine,
                _operator(platform),
                key_file=security.audit_signing_key_file(platform.settings),
                progress=progress.counter("verifying the audit log (entries)"),
                sign_interval_minutes=platform.settings.audit_sign_interval_minutes,
            )
    except OpenCustomsError as exc:
        _fail(exc)
    if result["warning"] and not as_json:
        err.print(f"[yellow]warning[/yellow]: {result['warning']}")
    if as_json:
        typer.echo(json.dumps(result))
    elif result["ok"]:
        console.print(
            f"audit log intact: {result['entries']} entries up to #{result['last_id']}, "
            f"{result['signed_heads']} signed head(s), head {result['last_hash'][:16]}…"
        )
    else:
        err.print(f"[red]audit log tampered with[/red]: {result['problem']} (entry #{result['first_bad_id']})")
    if not result["ok"]:
        raise typer.Exit(1)


@audit_app.command("sign")
def audit_sign(
    key_file: Annotated[
        Path | None,
        typer.Option(help="Ed25519 key file; default: OPENCUSTOMS_AUDIT_SIGNING_KEY_FILE or the ledger's key."),
    ] = None,
) -> None:
    """Sign the audit chain's head with the administration's Ed25519 key (run it periodically, e.g. hourly)."""
    platform = _platform()
    try:
        signed = security.sign_audit_head(
            platform.engine, _operator(platform), key_file or security.audit_signing_key_file(platform.settings)
        )
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"signed the audit log's head: {signed['entries']} entries up to #{signed['last_id']}")


from opencustoms.cli import move as _move  # noqa: E402 - its commands use this module's helpers

app.command("import-inspections")(_move.import_inspections)
app.command("migrate")(_move.migrate)

"""`opencustoms documents ...`: issue, verify, revoke, obfuscate, show, print, check-origin, evm-deploy, evm-sync.
Commands hold no logic: each parses its input and calls opencustoms.documents.service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from opencustoms.cli.options import Language
from opencustoms.documents.errors import DocumentFormatError, UploadTooLargeError
from opencustoms.errors import OpenCustomsError
from opencustoms.lazy import lazy_module

if TYPE_CHECKING:  # imported when a command runs (fpdf, polars...), not when the CLI starts
    from opencustoms.context import Platform
    from opencustoms.declarations import service as declarations
    from opencustoms.documents import service
    from opencustoms.security.service import Identity
else:
    declarations = lazy_module("opencustoms.declarations.service")
    service = lazy_module("opencustoms.documents.service")

app = typer.Typer(
    help="Verifiable trade documents (OpenAttestation): certificates of origin, AEO certificates, "
    "licences, quality certificates.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)
_COLOURS = {"VALID": "green", "INVALID": "red", "ERROR": "yellow", "SKIPPED": "dim"}


def _platform() -> tuple[Platform, Identity]:
    from opencustoms.context import Platform
    from opencustoms.security.service import local_operator

    platform = Platform.from_environment()
    return platform, local_operator(platform.administration_code)


INPUT_REFUSED = 2  # exit code when the file given cannot be read as a document (malformed, too deep, too large)


def _fail(exc: Exception) -> None:
    """One line on stderr (the message escaped: document text is not Rich markup), then exit 1, or 2 when the
    input file itself was refused."""
    err.print(f"[red]error[/red] {escape(str(exc))}")
    refused = isinstance(exc, DocumentFormatError | UploadTooLargeError | FileNotFoundError)
    raise typer.Exit(INPUT_REFUSED if refused else 1)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        _fail(FileNotFoundError(f"no file at {path}; check the path"))
    return path.read_bytes()


@app.command()
def issue(
    template: Annotated[str, typer.Argument(help="certificate_of_origin, aeo_certificate, licence or quality")],
    data: Annotated[Path, typer.Argument(help="JSON file: one document's data, or a list of them (one batch).")],
    out: Annotated[Path, typer.Option(help="Folder for the wrapped documents (<number>.json).")] = Path("."),
) -> None:
    """Validate, wrap (one Merkle root per file) and issue documents; writes each wrapped document to OUT."""
    platform, actor = _platform()
    try:
        from opencustoms.documents.config import get_document_settings

        settings = get_document_settings()
        records = service.parse_json(_read_json(data), settings, str(data), settings.max_issue_bytes)
        result = service.issue(platform.engine, actor, template, records if isinstance(records, list) else [records])
    except OpenCustomsError as exc:
        _fail(exc)
        return
    out.mkdir(parents=True, exist_ok=True)
    for document in result.documents:
        number = str(service.oa.unsalt(document["data"].get("id", ""))) or document["signature"]["targetHash"]
        (out / f"{number.replace('/', '_')}.json").write_text(json.dumps(document, indent=2, ensure_ascii=False))
    console.print(
        f"issued {len(result.documents)} {result.template} document(s) under merkle root "
        f"{result.merkle_root}; written to {out}"
    )


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(help="A wrapped document (.json).")],
    qr: Annotated[bool, typer.Option(help="FILE holds the QR code's content (a link or payload).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
) -> None:
    """Verify integrity, status and issuer identity. Exit code 0 when valid, 1 when not, 2 when FILE cannot be read
    as a document (malformed JSON, nested too deep, too large)."""
    platform, _ = _platform()
    try:
        raw = _read_json(file)
        report = service.verify_qr(platform.engine, raw) if qr else service.verify(platform.engine, raw)
    except OpenCustomsError as exc:
        _fail(exc)
        return
    if as_json:
        console.print_json(json.dumps(report.to_dict(), default=str))
    else:
        title = f"{escape(file.name)}: {'VALID' if report.valid else 'NOT VALID'}"
        table = Table("check", "verdict", "reason", title=title)
        for f in report.fragments:  # reasons quote the document: escaped, never read as markup
            table.add_row(f.name, f"[{_COLOURS[f.verdict.value]}]{f.verdict.value}[/]", escape(f.reason))
        console.print(table)
        if report.hidden_field_count:
            hidden = ", ".join(report.hidden_fields) if report.hidden_fields else "names not known here"
            console.print(f"{report.hidden_field_count} field(s) hidden: {escape(hidden)}")
    raise typer.Exit(0 if report.valid else 1)


@app.command()
def revoke(
    target: Annotated[str, typer.Argument(help="targetHash, merkle root, or a document number.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the registry and the audit log).")],
) -> None:
    """Revoke a document or a whole batch."""
    platform, actor = _platform()
    try:
        done = service.revoke(platform.engine, actor, target, reason)
    except OpenCustomsError as exc:
        _fail(exc)
        return
    for r in done:
        console.print(f"revoked {r.hash}")


@app.command()
def obfuscate(
    file: Annotated[Path, typer.Argument(help="A wrapped v2 document (.json).")],
    field: Annotated[list[str], typer.Option("--field", "-f", help="Field path to hide, e.g. importer.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the result.")],
) -> None:
    """Hide fields (selective disclosure); the result still verifies."""
    try:
        document = service.obfuscate(_read_json(file), field)
    except OpenCustomsError as exc:
        _fail(exc)
        return
    out.write_text(json.dumps(document, indent=2, ensure_ascii=False))
    console.print(f"{len(document['privacy']['obfuscatedData'])} field(s) hidden; written to {out}")


@app.command()
def show(
    key: Annotated[str, typer.Argument(help="Document number or targetHash.")],
    html: Annotated[Path | None, typer.Option(help="Also write the certificate page to print (HTML) here.")] = None,
    pdf: Annotated[Path | None, typer.Option(help="Also write the certificate as PDF (with QR code) here.")] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Also write the wrapped document's .json file here.")
    ] = None,
    lang: Language = "en",
) -> None:
    """Print a document issued here (wrapped JSON), and optionally write its certificate page (HTML), PDF or .json
    file. Their QR code opens OPENCUSTOMS_PUBLIC_URL/verify."""
    platform, actor = _platform()
    try:
        document = service.show(platform.engine, actor, key)
        public_url = service.public_base_url(platform.settings)
        if html:
            html.write_text(service.render_html(document, public_url, lang), encoding="utf-8")
        if pdf:
            pdf.write_bytes(service.render_pdf(document, public_url, lang))
        if json_file:
            json_file.write_bytes(service.export_json(document))
    except OpenCustomsError as exc:
        _fail(exc)
        return
    console.print_json(json.dumps(document, ensure_ascii=False))


@app.command("check-origin")
def check_origin(reference: Annotated[str, typer.Argument(help="Declaration reference (LRN).")]) -> None:
    """Verify the certificates of origin a stored declaration claims preference with; emits signals."""
    platform, actor = _platform()
    try:
        declaration, _ = declarations.get(
            platform.engine, actor, reference, platform.pseudonymiser, purpose="origin certificate check"
        )
        checks = service.check_declaration_origin(platform.engine, actor, declaration)
    except OpenCustomsError as exc:
        _fail(exc)
        return
    table = Table("goods item", "document", "verdict", "reasons")
    for c in checks:
        table.add_row(str(c.goods_item), escape(c.document_id), c.verdict, escape("; ".join(c.reasons)))
    console.print(table if checks else "no preference claims with a proving document")


@app.command("evm-deploy")
def evm_deploy(
    name: Annotated[str, typer.Argument(help="The store's name, e.g. 'Dutch Customs certificates of origin'.")],
) -> None:
    """Deploy this administration's DocumentStore contract on OPENCUSTOMS_DOCUMENTS_EVM_RPC_URL's network."""
    platform, actor = _platform()
    try:
        address = service.deploy_evm_store(platform.engine, actor, name)
    except OpenCustomsError as exc:
        _fail(exc)
        return
    console.print(
        f"deployed DocumentStore at {address}. Publish 'openatts net=ethereum netId=<chain id> addr={address}' "
        "in your domain's DNS-TXT, and set OPENCUSTOMS_DOCUMENTS_STORE_ADDRESS and OPENCUSTOMS_DOCUMENTS_EVM_STORES "
        "to this address"
    )


@app.command("evm-sync")
def evm_sync(hash_: Annotated[str, typer.Argument(metavar="HASH", help="A merkle root or revoked hash.")]) -> None:
    """Record on the EVM store what the local registry holds for HASH (after the node was unreachable)."""
    platform, actor = _platform()
    try:
        done = service.sync_evm(platform.engine, actor, hash_)
    except OpenCustomsError as exc:
        _fail(exc)
        return
    console.print_json(json.dumps(done))

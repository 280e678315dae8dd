"""`opencustoms hs ...`: suggest, explain, train, models, promote. Commands hold no logic: each parses its input and
calls opencustoms.classification.service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from opencustoms.errors import OpenCustomsError
from opencustoms.lazy import lazy_module

if TYPE_CHECKING:  # imported when a command runs (scikit-learn, numpy, SQLAlchemy), not when the CLI starts
    from opencustoms.classification import service
    from opencustoms.context import Platform
    from opencustoms.security.service import Identity
else:
    service = lazy_module("opencustoms.classification.service")

NAME = "hs"  # the command group's name: `opencustoms hs ...`
app = typer.Typer(
    help="Tariff classification: HS suggestions from goods descriptions, a code's path, the HS model.",
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)


def _platform() -> tuple[Platform, Identity]:
    from opencustoms.context import Platform
    from opencustoms.security.service import local_operator

    platform = Platform.from_environment()
    return platform, local_operator(platform.administration_code)


def _fail(exc: Exception) -> None:
    err.print(f"[red]error[/red] {escape(str(exc))}")
    raise typer.Exit(1)


def _print_json(value: Any) -> None:
    console.print_json(json.dumps(value, default=str, ensure_ascii=False))


@app.command("suggest")
def suggest(
    descriptions: Annotated[list[str], typer.Argument(help="Goods description(s), each in quotes.")],
    top: Annotated[int, typer.Option("--top", "-k", help="How many HS6 suggestions per description (1-20).")] = 5,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="auto: the promoted HS model with the nomenclature as fallback, else the nomenclature; "
            "lexical: the nomenclature texts only; model: require a promoted model.",
        ),
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the full answer (paths, evidence) as JSON.")] = False,
) -> None:
    """Suggest HS6 subheadings for goods descriptions, with their path and the words that matched."""
    try:
        engine = _platform()[0].engine if method != "lexical" else None
        answer = service.suggest(engine, descriptions, top, method=method)
    except OpenCustomsError as exc:
        _fail(exc)
    if as_json:
        _print_json(answer)
        return
    version = answer["model_version"]
    console.print(f"method: {answer['method']}" + (f" (model {version})" if version else ""))
    for text, items in zip(descriptions, answer["suggestions"], strict=True):
        table = Table("HS6", "confidence", "source", "path", "matched words", title=escape(text), title_justify="left")
        for item in items:
            path = " › ".join(f"{s['code']}" for s in item["path"])
            table.add_row(
                item["code"],
                f"{item['confidence']:.2f}",
                item["source"],
                f"{path}\n{escape(item['text'])}",
                escape(", ".join(item["evidence"]["matched_terms"])),
            )
        console.print(table)


@app.command("explain")
def explain(
    code: Annotated[str, typer.Argument(help="HS code: chapter (2 digits), heading (4) or subheading (6).")],
    edition: Annotated[str, typer.Option("--edition", help="HS edition: 2022 or 2017.")] = "2022",
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    """Print a code's path (section › chapter › heading › subheading) with the texts, and the codes under it."""
    try:
        answer = service.explain(code, edition)
    except OpenCustomsError as exc:
        _fail(exc)
    if as_json:
        _print_json(answer)
        return
    for depth, step in enumerate(answer["path"]):
        console.print(f"{'  ' * depth}{step['level']} {step['code']}: {escape(step['text'])}")
    for child in answer["children"]:
        console.print(f"{'  ' * len(answer['path'])}· {child['code']}: {escape(child['text'])}")
    console.print(f"[dim]HS {answer['edition']}. {answer['attribution']}[/dim]")


@app.command("train")
def train(
    promote: Annotated[bool, typer.Option("--promote", help="Put the new version in service at once.")] = False,
    holdout: Annotated[
        float, typer.Option("--holdout", help="Newest share of the confirmed goods items held out to evaluate (0-1).")
    ] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the training.")] = 0,
) -> None:
    """Train an HS model on the stored goods descriptions whose code a compliant inspection confirmed."""
    platform, operator = _platform()
    try:
        row = service.train(platform, operator, promote=promote, holdout=holdout, seed=seed)
    except OpenCustomsError as exc:
        _fail(exc)
    metrics = row["metrics"] or {}
    console.print(
        f"HS model {row['version']} trained on {row['training_rows']} confirmed goods items ({row['classes']} codes); "
        f"{row['status']}"
    )
    if metrics.get("held_out_rows"):
        table = Table("held out: " + str(metrics["split"]), "chapter", "heading", "HS6 top-1", "HS6 top-5")
        for name in ("lexical", "model", "combined"):
            acc = metrics[name]
            table.add_row(name, *(f"{acc[k]:.3f}" for k in ("chapter_top1", "heading_top1", "hs6_top1", "hs6_top5")))
        console.print(table)


@app.command("evaluate")
def evaluate(
    file: Annotated[
        Path, typer.Argument(help="Labelled descriptions: CSV or JSON Lines with description and hs6 (or hs_code).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Chapter, heading, HS6 top-1 and top-5 on labelled descriptions: the nomenclature texts, and the promoted
    model alone and combined."""
    platform, operator = _platform()
    try:
        result = service.evaluate(platform.engine, service.read_labelled(file), operator)
    except OpenCustomsError as exc:
        _fail(exc)
    if as_json:
        _print_json(result)
        return
    version = result.get("model_version")
    table = Table(f"{result['rows']} descriptions", "chapter", "heading", "HS6 top-1", "HS6 top-5")
    for name in ("lexical", "model", "combined"):
        if name in result:
            acc = result[name]
            label = name if name == "lexical" else f"{name} ({version})"
            table.add_row(label, *(f"{acc[k]:.3f}" for k in ("chapter_top1", "heading_top1", "hs6_top1", "hs6_top5")))
    console.print(table)


@app.command("models")
def models() -> None:
    """List the HS model versions, newest first."""
    platform, _ = _platform()
    table = Table("status", "created", "rows", "codes", "held-out HS6 top-1")
    table.columns.insert(0, Column("version", no_wrap=True))
    for m in service.models(platform.engine):
        combined = ((m["metrics"] or {}).get("combined") or {}).get("hs6_top1")
        table.add_row(
            m["version"],
            m["status"],
            str(m["created_at"])[:19],
            str(m["training_rows"]),
            str(m["classes"]),
            "-" if combined is None else f"{combined:.3f}",
        )
    console.print(table)


@app.command("promote")
def promote(version: Annotated[str, typer.Argument(help="HS model version, from `hs models`.")]) -> None:
    """Put an HS model version in service (the one in service before is retired)."""
    platform, operator = _platform()
    try:
        service.promote_model(platform.engine, operator, version)
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"HS model {version} is now in service")


@app.command("check")
def check(
    reference: Annotated[
        list[str] | None, typer.Argument(help="Declaration references to check (omit: every stored declaration).")
    ] = None,
    threshold: Annotated[
        float,
        typer.Option("--threshold", help="Confidence the description must give the other code (0.5 to 1)."),
    ] = 0.6,
) -> None:
    """Emit the misclassification signals: descriptions pointing to another HS6 whose usual duty differs."""
    from opencustoms.classification import mismatch

    platform, operator = _platform()
    try:
        summary = mismatch.check(platform.engine, operator, reference or None, threshold=threshold)
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(
        f"{summary['signals']} misclassification signal(s) on {summary['declarations']} declaration(s), "
        f"{summary['new']} new; {summary['revenue_at_stake']:,.2f} at stake"
    )

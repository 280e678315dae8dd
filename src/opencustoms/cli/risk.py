"""`opencustoms risk ...`: evaluation, training, lanes, profiles, inspections, simulation, models.

Commands only parse input and call :mod:`opencustoms.risk.service`; they print tables with Rich.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from opencustoms.cli.options import Language, language
from opencustoms.cli.progress import RichProgress
from opencustoms.errors import OpenCustomsError
from opencustoms.lazy import lazy_module

if TYPE_CHECKING:  # imported when a command runs (LightGBM, polars...), not when the CLI starts
    from opencustoms.context import Platform
    from opencustoms.risk import service
    from opencustoms.security import service as security
else:
    service = lazy_module("opencustoms.risk.service")
    security = lazy_module("opencustoms.security.service")

HOLDOUT = 0.2  # the default of risk.service.train_model's holdout (a test checks they agree)

app = typer.Typer(help="Risk engine: evaluation, model, lanes, profiles, inspection feedback.", no_args_is_help=True)
profiles_app = typer.Typer(help="Risk profiles (versioned criteria with a reason).", no_args_is_help=True)
models_app = typer.Typer(help="Model versions: list, promote, compile, roll back, drift.", no_args_is_help=True)
app.add_typer(profiles_app, name="profiles")
app.add_typer(models_app, name="models")
console = Console()
err = Console(stderr=True)


def _fail(exc: Exception) -> None:
    field = getattr(exc, "field", None)
    err.print(f"[red]error[/red] {f'{field}: ' if field else ''}{exc}")
    raise typer.Exit(1)


def _platform() -> Platform:
    from opencustoms.context import Platform

    return Platform.from_environment()


def _operator(platform: Platform) -> security.Identity:
    return security.local_operator(platform.administration_code)


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:.{digits}f}"


def print_evaluation(result: Any, split: str) -> None:
    rows = result.table(split)
    if not rows:
        return
    shares = [a.share for a in rows[0].card.at]
    with_revenue = any(a.revenue is not None for r in rows for a in r.card.at)
    table = Table(
        title=f"{split}: {rows[0].card.declarations} declarations, {rows[0].card.frauds} frauds "
        f"(base rate {rows[0].card.base_rate:.3f})"
    )
    table.add_column("selector")
    for q in shares:
        table.add_column(f"P@{q:.0%}", justify="right")
    for q in shares:
        table.add_column(f"R@{q:.0%}", justify="right")
    if with_revenue:
        for q in shares:
            table.add_column(f"Rev@{q:.0%}", justify="right")
    table.add_column(f"lift@{shares[-1]:.0%}", justify="right")
    table.add_column(f"rel@{shares[-1]:.0%}", justify="right")
    table.add_column("AUC", justify="right")
    for r in rows:
        cells = [_fmt(a.precision) for a in r.card.at] + [_fmt(a.recall) for a in r.card.at]
        if with_revenue:
            cells += [_fmt(a.revenue) for a in r.card.at]
        last = r.card.at[-1]
        table.add_row(r.selector, *cells, _fmt(last.lift, 2), _fmt(last.relative_precision), _fmt(r.card.auc))
    console.print(table)


@app.command()
def evaluate(
    train: Annotated[Path | None, typer.Option(help="Training split (fit).")] = None,
    valid: Annotated[Path | None, typer.Option(help="Validation split (every choice, calibration).")] = None,
    test: Annotated[Path | None, typer.Option(help="Test split (reported once).")] = None,
    layout: Annotated[
        str, typer.Option(help="kcs, frame (Parquet/CSV in the risk frame's columns) or native.")
    ] = "kcs",
    demo: Annotated[
        int,
        typer.Option(
            help="Instead of files: this many demo declarations, split 60/20/20 by "
            "date; adds recall per injected fraud pattern."
        ),
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the model and random draws (same seed, same result).")] = 0,
    output: Annotated[Path | None, typer.Option(help="Write the full result as JSON.")] = None,
    save_model: Annotated[Path | None, typer.Option(help="Also save the fitted model to this file.")] = None,
) -> None:
    """Our model against random, rules-only and library-default LightGBM / XGBoost / random forest, one run."""
    try:
        if demo:
            from opencustoms.demo.frames import evaluate_demo

            result = evaluate_demo(demo, seed=seed, progress=lambda m: err.print(f"[dim]{m}[/dim]"))
        else:
            if train is None or valid is None:
                raise typer.BadParameter("give --train and --valid (and --test), or --demo N")
            result = service.evaluate_files(
                train, valid, test, layout=layout, seed=seed, progress=lambda m: err.print(f"[dim]{m}[/dim]")
            )
    except OpenCustomsError as exc:
        _fail(exc)
    for split in ("valid", "test"):
        print_evaluation(result, split)
    if result.patterns:
        table = Table("pattern", "frauds", "found", "recall", title="recall per injected fraud pattern at 10%")
        for p in result.patterns:
            table.add_row(p["pattern"], str(p["frauds"]), str(p["found"]), _fmt(p["recall"]))
        console.print(table)
    for note in result.notes:
        console.print(f"note: {note}")
    if output:
        output.write_text(json.dumps(result.to_dict(), indent=2, default=str))
        console.print(f"result written to {output}")
    if save_model and result.model is not None:
        digest = result.model.save(save_model)
        console.print(f"model written to {save_model} (sha256 {digest[:16]}…)")


@app.command()
def train(
    train_file: Annotated[Path | None, typer.Option("--train", help="Labelled declarations to learn from.")] = None,
    valid_file: Annotated[Path | None, typer.Option("--valid", help="Labelled split for calibration.")] = None,
    layout: Annotated[
        str, typer.Option(help="kcs, frame (Parquet/CSV in the risk frame's columns) or native.")
    ] = "kcs",
    from_store: Annotated[bool, typer.Option(help="Learn from the stored inspected declarations instead.")] = False,
    promote: Annotated[bool, typer.Option(help="Make it the model in service.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the model and random draws (same seed, same result).")] = 0,
    holdout: Annotated[
        float,
        typer.Option(
            help="With --from-store: newest share of the inspected declarations held out for calibration and the "
            "evaluation report (0: learn from all, no evaluation)."
        ),
    ] = HOLDOUT,
) -> None:
    """Train a model version and register it (file, training-data hash, parameters, metrics, report)."""
    if train_file is None and not from_store:
        raise typer.BadParameter("give --train FILE, or --from-store")
    platform = _platform()
    try:
        with RichProgress(err, console) as progress:
            info = service.train_model(
                platform,
                _operator(platform),
                train_file if not from_store else None,
                valid_file,
                layout=layout,
                seed=seed,
                promote=promote,
                holdout=holdout,
                progress=progress,
            )
    except OpenCustomsError as exc:
        _fail(exc)
    progress.finish(
        f"model {info['version']} trained on {info['training_rows']} declarations "
        f"(data sha256 {info['data_hash'][:16]}…){' and promoted' if info['status'] == 'promoted' else ''}"
    )
    if info.get("metrics"):
        console.print(json.dumps(info["metrics"], indent=1))


@app.command()
def score(
    file: Annotated[Path | None, typer.Argument(help="Declarations to score (omit with --backlog).")] = None,
    layout: Annotated[
        str, typer.Option(help="kcs, frame (Parquet/CSV in the risk frame's columns), native or flat.")
    ] = "kcs",
    backlog: Annotated[
        bool,
        typer.Option(help="Lane the stored declarations that await a decision: no decision yet and not inspected."),
    ] = False,
    rescore: Annotated[
        bool,
        typer.Option(
            "--rescore",
            help="With --backlog: also lane again the declarations whose latest decision is red, yellow or blue and "
            "that were not inspected yet (e.g. after promoting a new model).",
        ),
    ] = False,
    all_: Annotated[
        bool,
        typer.Option(
            "--all",
            help="With --backlog: every declaration without a decision, the already inspected ones included "
            "(history, for back-testing).",
        ),
    ] = False,
    output: Annotated[
        Path | None, typer.Option(help="Write decisions (lane, score, band, reasons) as Parquet/CSV/JSONL.")
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            help="Write the rows that could not be scored to this CSV (row, reference, column, value, reason)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random draw.")] = 0,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            callback=language,
            help="With --output: also write each decision's reasons as sentences in this language (en or fr), "
            "columns explanation and top_reason.",
        ),
    ] = None,
) -> None:
    """Lanes with reasons for a file (written to --output) or for the stored backlog (stored as decisions).

    A row of FILE that cannot be scored (no reference, date or value, a number that is not one) is reported and the
    others are scored; missing or unknown codes (origin empty or ZZ, HS code not in the nomenclature, no office) are
    laned with that gap as a reason."""
    if rescore and all_:
        raise typer.BadParameter("choose --rescore or --all, not both")
    if (rescore or all_) and not backlog:
        raise typer.BadParameter("--rescore and --all go with --backlog")
    if not backlog and file is None:
        raise typer.BadParameter("give a FILE or --backlog")
    if lang is not None and (backlog or output is None):
        raise typer.BadParameter("--lang goes with FILE and --output (stored decisions are said in any language)")
    platform = _platform()
    try:
        with RichProgress(err, console) as progress:
            if backlog:
                scope = "rescore" if rescore else "all" if all_ else "awaiting"
                summary = service.score_backlog(
                    platform, _operator(platform), seed=seed, scope=scope, progress=progress
                )
            else:
                assert file is not None
                summary = service.score_file(
                    platform,
                    _operator(platform),
                    file,
                    layout=layout,
                    output=output,
                    seed=seed,
                    report=report,
                    progress=progress,
                    lang=lang,
                )
    except OpenCustomsError as exc:
        _fail(exc)
    table = Table("lane", "declarations", "share", title=f"{summary['declarations']} declarations laned")
    for lane, n in summary["lanes"].items():
        table.add_row(lane, str(n), f"{n / max(1, summary['declarations']):.1%}")
    console.print(table)
    if summary.get("missing_data"):
        console.print(f"{summary['missing_data']} declaration(s) laned with missing or unknown codes as a reason")
    if summary.get("rejected"):
        from opencustoms.cli.main import show_problems

        err.print(f"{summary['rejected']} row(s) could not be scored")
        show_problems([(p["row"], p["reference"], p["column"], p["value"], p["reason"]) for p in summary["problems"]])
    if report:
        console.print(f"problem report written to {report}")
    if output:
        console.print(f"decisions written to {output}")
    lanes = ", ".join(f"{n} {lane}" for lane, n in summary["lanes"].items())
    where = f"; decisions written to {output}" if output else ("; decisions stored" if backlog else "")
    progress.finish(f"{summary['declarations']} declarations scored ({lanes}){where}")


def _date_option(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD", param_hint=name) from None


@app.command()
def queue(
    lane: Annotated[str | None, typer.Option(help="green, yellow, red or blue (default: every lane).")] = None,
    status: Annotated[
        str | None,
        typer.Option(
            help="awaiting (laned, not inspected, not released), inspected, released (green, not inspected); "
            "'any' for all. Default: awaiting."
        ),
    ] = "awaiting",
    date_from: Annotated[str | None, typer.Option("--from", help="Accepted on or after (YYYY-MM-DD).")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Accepted on or before (YYYY-MM-DD).")] = None,
    office: Annotated[str | None, typer.Option(help="Declaration office.")] = None,
    officer: Annotated[str | None, typer.Option(help="Assigned to this officer (see `risk assign`).")] = None,
    hs_chapter: Annotated[str | None, typer.Option(help="HS chapter, two digits (any goods item).")] = None,
    origin: Annotated[str | None, typer.Option(help="Country of origin, two letters (any goods item).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many declarations.")] = 50,
    lang: Language = "en",
) -> None:
    """The officers' queue: latest decisions, most likely fraud first (probability as a percentage and a band)."""
    platform = _platform()
    filters = service.QueueFilters(
        lane=lane,
        status=None if status in (None, "any") else status,
        date_from=_date_option(date_from, "--from"),
        date_to=_date_option(date_to, "--to"),
        office=office,
        officer=officer,
        hs_chapter=hs_chapter,
        origin=origin,
    )
    try:
        rows = service.queue(
            platform.engine,
            _operator(platform),
            limit=limit,
            filters=filters,
            pseudonymiser=platform.pseudonymiser,
            lang=lang,
        )
    except OpenCustomsError as exc:
        _fail(exc)
    from opencustoms.risk import scores

    table = Table(
        "#",
        "declaration",
        "lane",
        "score",
        "band",
        "status",
        "officer",
        "HS",
        "origin",
        "importer",
        "value",
        "top reason",
        title=f"queue: {len(rows)} declaration(s)",
    )
    for i, r in enumerate(rows, start=1):
        importer = r.get("importer") or {}
        table.add_row(
            str(i),
            r["reference"],
            r["lane"],
            scores.percent_text(r["score"]),
            r["band"] or "-",
            r["status"],
            r.get("officer") or "-",
            r.get("hs_code") or "-",
            r.get("origin") or "-",
            importer.get("name") or importer.get("id") or "-",
            f"{r.get('value') or 0:,.2f} {r.get('currency') or ''}".strip(),
            (r.get("top_reason") or "")[:80],
        )
    console.print(table)


@app.command()
def assign(
    reference: Annotated[str, typer.Argument(help="The declaration's functional reference.")],
    officer: Annotated[str | None, typer.Argument(help="The officer's user name (omit with --clear).")] = None,
    clear: Annotated[bool, typer.Option(help="Take the assignment back.")] = False,
) -> None:
    """Assign a queued declaration to an officer (decisions:write; audited)."""
    if (officer is None) != clear:
        raise typer.BadParameter("give an OFFICER, or --clear")
    platform = _platform()
    try:
        result = service.assign(platform.engine, _operator(platform), reference, None if clear else officer)
    except OpenCustomsError as exc:
        _fail(exc)
    if result["officer"]:
        console.print(f"{reference} assigned to {result['officer']}")
    else:
        console.print(
            f"{reference} is no longer assigned" + (f" (was {result['previous']})" if result["previous"] else "")
        )


@app.command()
def explain(
    reference: Annotated[str, typer.Argument(help="The declaration's functional reference.")],
    lang: Language = "en",
) -> None:
    """Why a declaration got its lane, in sentences with their evidence: profile hits, the model's probability
    and what raised it, alerts, missing data, random draw."""
    platform = _platform()
    try:
        decision = service.explain(
            platform.engine, _operator(platform), reference, pseudonymiser=platform.pseudonymiser, lang=lang
        )
    except OpenCustomsError as exc:
        _fail(exc)
    _print_decision(decision)


@app.command()
def decide(
    reference: Annotated[str, typer.Argument(help="The stored declaration's functional reference.")],
    lang: Language = "en",
) -> None:
    """Lane one stored declaration now (as online) and store the decision, with its reasons."""
    platform = _platform()
    try:
        decision = service.decide(platform, _operator(platform), reference, lang=lang)
    except OpenCustomsError as exc:
        _fail(exc)
    _print_decision(decision)


def _print_decision(decision: dict[str, Any]) -> None:
    from opencustoms.risk import scores

    console.print(
        f"{decision['reference']}: [bold]{decision['lane']}[/bold] (probability of fraud "
        f"{scores.percent_text(decision['score'])}, {decision.get('band') or '-'}, "
        f"model {decision['model_version'] or '-'}, random draw {_fmt(decision['random_draw'], 4)})"
    )
    for reason in decision["reasons"]:
        console.print(f"  - {escape(reason['text'])}")
        for c in reason.get("contributions") or []:
            bar = "█" * max(1, round(10 * float(c.get("share") or 0)))
            console.print(f"      {bar:<10} {escape(c.get('text') or c['feature'])} — {c.get('strength_text') or ''}")


@app.command()
def inspect(
    reference: Annotated[str, typer.Argument(help="The declaration's functional reference.")],
    outcome: Annotated[str, typer.Option(help="fraud or compliant.")],
    revenue: Annotated[float | None, typer.Option(help="Duty and tax recovered.")] = None,
    note: Annotated[str | None, typer.Option(help="What was found.")] = None,
) -> None:
    """Record what an inspection found (feeds retraining)."""
    platform = _platform()
    try:
        service.record_inspection(platform.engine, _operator(platform), reference, outcome, revenue, note=note)
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"inspection result recorded for {reference}: {outcome}")


@app.command()
def simulate(
    data: Annotated[Path | None, typer.Option(help="A labelled file to replay.")] = None,
    layout: Annotated[
        str, typer.Option(help="kcs, frame (Parquet/CSV in the risk frame's columns) or native.")
    ] = "kcs",
    demo: Annotated[int, typer.Option(help="Replay this many demo declarations instead.")] = 0,
    start_rate: Annotated[float, typer.Option(help="Inspection rate of the first week.")] = 1.0,
    target_rate: Annotated[float, typer.Option(help="Inspection rate reached at the end of the ramp.")] = 0.05,
    ramp_weeks: Annotated[int, typer.Option(help="Weeks to go from start to target rate.")] = 8,
    exploration: Annotated[float, typer.Option(help="Share of inspections chosen by exploration.")] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the model and random draws (same seed, same result).")] = 0,
    output: Annotated[Path | None, typer.Option(help="Write the weekly figures as JSON.")] = None,
) -> None:
    """Replay week by week: inspect, reveal labels only for what was inspected, retrain, compare with perfect."""
    try:
        options: dict[str, Any] = {
            "start_rate": start_rate,
            "target_rate": target_rate,
            "ramp_weeks": ramp_weeks,
            "exploration": exploration,
            "seed": seed,
            "progress": lambda m: err.print(f"[dim]{m}[/dim]"),
        }
        if demo:
            from opencustoms.demo.frames import simulate_demo

            result = simulate_demo(demo, **options)
        else:
            result = service.simulate(data, layout=layout, **options)
    except OpenCustomsError as exc:
        _fail(exc)
    table = Table(
        "week",
        "declarations",
        "rate",
        "inspected",
        "precision",
        "perfect",
        "revenue",
        "revenue perfect",
        title="weekly replay",
    )
    for w in result["weeks"]:
        table.add_row(
            w["week"],
            str(w["declarations"]),
            f"{w['rate']:.1%}",
            str(w["inspected"]),
            _fmt(w["precision"]),
            _fmt(w["perfect_precision"]),
            _fmt(w.get("revenue_share")),
            _fmt(w.get("perfect_revenue_share")),
        )
    console.print(table)
    console.print(
        f"after the ramp: precision {_fmt(result['summary']['precision'])} against a perfect "
        f"{_fmt(result['summary']['perfect_precision'])}"
    )
    if output:
        output.write_text(json.dumps(result, indent=2, default=str))


@app.command()
def valuation(
    file: Annotated[Path | None, typer.Argument(help="Declarations to check (omit with --stored).")] = None,
    history: Annotated[Path | None, typer.Option(help="Declarations the reference bands are built from.")] = None,
    stored: Annotated[
        bool, typer.Option(help="Check the stored import declarations instead, bands from the stored history.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(help="With --stored: check declarations accepted from this day (default: newest 30 days)."),
    ] = None,
    layout: Annotated[
        str, typer.Option(help="kcs, frame (Parquet/CSV in the risk frame's columns) or native.")
    ] = "kcs",
    window_days: Annotated[int, typer.Option(help="Only history this many days before each check.")] = 365,
    min_sample: Annotated[int, typer.Option(help="With --stored: fewest items a band is built from.")] = 10,
    limit: Annotated[int, typer.Option(min=1, help="How many flags to show.")] = 20,
) -> None:
    """Flag under- and over-valuation against reference price bands (evidence shown; values never replaced)."""
    if stored:
        _valuation_stored(since, window_days, min_sample, limit)
        return
    if file is None or history is None:
        raise typer.BadParameter("give FILE and --history, or --stored")
    try:
        flags = service.valuation_flags(file, history, layout=layout, window_days=window_days)
    except OpenCustomsError as exc:
        _fail(exc)
    table = Table("declaration", "flag", "unit value", "band", "level", "n", "period", title=f"{flags.height} flags")
    for r in flags.head(limit).iter_rows(named=True):
        table.add_row(
            r["reference"],
            r["flag"],
            _fmt(r["unit_value"], 2),
            f"{_fmt(r['band_low'], 2)} – {_fmt(r['band_high'], 2)}",
            r["level"],
            str(r["sample_size"]),
            f"{r['period_from']} – {r['period_to']}",
        )
    console.print(table)


def _valuation_stored(since: str | None, window_days: int, min_sample: int, limit: int) -> None:
    platform = _platform()
    try:
        day = dt.date.fromisoformat(since) if since else None
    except ValueError:
        _fail(ValueError(f"--since {since!r} is not a date; write it as YYYY-MM-DD"))
    try:
        result = service.valuation_flags_stored(
            platform.engine, _operator(platform), since=day, limit=limit, window_days=window_days, min_sample=min_sample
        )
    except OpenCustomsError as exc:
        _fail(exc)
    counts = result["counts"]
    table = Table(
        "declaration",
        "item",
        "flag",
        "unit value",
        "band",
        "reference",
        "level",
        "n",
        "period",
        title=f"goods items accepted {result['since']} – {result['until']}: {result['checked']} checked, "
        f"{counts['under']} under, {counts['over']} over, {counts['no reference']} without a reference "
        f"(bands from {result['history_from']} on)",
    )
    for r in result["flags"]:
        table.add_row(
            r["reference"],
            str(r["item"]),
            r["flag"],
            f"{_fmt(r['unit_value'], 2)} {r['currency']}",
            f"{_fmt(r['band_low'], 2)} – {_fmt(r['band_high'], 2)}",
            _fmt(r["reference_unit_value"], 2),
            r["level"],
            str(r["sample_size"]),
            f"{r['period_from']} – {r['period_to']}",
        )
    console.print(table)
    console.print("declared values are unchanged: a reference price flags a declaration, it does not replace its value")


# --- profiles ------------------------------------------------------------------------------------------------


@profiles_app.command("add")
def profiles_add(
    file: Annotated[Path, typer.Argument(help="JSON file: {id, lane, reason, criteria, weight, valid_from, ...}.")],
) -> None:
    """Add a profile, or a new version of an existing one."""
    platform = _platform()
    try:
        profile = service.save_profile(platform.engine, _operator(platform), json.loads(file.read_text()))
    except (OpenCustomsError, json.JSONDecodeError) as exc:
        _fail(exc)
    console.print(f"profile {profile['id']} version {profile['version']} saved")


@profiles_app.command("list")
def profiles_list(
    on: Annotated[str | None, typer.Option(help="Only profiles valid on this date (YYYY-MM-DD).")] = None,
) -> None:
    platform = _platform()
    try:
        rows = service.list_profiles(platform.engine, _operator(platform), on=dt.date.fromisoformat(on) if on else None)
    except (OpenCustomsError, ValueError) as exc:
        _fail(exc)
    table = Table("id", "version", "lane", "weight", "valid", "reason")
    for p in rows:
        table.add_row(
            p["id"],
            str(p["version"]),
            p["lane"],
            _fmt(p["weight"], 2),
            f"{p['valid_from']} – {p['valid_to'] or '…'}",
            p["reason"][:70],
        )
    console.print(table)


@profiles_app.command("retire")
def profiles_retire(
    profile_id: Annotated[str, typer.Argument(help="The profile's id.")],
    on: Annotated[str | None, typer.Option(help="Last valid day (default today).")] = None,
) -> None:
    platform = _platform()
    try:
        service.retire_profile(
            platform.engine, _operator(platform), profile_id, dt.date.fromisoformat(on) if on else None
        )
    except (OpenCustomsError, ValueError) as exc:
        _fail(exc)
    console.print(f"profile {profile_id} retired")


# --- models --------------------------------------------------------------------------------------------------


@models_app.command("list")
def models_list() -> None:
    platform = _platform()
    try:
        rows = service.list_models(platform.engine, _operator(platform))
    except OpenCustomsError as exc:
        _fail(exc)
    table = Table("version", "status", "created", "rows", "data sha256", "valid P@5%")
    for m in rows:
        metric = (m["metrics"] or {}).get("valid", {}).get("precision@0.05")
        table.add_row(
            m["version"],
            m["status"],
            str(m["created_at"])[:19],
            str(m["training_rows"]),
            m["data_hash"][:16],
            _fmt(metric),
        )
    console.print(table)


@models_app.command("promote")
def models_promote(version: Annotated[str, typer.Argument(help="Model version, from `risk models list`.")]) -> None:
    platform = _platform()
    try:
        service.promote_model(platform.engine, _operator(platform), version)
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"model {version} is now in service")


@models_app.command("compile")
def models_compile(
    version: Annotated[str | None, typer.Argument(help="Model version (default: the promoted one).")] = None,
) -> None:
    """Compile a model's trees to machine code (lleaves), cached next to its file, for fast batch scoring."""
    platform = _platform()
    try:
        info = service.compile_model(platform, _operator(platform), version)
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"model {info['model_version']}: trees compiled in {info['seconds']} s -> {info['compiled']}")


@models_app.command("rollback")
def models_rollback() -> None:
    """Put the previously promoted model back in service."""
    platform = _platform()
    try:
        version = service.rollback_model(platform.engine, _operator(platform))
    except OpenCustomsError as exc:
        _fail(exc)
    console.print(f"rolled back: model {version} is in service")


@models_app.command("drift")
def models_drift(
    file: Annotated[
        Path | None, typer.Argument(help="Today's declarations (omit: what the model scored since its promotion).")
    ] = None,
    layout: Annotated[
        str, typer.Option(help="kcs, frame (Parquet/CSV in the risk frame's columns) or native.")
    ] = "kcs",
    version: Annotated[str | None, typer.Option(help="Without FILE: this version instead of the promoted one.")] = None,
) -> None:
    """Population stability index of today's scores against the model's reference period."""
    platform = _platform()
    try:
        report = service.drift(platform, _operator(platform), file, layout=layout, version=version)
    except OpenCustomsError as exc:
        _fail(exc)
    if report["psi"] is None:
        console.print(f"model {report['model_version']}: {report['verdict']}")
        return
    scope = "" if file else f" ({report['declarations']} declarations scored since {str(report['since'])[:19]})"
    console.print(f"PSI {report['psi']:.3f}{scope}: {report['verdict']}")


@models_app.command("report")
def models_report(version: Annotated[str, typer.Argument(help="Model version, from `risk models list`.")]) -> None:
    """A version's evaluation on held-out data against random and rules-only, top features, drift."""
    platform = _platform()
    try:
        info = service.model_report(platform.engine, _operator(platform), version)
    except OpenCustomsError as exc:
        _fail(exc)
    report = info["report"] or {}
    evaluation = report.get("evaluation")
    for note in report.get("notes", []):
        console.print(f"note: {note}")
    if evaluation:
        table = Table(
            "share",
            "inspected",
            "P model",
            "P rules",
            "P random",
            "P perfect",
            "R model",
            "R rules",
            title=f"{evaluation['held_out']}: {evaluation['declarations']} declarations, {evaluation['frauds']} "
            f"frauds; AUC model {_fmt(evaluation['auc']['model'])}, rules {_fmt(evaluation['auc']['rules'])}",
        )
        c = evaluation["curves"]
        for i, share in enumerate(evaluation["shares"]):
            if share * 100 not in (1, 2, 5, 10, 15, 20, 25, 30):
                continue
            table.add_row(
                f"{share:.0%}",
                str(evaluation["inspected"][i]),
                *(_fmt(c[k]["precision"][i]) for k in ("model", "rules", "random", "perfect")),
                *(_fmt(c[k]["recall"][i]) for k in ("model", "rules")),
            )
        console.print(table)
    elif info["report"] is None:
        console.print("no report stored with this version (trained before reports were kept); retrain it")
    features = Table("feature", "share of gain", title="top features (LightGBM gain)")
    for f in report.get("feature_importance", []):
        features.add_row(f["feature"], f"{f['share']:.1%}")
    console.print(features)
    drift = info["drift"]
    psi = f"PSI {drift['psi']:.3f}: " if drift["psi"] is not None else ""
    console.print(f"drift since promotion ({drift['declarations']} declarations): {psi}{drift['verdict']}")

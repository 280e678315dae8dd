"""The README's "Your own declarations" page, run word for word on a small file in a non-native layout.

The files are the page's example: a spreadsheet export with French headers (dates 31/12/2024, decimal commas,
country names in French) and a legacy system's inspection results. Each command of the page runs as the user runs
it (a new process, in a fresh folder, on the embedded defaults); what the page says it prints is checked (numbers,
times and model versions aside), and the red queue must hold more fraud than the declarations it was drawn from.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
PROGRAM = ".venv/bin/opencustoms"


def page() -> tuple[list[tuple[str, str | None]], dict[str, str]]:
    """The page's commands with the line said to be printed under each, and its files (`name`: text)."""
    text = README.read_text(encoding="utf-8")
    start, end = text.index("<!-- own-data:start"), text.index("<!-- own-data:end -->")
    body = text[start:end]
    shell = re.search(r"```sh\n(.*?)```", body, re.S)
    assert shell, "the page has no sh block"
    commands: list[tuple[str, str | None]] = []
    for line in shell.group(1).splitlines():
        if line.startswith("#  ") and commands:
            commands[-1] = (commands[-1][0], line[3:].strip())
        elif line.strip() and not line.startswith("#"):
            commands.append((line.split("  #")[0].strip(), None))
    files = {name: content for name, content in re.findall(r"`([\w.-]+\.toml)`[^\n]*\n\n```toml\n(.*?)```", body, re.S)}
    return commands, files


def write_files(folder: Path, n: int = 900, seed: int = 7) -> dict[str, int]:
    """The page's two files; returns which declarations are frauds (reference -> 1/0)."""
    rng = random.Random(seed)
    goods = [("8471.30", 180.0), ("6109.10", 14.0), ("0901.11", 4.5), ("8517.13", 260.0), ("6403.99", 35.0)]
    origins = ["Chine", "Viet Nam", "Allemagne", "Brésil", "Inde", "TR"]
    importers = [f"FR{40000000000 + i}" for i in range(40)]
    start = dt.date(2024, 1, 2)
    declarations, inspections, truth = [], [], {}
    for i in range(n):
        hs, unit = rng.choice(goods)
        origin = rng.choice(origins)
        importer = rng.choice(importers)
        mass = round(rng.uniform(20, 900), 1)
        fraud = rng.random() < (0.45 if origin in ("Chine", "Viet Nam") and importer[-1] in "0123" else 0.08)
        price = unit * rng.uniform(0.8, 1.25) * (rng.uniform(0.15, 0.4) if fraud else 1.0)
        value = round(mass * price, 2)
        day = start + dt.timedelta(days=int(i * 340 / n))
        reference = f"24FR0007{i:06d}"
        truth[reference] = int(fraud)
        amount = f"{value:,.2f}".replace(",", " ").replace(".", ",")
        declarations.append(
            [reference, day.strftime("%d/%m/%Y"), "FR000730", importer, hs, origin, amount, str(mass).replace(".", ",")]
        )
        if i < n * 0.7 and rng.random() < 0.6:  # the older declarations, a share of them inspected
            recovered = round(value * 0.3, 2) if fraud else 0
            inspections.append([reference, "1" if fraud else "0", (day + dt.timedelta(days=2)).isoformat(), recovered])
    with (folder / "declarations.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(
            [
                "N° de déclaration",
                "Date de dépôt",
                "Bureau",
                "Importateur",
                "Code SH",
                "Pays d'origine",
                "Valeur en douane (EUR)",
                "Masse nette (kg)",
            ]
        )
        out.writerows(declarations)
    with (folder / "controles.csv").open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["N° de déclaration", "Résultat", "Date du contrôle", "Droits redressés (EUR)"])
        out.writerows(inspections)
    return truth


def said(expected: str) -> re.Pattern[str]:
    """What the page says a command prints, as a pattern: numbers, a model version, a part in brackets and what
    follows a dash are free; the words are not."""
    expected = expected.split(" — ")[0]
    parts = re.split(r"(\([^)]*\)|m\d{14}-[0-9a-f]+|\d+(?:\.\d+)?)", expected)
    pattern = "".join(
        (r"\(.*?\)" if p.startswith("(") else r"m\d{14}-[0-9a-f]+" if p.startswith("m") else r"\d+(?:\.\d+)?")
        if i % 2
        else re.escape(p)
        for i, p in enumerate(parts)
    )
    return re.compile(pattern)


def test_the_page_parses() -> None:
    commands, files = page()
    assert commands[0][0] == "make install"
    assert [c for c, _ in commands[1:]] and all(c.startswith(PROGRAM) for c, _ in commands[1:])
    assert all(expected for _, expected in commands[1:]), "every step says what it prints"
    assert set(files) == {"controles.toml"}
    assert said("import 1: 900 imported, 0 rejected (0.6 s)").fullmatch("import 1: 900 imported, 0 rejected (2 s)")
    assert not said("import 1: 900 imported (0.6 s)").fullmatch("import 1: 900 accepted (0.6 s)")


@pytest.mark.slow
def test_the_readme_page_word_for_word(tmp_path: Path) -> None:
    commands, files = page()
    truth = write_files(tmp_path)
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCUSTOMS_")}  # the embedded defaults
    env |= {"COLUMNS": "250", "NO_COLOR": "1"}
    outputs: dict[str, str] = {}
    for command, expected in commands:
        if command == "make install":  # the test runs in the installed environment
            continue
        argv = [sys.executable, "-m", "opencustoms.cli", *shlex.split(command.removeprefix(PROGRAM))]
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800)
        printed = done.stdout + done.stderr
        assert done.returncode == 0, f"{command}\n{printed}"
        assert expected is not None
        assert said(expected).search(printed), f"{command} should print {expected!r}; it printed:\n{printed}"
        outputs[command] = done.stdout
    assert (tmp_path / "var" / "opencustoms.db").exists(), "the page works on the embedded SQLite database"
    mapping = (tmp_path / "mapping.toml").read_text(encoding="utf-8")
    assert '"N° de déclaration" = "functional_reference_id"' in mapping
    assert 'date_format = "%d/%m/%Y"' in mapping and "decimal_comma = true" in mapping
    problems = (tmp_path / "problems.csv").read_text(encoding="utf-8").splitlines()
    assert len(problems) == 1, problems  # the header only: every row of the example imports
    red = re.findall(r"24FR0007\d{6}", outputs[f"{PROGRAM} risk queue --lane red"])
    assert red, "the red queue is empty"
    inspected = {row[0] for row in csv.reader((tmp_path / "controles.csv").open(encoding="utf-8"))}
    assert not inspected & set(red), "the queue holds only declarations that await a decision"
    awaiting = [r for r in truth if r not in inspected]
    base_rate = sum(truth[r] for r in awaiting) / len(awaiting)
    red_rate = sum(truth[r] for r in red) / len(red)
    assert red_rate > 2 * base_rate, (red_rate, base_rate)

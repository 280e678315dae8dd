"""Options several command groups share."""

from __future__ import annotations

from typing import Annotated

import typer


def language(value: str | None) -> str | None:
    """A language the platform speaks (``en``, ``fr``), else a usage error naming ``--lang``."""
    from opencustoms.wording import LANGUAGES

    if value is not None and value not in LANGUAGES:
        raise typer.BadParameter(f"{value!r}: the platform speaks {', '.join(LANGUAGES)}", param_hint="--lang")
    return value


Language = Annotated[
    str,
    typer.Option(
        "--lang",
        envvar="OPENCUSTOMS_LANG",
        callback=language,
        help="Language of reasons and messages: en or fr (default: OPENCUSTOMS_LANG, else en).",
    ),
]

"""Validation errors in an officer's words: what is wrong with the cell and what to write instead.

pydantic says "Input should be a valid string" or "String should match pattern '^[A-Za-z0-9]...'"; an import
report says "'a b' is not a valid identifier: use letters, digits and . _ / - only". The report's ``field`` names
the file's column (the layouts translate the model's location back to it), so the reason does not repeat it.
"""

from __future__ import annotations

from typing import Any

_DATE_HELP = (
    "write the date as YYYY-MM-DD (e.g. 2024-12-31); for a file with another date format, import it with a mapping "
    "(--map) that sets date_format"
)


def _shown(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def plain_reason(error: Any) -> str:
    """The reason of one pydantic error (a dict of ``ValidationError.errors()``) in plain words."""
    kind = str(error.get("type", ""))
    message = str(error.get("msg", "invalid"))
    ctx = error.get("ctx") or {}
    value = error.get("input")
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]  # our validators already say what is wrong and what to do
    blank = value is None or (isinstance(value, str) and not value.strip())
    if kind == "missing" or (blank and kind.endswith("_type")):
        return "is required but empty; fill it in"
    if kind == "extra_forbidden":
        return "is not a field of the model; remove it (see `opencustoms schema declaration`)"
    if kind == "string_type":
        return f"{_shown(value)} should be text; write it as text (in Parquet, make the column a string column)"
    if kind == "string_too_short":
        return "is empty; fill it in"
    if kind == "string_too_long":
        return f"is longer than {ctx.get('max_length')} characters; shorten it"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        if pattern.startswith("^[A-Za-z0-9][A-Za-z0-9._/-]"):
            return (
                f"{_shown(value)} is not a valid identifier: use letters, digits and . _ / - only, starting with a "
                "letter or digit, at most 64 characters"
            )
        return f"{_shown(value)} does not have the expected form ({pattern})"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{_shown(value)} is not a whole number; write digits only, e.g. 3"
    if kind in ("float_parsing", "float_type"):
        return f"{_shown(value)} is not a number; write digits with a decimal point, e.g. 12.5"
    if kind in ("decimal_parsing", "decimal_type"):
        return (
            f"{_shown(value)} is not an amount; write digits with a decimal point and no thousands separator, e.g. "
            "1234.50 (a file with decimal commas is imported with a mapping that sets decimal_comma)"
        )
    if kind == "decimal_max_places":
        return f"{_shown(value)} has more than {ctx.get('decimal_places')} decimal places; round it"
    if kind in ("decimal_max_digits", "decimal_whole_digits"):
        return f"{_shown(value)} has too many digits for an amount; check the value"
    if kind == "finite_number":
        return f"{_shown(value)} is not a finite number; write a number"
    if kind == "greater_than_equal":
        return f"{_shown(value)} is below {ctx.get('ge')}; it must be {ctx.get('ge')} or more"
    if kind == "greater_than":
        return f"{_shown(value)} must be more than {ctx.get('gt')}"
    if kind == "less_than_equal":
        return f"{_shown(value)} is above {ctx.get('le')}; it must be {ctx.get('le')} or less"
    if kind == "less_than":
        return f"{_shown(value)} must be less than {ctx.get('lt')}"
    if kind.startswith("date") or kind.startswith("datetime"):
        return f"{_shown(value)} is not a date; {_DATE_HELP}"
    if kind in ("enum", "literal_error"):
        return f"{_shown(value)} is not one of the accepted values: {ctx.get('expected')}"
    if kind == "bool_parsing":
        return f"{_shown(value)} is not yes or no; write true or false"
    if kind == "too_long":
        return f"has more than {ctx.get('max_length')} entries; split the declaration"
    if kind == "too_short":
        return "needs at least one entry"
    if kind in ("model_type", "model_attributes_type", "dict_type", "list_type"):
        return "has the wrong shape (a single value where a group is expected, or the other way round)"
    return message


__all__ = ["plain_reason"]

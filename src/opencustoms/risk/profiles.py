"""Risk profiles: versioned criteria with a lane, a weight, validity dates and a plain-language reason.

Criteria are small policy objects composed like sigstore-python's (``AllOf``, ``AnyOf``, ``Not``) over one
:class:`Condition` type that tests one field of the declaration frame. As data (JSON) they read::

    {"all_of": [{"field": "hs6", "op": "prefix", "value": "8471"},
                {"field": "origin", "op": "in", "value": ["CN", "VN"]},
                {"field": "unit_value", "op": "lt", "value": 50}]}

Fields are the frame's columns (:data:`opencustoms.risk.frame.COLUMNS`, national ``x_*`` ones too) plus
``unit_value`` (value / net mass), ``score`` (the model's probability) and ``signals`` (the kinds of the signals about
the declaration; test them with ``op: "has"``). Every criterion becomes one polars expression, so a million
declarations are matched in one pass. For one declaration (online decisions), :meth:`Profile.hits` tests the same
criteria on a plain row (a dict) without polars, with polars' semantics: a comparison with a missing value is
unknown (None), ``all_of`` / ``any_of`` / ``not`` follow three-valued logic, NaN equals itself and sorts above every
number, and an unknown result is no hit (tested against the expressions on random declarations).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from opencustoms.risk.frame import COLUMNS

LANES = ("green", "yellow", "red", "blue")
DERIVED_FIELDS = ("unit_value", "score", "signals", "hs4", "hs2")
NUMERIC_FIELDS = {n for n, t in COLUMNS.items() if t in (pl.Float64, pl.Int32, pl.Int8)} | {"unit_value", "score"}
Op = Literal["eq", "ne", "in", "not_in", "prefix", "lt", "lte", "gt", "gte", "between", "missing", "has"]


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Policy):
    field: str
    op: Op
    value: Any = None

    @field_validator("field")
    @classmethod
    def _known(cls, value: str) -> str:
        if value in COLUMNS or value in DERIVED_FIELDS or value.startswith("x_"):
            return value
        raise ValueError(
            f"unknown field {value!r}; use one of {', '.join([*COLUMNS, *DERIVED_FIELDS])} or a national x_* column"
        )

    @model_validator(mode="after")
    def _value_fits(self) -> Condition:
        op, value = self.op, self.value
        if op in ("in", "not_in") and not (isinstance(value, list) and value):
            raise ValueError(f"op {op!r} needs a non-empty list as value")
        if op == "between" and not (isinstance(value, list) and len(value) == 2):
            raise ValueError("op 'between' needs [low, high] as value")
        if op in ("lt", "lte", "gt", "gte") and not isinstance(value, int | float):
            raise ValueError(f"op {op!r} needs a number as value")
        if op in ("lt", "lte", "gt", "gte", "between") and self.field not in NUMERIC_FIELDS:
            raise ValueError(f"field {self.field!r} is not numeric; compare it with eq, in or prefix")
        if op == "has" and self.field != "signals":
            raise ValueError("op 'has' tests the signals field (a signal kind or a prefix such as 'ledger.')")
        if op == "prefix" and not isinstance(value, str):
            raise ValueError("op 'prefix' needs a string")
        if op not in ("missing",) and value is None:
            raise ValueError(f"op {op!r} needs a value")
        return self

    def expr(self) -> pl.Expr:
        c = pl.col(self.field)
        v = self.value
        match self.op:
            case "eq":
                return c == v
            case "ne":
                return c != v
            case "in":
                return c.is_in(v)
            case "not_in":
                return ~c.is_in(v)
            case "prefix":
                return c.cast(pl.Utf8).str.starts_with(v)
            case "lt":
                return c < v
            case "lte":
                return c <= v
            case "gt":
                return c > v
            case "gte":
                return c >= v
            case "between":
                return c.is_between(v[0], v[1])
            case "missing":
                return c.is_null()
            case "has":
                return c.list.eval(pl.element().str.starts_with(v)).list.any()
        raise AssertionError(self.op)  # pragma: no cover

    def test(self, row: Mapping[str, Any]) -> bool | None:
        """:meth:`expr` on one row: True, False or None (unknown: the field is missing)."""
        c = row.get(self.field)
        v = self.value
        if self.op == "missing":
            return c is None
        if c is None:
            return None
        match self.op:
            case "eq":
                return _order(c, v) == 0
            case "ne":
                return _order(c, v) != 0
            case "in":
                return any(_order(c, x) == 0 for x in v)
            case "not_in":
                return not any(_order(c, x) == 0 for x in v)
            case "prefix":
                return str(c).startswith(v)
            case "lt":
                return _order(c, v) < 0
            case "lte":
                return _order(c, v) <= 0
            case "gt":
                return _order(c, v) > 0
            case "gte":
                return _order(c, v) >= 0
            case "between":
                return _order(c, v[0]) >= 0 and _order(c, v[1]) <= 0
            case "has":
                return any(str(kind).startswith(v) for kind in c)
        raise AssertionError(self.op)  # pragma: no cover

    def describe(self) -> str:
        return f"{self.field} {self.op} {self.value}"


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _order(a: Any, b: Any) -> int:
    """-1, 0 or 1 as polars orders two values: NaN equals NaN and is above every number; a date column
    compared with an ISO string compares as dates."""
    if _is_nan(a) or _is_nan(b):
        return (_is_nan(a) and not _is_nan(b)) - (_is_nan(b) and not _is_nan(a))
    if isinstance(a, dt.date) and isinstance(b, str):
        b = dt.date.fromisoformat(b)
    return (a > b) - (a < b)


def _and(values: list[bool | None]) -> bool | None:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def _or(values: list[bool | None]) -> bool | None:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


class AllOf(_Policy):
    all_of: list[Criterion] = Field(min_length=1)

    def expr(self) -> pl.Expr:
        return pl.all_horizontal([c.expr() for c in self.all_of])

    def test(self, row: Mapping[str, Any]) -> bool | None:
        return _and([c.test(row) for c in self.all_of])

    def describe(self) -> str:
        return "(" + " and ".join(c.describe() for c in self.all_of) + ")"


class AnyOf(_Policy):
    any_of: list[Criterion] = Field(min_length=1)

    def expr(self) -> pl.Expr:
        return pl.any_horizontal([c.expr() for c in self.any_of])

    def test(self, row: Mapping[str, Any]) -> bool | None:
        return _or([c.test(row) for c in self.any_of])

    def describe(self) -> str:
        return "(" + " or ".join(c.describe() for c in self.any_of) + ")"


class Not(_Policy):
    not_: Criterion = Field(alias="not")

    def expr(self) -> pl.Expr:
        return ~self.not_.expr()

    def test(self, row: Mapping[str, Any]) -> bool | None:
        value = self.not_.test(row)
        return None if value is None else not value

    def describe(self) -> str:
        return f"not {self.not_.describe()}"


Criterion = Annotated[Condition | AllOf | AnyOf | Not, Field(union_mode="left_to_right")]
AllOf.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()
_criterion = TypeAdapter(Criterion)


def parse_criteria(data: Any) -> Condition | AllOf | AnyOf | Not:
    return _criterion.validate_python(data)


class Profile(BaseModel):
    """One version of a risk profile."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    version: int = Field(default=1, ge=1)
    lane: Literal["yellow", "red", "blue"] = Field(description="The lane a hit sends the declaration to at least.")
    weight: float = Field(default=1.0, ge=0, le=10, description="Added to the declaration's risk when it hits.")
    reason: Annotated[str, Field(min_length=5, max_length=2000)] = Field(description="Plain language, for officers.")
    criteria: Condition | AllOf | AnyOf | Not
    valid_from: dt.date
    valid_to: dt.date | None = None

    @model_validator(mode="after")
    def _dates(self) -> Profile:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from; a profile must be valid for at least one day")
        return self

    def valid_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def expr(self) -> pl.Expr:
        """True where the profile hits a declaration of its validity period."""
        valid = pl.col("date") >= self.valid_from
        if self.valid_to is not None:
            valid = valid & (pl.col("date") <= self.valid_to)
        return (valid & self.criteria.expr()).fill_null(False)

    def hits(self, row: Mapping[str, Any]) -> bool:
        """:meth:`expr` on one row (a dict with the frame's columns and the derived fields), without polars."""
        return self.valid_on(row["date"]) and self.criteria.test(row) is True

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "lane": self.lane,
            "weight": self.weight,
            "reason": self.reason,
            "criteria": self.criteria.model_dump(by_alias=True, exclude_none=False),
            "valid_from": self.valid_from,
            "valid_to": self.valid_to,
        }

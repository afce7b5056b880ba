"""Validation suites: the check model, its YAML form, and the SQL each check compiles to.

Pure: nothing here touches data. :mod:`keel.data.validate_run` executes a :class:`Suite` with DuckDB.

A suite is a list of checks, each with a ``check`` kind and a ``severity`` (``error`` fails the gate, ``warn`` only
reports). In YAML::

    name: orders
    checks:
      - {check: not_null, column: id}
      - {check: in_range, column: amount, min: 0, max: 10000, severity: warn}
      - {check: sql, expression: "shipped_at >= ordered_at"}

Row-level checks (not_null, in_range, in_set, regex, str_length, sql) count the rows that fail a per-row predicate;
null values fail only ``not_null`` and ``sql`` (where a NULL result is not TRUE). ``unique`` counts the rows whose
value repeats an earlier one. Dataset-level checks (row_count, freshness) have no failing rows. Schema checks
(column_exists, dtype) read the schema only, and ``distribution`` compares a column with a reference table by a KS
test (numbers) or a chi-square test (categories).

The SQL side: every value a check needs is an aggregate expression (a "fact"). :func:`flat_query` computes facts in
one ``SELECT`` (any source); :func:`combined_query` computes them as a cross join of single-row subqueries, which lets
DuckDB answer plain count/min/max from Parquet footer statistics (:func:`is_plain`) and push a failing-row predicate
into the Parquet scan, where it is evaluated once per dictionary entry and skips row groups by their min/max.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "Check",
    "ColumnExists",
    "CustomSql",
    "Distribution",
    "Dtype",
    "Freshness",
    "InRange",
    "InSet",
    "NotNull",
    "Regex",
    "RowCount",
    "StrLength",
    "Suite",
    "Unique",
    "SOURCE",
    "combined_query",
    "count_failing",
    "dtype_family",
    "examples_query",
    "flat_query",
    "is_plain",
    "plain_column",
    "quote_ident",
    "sql_literal",
]

SOURCE = "__keel_data"  # the view name the runner gives the data under validation
Severity = Literal["error", "warn"]
Scalar = int | float | str | bool | dt.datetime | dt.date

_FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("boolean", ("BOOLEAN",)),
    ("integer", ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                 "UBIGINT", "UHUGEINT")),
    ("float", ("FLOAT", "DOUBLE", "DECIMAL")),
    ("string", ("VARCHAR",)),
    ("timestamp", ("TIMESTAMP",)),
    ("date", ("DATE",)),
)
_PLAIN = re.compile(r'count\(\*\)|(?:count|min|max)\(("(?:[^"]|"")*")\)')
_EXACT_FLOAT = 2**53  # ints up to this magnitude convert to DOUBLE exactly
_MAX_BITS = 1 << 28  # the largest value range unique() counts with a bitmap (32 MiB per thread)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def quote_ident(name: str) -> str:
    """A column name as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: Scalar) -> str:
    """A Python scalar as a DuckDB literal."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return f"'{value}'::DOUBLE"
        return repr(value)
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def dtype_family(duckdb_type: str) -> str:
    """``BIGINT`` → ``integer``, ``DECIMAL(9,2)`` → ``float``, ``TIMESTAMP WITH TIME ZONE`` → ``timestamp``."""
    head = duckdb_type.upper()
    for family, prefixes in _FAMILIES:
        if any(head == p or head.startswith(p + "(") or head.startswith(p + " ") or head.startswith(p + "_")
               for p in prefixes):
            return family
    return head.lower()


class _Check(BaseModel):
    model_config = ConfigDict(extra="forbid")

    severity: Severity = "error"
    name: str | None = Field(default=None, description="A label for reports; defaults to a description.")

    kind: ClassVar[str] = ""

    @property
    def label(self) -> str:
        """The name shown in reports."""
        return self.name or self.describe()

    def describe(self) -> str:
        return self.kind

    def columns(self) -> list[str]:
        """Columns the check reads; a missing one fails the check without running it."""
        column = getattr(self, "column", None)
        return [column] if column else []

    def failing_predicate(self) -> str | None:
        """A per-row SQL predicate true for failing rows, or None for dataset-level checks."""
        return None

    def aggregates(self) -> list[str]:
        """SQL aggregate expressions whose values :meth:`judge` receives (after the failing-row count)."""
        return []

    def details(self) -> list[str]:
        """Aggregates :meth:`judge` receives after :meth:`aggregates` and that are computed only when rows fail
        (each is 0 otherwise), so a passing check does not pay for them."""
        return []

    def judge(self, values: list[Any], failing: int | None, rows: int) -> tuple[Any, bool]:
        """(observed value, passed) from the aggregate values."""
        return failing, not failing


class _ColumnCheck(_Check):
    column: str

    def describe(self) -> str:
        return f"{self.kind}({self.column})"

    @property
    def col(self) -> str:
        return quote_ident(self.column)


class ColumnExists(_ColumnCheck):
    """The column is present."""

    check: Literal["column_exists"] = "column_exists"
    kind: ClassVar[str] = "column_exists"

    def columns(self) -> list[str]:
        return []


class Dtype(_ColumnCheck):
    """The column's type is ``dtype``: a family (integer, float, string, boolean, timestamp, date) or a DuckDB type."""

    check: Literal["dtype"] = "dtype"
    kind: ClassVar[str] = "dtype"
    dtype: str

    def matches(self, actual: str) -> bool:
        """Whether a DuckDB type satisfies the expected one."""
        want = self.dtype.strip()
        return want.upper() == actual.upper() or want.lower() == dtype_family(actual)


class NotNull(_ColumnCheck):
    """At most ``max_fraction`` of the rows are null (0: none)."""

    check: Literal["not_null"] = "not_null"
    kind: ClassVar[str] = "not_null"
    max_fraction: float = Field(default=0.0, ge=0.0, le=1.0)

    def failing_predicate(self) -> str:
        return f"{self.col} IS NULL"

    def aggregates(self) -> list[str]:
        # failing rows are count(*) - count(col): cheaper than a filter, and a Parquet footer statistic
        return [f"count({self.col})"]

    def judge(self, values: list[Any], failing: int | None, rows: int) -> tuple[Any, bool]:
        fraction = (failing or 0) / rows if rows else 0.0
        return fraction, fraction <= self.max_fraction


class Unique(_ColumnCheck):
    """No non-null value appears twice; failing rows are the repeats beyond each value's first occurrence."""

    check: Literal["unique"] = "unique"
    kind: ClassVar[str] = "unique"

    def failing_predicate(self) -> str:
        # used for examples only: the count comes from count - count(DISTINCT)
        return f"{self.col} IN (SELECT {self.col} FROM {SOURCE} GROUP BY ALL HAVING count(*) > 1)"

    def aggregates(self) -> list[str]:
        return [f"count({self.col})"]

    def distinct(self, dtype: str, non_null: int, low: Any, high: Any) -> str:
        """The aggregate counting distinct values. For integers whose range (from ``low``/``high``, the column's
        exact min and max) is not much wider than the rows, a bitmap of the range (``bitstring_agg``) gives the
        exact count in one parallel pass, many times faster than the hash table of ``count(DISTINCT)``."""
        if dtype_family(dtype) == "integer" and isinstance(low, int) and isinstance(high, int):
            width = high - low + 1
            if width <= min(_MAX_BITS, max(1 << 16, 64 * non_null)):
                return (f"coalesce(bit_count(bitstring_agg({self.col}, CAST({low} AS {dtype}), "
                        f"CAST({high} AS {dtype}))), 0)")
        return f"count(DISTINCT {self.col})"

    def judge(self, values: list[Any], failing: int | None, rows: int) -> tuple[Any, bool]:
        """``values``: the non-null count (:meth:`aggregates`), then the distinct count."""
        duplicates = int(values[0] or 0) - int(values[-1] or 0)
        return duplicates, duplicates == 0


class InRange(_ColumnCheck):
    """Non-null values lie between ``min`` and ``max`` (either may be omitted)."""

    check: Literal["in_range"] = "in_range"
    kind: ClassVar[str] = "in_range"
    min: Scalar | None = None
    max: Scalar | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True

    @model_validator(mode="after")
    def _bounded(self) -> InRange:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self

    def failing_predicate(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f"{self.col} {'<' if self.min_inclusive else '<='} {sql_literal(self.min)}")
        if self.max is not None:
            parts.append(f"{self.col} {'>' if self.max_inclusive else '>='} {sql_literal(self.max)}")
        return " OR ".join(parts)

    def aggregates(self) -> list[str]:
        return [f"min({self.col})", f"max({self.col})"]

    def holds(self, dtype: str, low: Any, high: Any) -> bool:
        """Whether the column's min ``low`` and max ``high`` prove that no row fails, i.e. Python's comparison is
        certainly DuckDB's: integer or DOUBLE columns, numeric bounds, no NaN, ints exact as floats where mixed."""
        if low is None or high is None:  # no non-null values: nothing can fail
            return low is None and high is None
        if dtype_family(dtype) != "integer" and dtype.upper() != "DOUBLE":
            return False
        values = [v for v in (low, high, self.min, self.max) if v is not None]
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in values):
            return False
        if any(isinstance(v, float) and math.isnan(v) for v in values):
            return False
        if any(isinstance(v, float) for v in values) and any(abs(v) > _EXACT_FLOAT for v in values
                                                             if isinstance(v, int)):
            return False
        above = self.min is None or (low >= self.min if self.min_inclusive else low > self.min)
        below = self.max is None or (high <= self.max if self.max_inclusive else high < self.max)
        return bool(above and below)

    def judge(self, values: list[Any], failing: int | None, rows: int) -> tuple[Any, bool]:
        return {"min": values[0], "max": values[1]}, not failing


class InSet(_ColumnCheck):
    """Non-null values are among ``values``; observed is the number of distinct unexpected values."""

    check: Literal["in_set"] = "in_set"
    kind: ClassVar[str] = "in_set"
    values: list[Scalar] = Field(min_length=1)

    def failing_predicate(self) -> str:
        return f"{self.col} NOT IN ({', '.join(sql_literal(v) for v in self.values)})"

    def details(self) -> list[str]:
        return [f"count(DISTINCT {self.col}) FILTER (WHERE {self.failing_predicate()})"]

    def judge(self, values: list[Any], failing: int | None, rows: int) -> tuple[Any, bool]:
        return int(values[0] or 0), not failing


class Regex(_ColumnCheck):
    """Non-null values contain a match of ``pattern`` (anchor it with ^…$ for a full match)."""

    check: Literal["regex"] = "regex"
    kind: ClassVar[str] = "regex"
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return pattern

    def failing_predicate(self) -> str:
        return f"NOT regexp_matches({self.col}::VARCHAR, {sql_literal(self.pattern)})"


class StrLength(_ColumnCheck):
    """Non-null string lengths lie between ``min`` and ``max`` characters (inclusive)."""

    check: Literal["str_length"] = "str_length"
    kind: ClassVar[str] = "str_length"
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounded(self) -> StrLength:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self

    def failing_predicate(self) -> str:
        length = f"length({self.col}::VARCHAR)"
        parts = ([f"{length} < {self.min}"] if self.min is not None else []) + (
            [f"{length} > {self.max}"] if self.max is not None else [])
        return " OR ".join(parts)

    def aggregates(self) -> list[str]:
        return [f"min(length({self.col}::VARCHAR))", f"max(length({self.col}::VARCHAR))"]

    def judge(self, values: list[Any], failing: int | None, rows: int) -> tuple[Any, bool]:
        return {"min": values[0], "max": values[1]}, not failing


class RowCount(_Check):
    """The table has between ``min`` and ``max`` rows (inclusive)."""

    check: Literal["row_count"] = "row_count"
    kind: ClassVar[str] = "row_count"
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    def judge(self, values: list[Any], failing: int | None, rows: int) -> tuple[Any, bool]:
        ok = (self.min is None or rows >= self.min) and (self.max is None or rows <= self.max)
        return rows, ok


class Freshness(_ColumnCheck):
    """The newest timestamp in ``column`` is at most ``max_age`` old (seconds, or "30m", "36h", "7d", "2w")."""

    check: Literal["freshness"] = "freshness"
    kind: ClassVar[str] = "freshness"
    max_age: float | str

    @field_validator("max_age")
    @classmethod
    def _duration(cls, value: float | str) -> float:
        if isinstance(value, int | float):
            return float(value)
        match = _DURATION.match(value)
        if match is None:
            raise ValueError("give seconds or a number with a unit s, m, h, d or w, e.g. '36h'")
        return float(match[1]) * _SECONDS[match[2]]

    def aggregates(self) -> list[str]:
        return [f"max({self.col})"]

    def age_seconds(self, newest: Any, now: dt.datetime) -> float | None:
        """Seconds between ``newest`` (naive means UTC) and ``now``."""
        if newest is None:
            return None
        if not isinstance(newest, dt.datetime):
            newest = dt.datetime.combine(newest, dt.time())
        if newest.tzinfo is None:
            newest = newest.replace(tzinfo=dt.UTC)
        return (now - newest).total_seconds()


class CustomSql(_Check):
    """A per-row boolean SQL ``expression``; a row fails unless it is TRUE (NULL fails)."""

    check: Literal["sql"] = "sql"
    kind: ClassVar[str] = "sql"
    expression: str = Field(min_length=1)

    def describe(self) -> str:
        return f"sql({self.expression})"

    def columns(self) -> list[str]:
        return []

    def failing_predicate(self) -> str:
        return f"({self.expression}) IS NOT TRUE"


class Distribution(_ColumnCheck):
    """The column's distribution is close to the same column in ``reference`` (a path or dataset ref).

    ``method`` ``auto`` uses a two-sample KS test for numbers and a chi-square test on category counts otherwise;
    the check passes when the p-value is at least ``min_p_value`` or, if ``max_statistic`` is set, when the test
    statistic is at most that (more useful on very large tables, where any difference is significant).
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    check: Literal["distribution"] = "distribution"
    kind: ClassVar[str] = "distribution"
    reference: Any = Field(description="A Parquet/CSV path, a dataset ref NAME@v, a DataFrame or an Arrow table.")
    method: Literal["auto", "ks", "chi2"] = "auto"
    min_p_value: float = Field(default=0.05, ge=0.0, le=1.0)
    max_statistic: float | None = Field(default=None, ge=0.0)

    def passes(self, statistic: float, p_value: float) -> bool:
        """The verdict on a test result."""
        if self.max_statistic is not None:
            return statistic <= self.max_statistic
        return p_value >= self.min_p_value


Check = Annotated[
    ColumnExists | Dtype | NotNull | Unique | InRange | InSet | Regex | StrLength | RowCount | Freshness | CustomSql
    | Distribution,
    Field(discriminator="check"),
]


class Suite(BaseModel):
    """A named list of checks; build it in Python or load it with :func:`keel.data.suite_yaml.load_suite`."""

    model_config = ConfigDict(extra="forbid")

    name: str = "suite"
    checks: list[Check] = Field(default_factory=list)

    def row_checks(self) -> list[tuple[int, Any]]:
        """(index, check) for every check evaluated by the aggregate query."""
        return [(i, c) for i, c in enumerate(self.checks)
                if not isinstance(c, ColumnExists | Dtype | Distribution)]


def is_plain(expr: str) -> bool:
    """Whether ``expr`` is ``count(*)`` or count/min/max of a bare column (what Parquet statistics can answer)."""
    return _PLAIN.fullmatch(expr) is not None


def plain_column(expr: str) -> str | None:
    """The quoted column of a plain aggregate (None for ``count(*)`` and for other expressions)."""
    match = _PLAIN.fullmatch(expr)
    return match[1] if match else None


def count_failing(predicate: str) -> str:
    """The aggregate counting the rows where ``predicate`` is TRUE."""
    return f"count(*) FILTER (WHERE {predicate})"


def flat_query(exprs: list[str], source: str) -> str:
    """One ``SELECT`` of ``exprs`` over ``source``: one pass, for sources that are costly to read twice (CSV)."""
    return f"SELECT {', '.join(exprs)} FROM {source}"


def combined_query(parts: list[tuple[list[str], str | None]], source: str) -> str:
    """One statement whose single row holds every part's aggregates in order; a part ``(exprs, where)`` is its own
    subquery ``SELECT exprs FROM source [WHERE where]``, so DuckDB plans (and prunes) each independently."""
    subqueries = [f"(SELECT {', '.join(exprs)} FROM {source}{f' WHERE {where}' if where else ''}) AS _p{i}"
                  for i, (exprs, where) in enumerate(parts)]
    return "SELECT * FROM " + ", ".join(subqueries)


def examples_query(check: Any, source: str, limit: int = 5) -> str | None:
    """A query for up to ``limit`` failing rows of a row-level check."""
    predicate = check.failing_predicate()
    if predicate is None:
        return None
    return f"SELECT * FROM {source} WHERE {predicate} LIMIT {int(limit)}"

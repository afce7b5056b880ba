"""Run a validation suite over a table with DuckDB, and infer a starting suite from data (``profile``).

Row-level and dataset-level checks are answered by aggregate queries (see :mod:`keel.data.validation`). Over CSV
or JSON text (costly to parse twice) and over data in memory, ONE query computes everything. Over Parquet (and data
in memory with a unique check on integers), a first statement reads counts, minima and maxima (from Parquet footer
statistics where DuckDB can), which settles not_null, row_count, freshness and integer in_range checks that hold,
and sizes a bitmap for exact unique counts of integers; a second statement scans only what remains. Checks with
failing rows then fetch their details (in_set's distinct unexpected values) in one more query and up to five example
rows each; each distribution check reads its column once more for its test. With polars installed, regex checks over
large local Parquet files are counted by polars beside the scan (see :mod:`keel.data.validate_regex`).

``data`` is a pandas DataFrame, an Arrow table, or a Parquet/CSV/TSV/JSON-lines path (file or folder). A dataset
ref ``NAME@v`` is read where its files are stored (a Parquet version gets the statistics-first plan), or resolved by
``resolve`` when one is given.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from keel.data import validate_regex
from keel.data.validate_sources import Resolver, attach, read_error
from keel.data.validation import (
    SOURCE,
    ColumnExists,
    CustomSql,
    Distribution,
    Dtype,
    Freshness,
    InRange,
    InSet,
    NotNull,
    Regex,
    RowCount,
    StrLength,
    Suite,
    Unique,
    combined_query,
    count_failing,
    dtype_family,
    examples_query,
    flat_query,
    is_plain,
    plain_column,
    quote_ident,
    sql_literal,
)
from keel.data.validation_report import CheckResult, ValidationResult
from keel.errors import InvalidInput

__all__ = ["profile", "validate"]

_REFERENCE = "__keel_reference"
_EXACT_STATISTICS = ("integer", "date", "timestamp")  # types whose Parquet min/max DuckDB may use as they are


def validate(data: Any, suite: Suite, *, resolve: Resolver | None = None, now: dt.datetime | None = None,
             max_examples: int = 5) -> ValidationResult:
    """Evaluate every check of ``suite`` on ``data``; ``success`` is False if a check at severity error failed."""
    started = time.perf_counter()
    con = duckdb.connect()
    try:
        source, kind, local_parquet = attach(con, SOURCE, data, resolve)
        schema = _schema(con, SOURCE)
        # Parquet has statistics; in memory, a second pass pays off only to size a bitmap for unique integers
        columnar = kind == "parquet" or (kind == "memory" and any(
            isinstance(c, Unique) and dtype_family(schema.get(c.column, "")) == "integer" for c in suite.checks))
        runner = _Runner(con, schema, now or dt.datetime.now(dt.UTC), max_examples, resolve, columnar, local_parquet)
        results, rows = runner.run(suite)
    finally:
        con.close()
    success = all(r.passed or r.severity == "warn" for r in results)
    return ValidationResult(suite=suite.name, source=source, row_count=rows, success=success, checks=results,
                            queries=runner.queries, seconds=time.perf_counter() - started)


def profile(data: Any, *, resolve: Resolver | None = None, max_set_size: int = 20) -> Suite:
    """A starting suite inferred from ``data``: each column exists with its dtype family, not-null where there are
    no nulls, numeric ranges from min/max, in-set for low-cardinality strings, and a row count range (½× to 2×)."""
    con = duckdb.connect()
    try:
        source = attach(con, SOURCE, data, resolve).source
        schema = _schema(con, SOURCE)
        with _readable():
            stats = _column_stats(con, schema)
            checks: list[Any] = []
            rows = stats.pop("__rows__")
            for column, dtype in schema.items():
                checks += _profile_column(con, column, dtype_family(dtype), stats[column], rows, max_set_size)
    finally:
        con.close()
    checks.append(RowCount(min=rows // 2, max=rows * 2))
    return Suite(name=f"profile of {Path(source).name if Path(source).exists() else source}", checks=checks)


class _Runner:
    def __init__(self, con: duckdb.DuckDBPyConnection, schema: dict[str, str], now: dt.datetime,
                 max_examples: int, resolve: Resolver | None, columnar: bool = False,
                 local_parquet: list[str] | None = None) -> None:
        self.con, self.schema, self.now = con, schema, now
        self.max_examples, self.resolve = max_examples, resolve
        self.columnar = columnar  # statistics first, then a scan of what they did not settle
        self.queries = 0
        self.distinct: dict[int, str] = {}  # unique checks: the aggregate counting distinct values
        self.local_parquet = local_parquet or []  # the files, when polars may count regex failures beside DuckDB

    def fetch(self, sql: str) -> duckdb.DuckDBPyConnection:
        """Every query that reads the data goes through here (counted in ``ValidationResult.queries``)."""
        self.queries += 1
        return self.con.execute(sql)

    def run(self, suite: Suite) -> tuple[list[CheckResult], int]:
        results: dict[int, CheckResult] = {}
        runnable = []
        for index, check in enumerate(suite.checks):
            missing = [c for c in check.columns() if c not in self.schema]
            if missing or isinstance(check, ColumnExists | Dtype):
                results[index] = self.schema_check(index, check, missing)
            elif not isinstance(check, Distribution):
                runnable.append((index, check))
        rows, aggregated = self.aggregate(runnable)
        results.update(aggregated)
        for index, check in enumerate(suite.checks):
            if isinstance(check, Distribution) and index not in results:
                results[index] = self.distribution(index, check)
        return [results[i] for i in sorted(results)], rows

    def schema_check(self, index: int, check: Any, missing: list[str]) -> CheckResult:
        if missing:
            return _result(index, check, False, None, message=f"column {missing[0]!r} not found; the columns "
                           f"are {', '.join(self.schema) or 'none'}")
        actual = self.schema.get(check.column)
        if isinstance(check, ColumnExists):
            return _result(index, check, actual is not None, actual is not None)
        return _result(index, check, check.matches(actual), actual)

    def aggregate(self, checks: list[tuple[int, Any]]) -> tuple[int, dict[int, CheckResult]]:
        facts: dict[str, Any] = {}
        try:
            if self.columnar:
                self.columnar_facts(checks, facts)
            else:
                self.gather(facts, [(_unique(["count(*)"] + [e for _, c in checks for e in self.needs(c)], []), None)])
            rows = int(facts["count(*)"])
            failing = {index: self.failing(check, facts, rows) for index, check in checks}
            details = _unique([d for i, c in checks if failing[i] for d in c.details()], list(facts))
            if details:
                self.gather(facts, [(details, None)])
        except duckdb.Error as exc:
            raise self.culprit(checks, exc) from exc
        results = {}
        for index, check in checks:
            values = [facts[a] for a in check.aggregates()] + [facts.get(d, 0) for d in check.details()]
            if isinstance(check, Unique):
                values.append(facts[self.distinct.get(index, _count_distinct(check))])
            results[index] = self.judge(index, check, values, failing[index], rows)
        return rows, results

    def columnar_facts(self, checks: list[tuple[int, Any]], facts: dict[str, Any]) -> None:
        """Statistics first, then one scan of what they did not settle, while polars computes its part."""
        specs = self.offloadable(checks)
        self.gather(facts, self.summary_parts(checks, set(specs)))
        specs = self.worth_offloading(specs, int(facts["count(*)"]))
        offloaded = validate_regex.ColumnFacts(self.local_parquet, specs) if specs else None
        try:
            self.gather(facts, self.scan_parts(checks, facts, set(specs)))
        finally:  # (even if the scan failed: polars must not go on reading once validate() returned)
            computed = offloaded.result() if offloaded else None
        if offloaded:
            self.queries += 1
            if computed is None:  # polars could not: DuckDB computes them
                self.gather(facts, [(list(specs), None)])
            else:
                facts.update(computed)

    def gather(self, facts: dict[str, Any], parts: list[tuple[list[str], str | None]]) -> None:
        """Run one statement computing every part's aggregates; store each value under its expression."""
        parts = [(exprs, where) for exprs, where in parts if exprs]
        if not parts:
            return
        if len(parts) == 1 and parts[0][1] is None:
            sql = flat_query(parts[0][0], SOURCE)
        else:
            sql = combined_query(parts, SOURCE)
        row = self.fetch(sql).fetchall()[0]  # aggregates without GROUP BY return one row
        facts.update(zip([e for exprs, _ in parts for e in exprs], row, strict=True))

    @staticmethod
    def needs(check: Any) -> list[str]:
        """Every aggregate ``check`` needs when all is computed in one pass (no statistics first)."""
        counted = _counted(check)
        return (check.aggregates() + ([count_failing(check.failing_predicate())] if counted else [])
                + ([_count_distinct(check)] if isinstance(check, Unique) else []))

    def summary_parts(self, checks: list[tuple[int, Any]],
                      handed: set[str]) -> list[tuple[list[str], str | None]]:
        """Plain counts, minima and maxima, one subquery per column: DuckDB answers a subquery from Parquet footer
        statistics only when it can answer all its aggregates that way (a column with nulls needs a scan for
        count(col), and that must not drag the other columns into a scan). Min/max only of integers, dates and
        timestamps: Parquet statistics of strings may be truncated, and those of FLOAT/DOUBLE leave NaN out while
        DuckDB, which orders NaN above every number, takes them at their word (for min/max and to prune a WHERE)."""
        exprs = ["count(*)"]
        scanned = self.scanned_later(checks, handed)
        for _, check in checks:
            exact = dtype_family(self.schema.get(getattr(check, "column", None) or "", "")) in _EXACT_STATISTICS
            if isinstance(check, NotNull) and check.col in scanned:
                continue  # its count(col) rides along in the scan (a column with nulls would be read twice)
            exprs += [e for e in check.aggregates() if is_plain(e) and (exact or e.startswith("count"))]
            if isinstance(check, Unique) and dtype_family(self.schema[check.column]) == "integer":
                exprs += [f"min({check.col})", f"max({check.col})"]
        by_column: dict[str | None, list[str]] = {}
        for expr in _unique(exprs, []):
            by_column.setdefault(plain_column(expr), []).append(expr)
        return [(group, None) for group in by_column.values()]

    def scanned_later(self, checks: list[tuple[int, Any]], handed: set[str]) -> set[str]:
        """Quoted columns the second statement reads in full whatever the statistics say: those with an aggregate
        the statistics cannot answer (min/max of floats or strings, lengths) and that polars does not compute
        (``handed``). A not_null count of such a column is computed there instead of in the first statement, unless
        a unique check needs the count before the scan."""
        later = set()
        for _, check in checks:
            exact = dtype_family(self.schema.get(getattr(check, "column", None) or "", "")) in _EXACT_STATISTICS
            if any(not (is_plain(e) and (exact or e.startswith("count"))) and e not in handed
                   for e in check.aggregates()):
                later.add(check.col)
        return later - {c.col for _, c in checks if isinstance(c, Unique)}

    def offloadable(self, checks: list[tuple[int, Any]]) -> dict[str, tuple[Any, ...]]:
        """What polars may compute beside DuckDB's scan (see :mod:`keel.data.validate_regex`), as
        :class:`~keel.data.validate_regex.ColumnFacts` specs: the failing-row counts of regex checks on string
        columns of local Parquet files, and the lengths of those columns (polars reads them anyway)."""
        if not self.local_parquet or not validate_regex.available():
            return {}
        specs: dict[str, tuple[Any, ...]] = {}
        for _, check in checks:
            if (isinstance(check, Regex) and self.schema.get(check.column) == "VARCHAR"
                    and validate_regex.plain_name(check.column)):
                pattern = validate_regex.rust_pattern(check.pattern)
                if pattern is not None:
                    specs[count_failing(check.failing_predicate())] = ("regex", check.column, pattern, check.pattern)
        read = {spec[1] for spec in specs.values()}
        for _, check in checks:
            if isinstance(check, StrLength) and check.column in read:
                low, high = check.aggregates()
                specs[low], specs[high] = ("min_length", check.column), ("max_length", check.column)
                specs[count_failing(check.failing_predicate())] = ("length_outside", check.column, check.min,
                                                                   check.max)
        return specs

    def worth_offloading(self, specs: dict[str, tuple[Any, ...]], rows: int) -> dict[str, tuple[Any, ...]]:
        """The specs worth handing to polars: only those of columns stored (at least in part) as plain values
        (DuckDB evaluates a predicate on dictionary-encoded values once per dictionary entry, which no per-row engine
        beats), and none unless they match at least ``MIN_MATCHES`` values (else starting polars costs more than it
        saves)."""
        def too_few(handed: dict[str, tuple[Any, ...]]) -> bool:
            return rows * sum(spec[0] == "regex" for spec in handed.values()) < validate_regex.MIN_MATCHES

        if too_few(specs):  # (no regex spec at all included)
            return {}
        if any("=" in part for file in self.local_parquet for part in Path(file).parts[:-1]):
            return {}  # Hive-style folders (col=value): DuckDB takes such a column from the path, polars would not
        plain = self.plain_encoded({spec[1] for spec in specs.values()})
        refused = {spec[1] for spec in specs.values() if spec[0] == "regex" and not self.re2_compiles(spec[3])}
        kept = {key: spec for key, spec in specs.items() if spec[1] in plain - refused}
        return {} if too_few(kept) else kept

    def re2_compiles(self, pattern: str) -> bool:
        """Whether DuckDB's RE2 takes ``pattern`` (it refuses some that Rust takes, such as nested counts above
        1000 in all); one it refuses stays in DuckDB's scan, which then names the check."""
        try:
            self.con.execute(_re2_probe(pattern)).fetchall()
        except duckdb.Error:
            return False
        return True

    def plain_encoded(self, columns: set[str]) -> set[str]:
        """Those of ``columns`` with a data page of plain values, as the files' page encoding statistics say (a
        file without them counts as dictionary-encoded)."""
        listing = ", ".join(sql_literal(f) for f in self.local_parquet)
        rows = self.con.execute(f"SELECT path_in_schema, encoding_stats FROM parquet_metadata([{listing}])").fetchall()
        return {str(path) for path, pages in rows if path in columns and any(
            page["page_type"].startswith("DATA_PAGE") and "DICTIONARY" not in page["encoding"] for page in pages or [])}

    def scan_parts(self, checks: list[tuple[int, Any]], facts: dict[str, Any],
                   handed: set[str]) -> list[tuple[list[str], str | None]]:
        """What the statistics did not settle: a part without WHERE for aggregates over all rows (one per
        count(DISTINCT), which DuckDB evaluates apart), and per column one part counting failing rows under the
        WHERE "any of them fails", which DuckDB pushes into the Parquet scan: evaluated once per dictionary entry,
        skipping row groups by their statistics (hence not for FLOAT/DOUBLE columns, see :meth:`summary_parts`;
        their counts, like those of sql checks, are filtered aggregates of the first part). A column the first
        part reads anyway (str_length's lengths) has its counts there too, read once, unless an in_set check marks
        it as categorical: there the dictionary evaluation is worth a second read."""
        general: list[str] = []
        distinct: list[str] = []
        predicates: dict[str, list[str]] = {}
        read_anyway = {c.col for _, c in checks if any(e not in facts and e not in handed for e in c.aggregates())}
        categorical = {c.col for _, c in checks if isinstance(c, InSet)}
        # facts settled here without a scan are stored right away
        for index, check in checks:
            general += [e for e in check.aggregates() if e not in facts and e not in handed]
            if isinstance(check, Unique):
                col, non_null = check.col, int(facts[f"count({check.col})"])
                if non_null <= 1:  # nothing can repeat
                    facts[_count_distinct(check)] = non_null
                    continue
                expr = check.distinct(self.schema[check.column], non_null, facts.get(f"min({col})"),
                                      facts.get(f"max({col})"))
                self.distinct[index] = expr
                (distinct if expr.startswith("count(DISTINCT") else general).append(expr)
            elif _counted(check):
                predicate = check.failing_predicate()
                if count_failing(predicate) in handed:
                    continue
                if (isinstance(check, InRange) and f"min({check.col})" in facts
                        and check.holds(self.schema[check.column], facts[f"min({check.col})"],
                                        facts[f"max({check.col})"])):
                    facts[count_failing(predicate)] = 0
                elif (isinstance(check, CustomSql) or self.floating(check)
                      or check.col in read_anyway - categorical):
                    general.append(count_failing(predicate))
                else:
                    predicates.setdefault(check.col, []).append(predicate)
        parts: list[tuple[list[str], str | None]] = [(_unique(general, list(facts)), None)]
        parts += [([expr], None) for expr in _unique(distinct, list(facts))]
        for group in predicates.values():
            group = _unique(group, [])
            parts.append(([count_failing(p) for p in group], " OR ".join(f"({p})" for p in group)))
        return parts

    def floating(self, check: Any) -> bool:
        """Whether ``check`` reads a FLOAT/DOUBLE column (NaN is not in Parquet statistics)."""
        column = getattr(check, "column", None)
        return column is not None and self.schema[column].upper() in ("FLOAT", "DOUBLE")

    @staticmethod
    def failing(check: Any, facts: dict[str, Any], rows: int) -> int | None:
        if isinstance(check, NotNull):
            return rows - int(facts[f"count({check.col})"])
        return int(facts[count_failing(check.failing_predicate())]) if _counted(check) else None

    def judge(self, index: int, check: Any, values: list[Any], failing: int | None, rows: int) -> CheckResult:
        if isinstance(check, Freshness):
            age = check.age_seconds(values[0], self.now)
            return _result(index, check, age is not None and age <= float(check.max_age), age,
                           message=None if age is not None else "the column has no values")
        observed, passed = check.judge(values, failing, rows)
        if isinstance(check, Unique):
            failing = observed
        examples = self.examples(check) if failing and not passed else []
        return _result(index, check, passed, observed, failing, examples)

    def examples(self, check: Any) -> list[dict[str, Any]]:
        sql = examples_query(check, SOURCE, self.max_examples)
        if sql is None or self.max_examples <= 0:
            return []
        cursor = self.fetch(sql)
        names = [d[0] for d in cursor.description or []]
        return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]

    def culprit(self, checks: list[tuple[int, Any]], exc: duckdb.Error) -> InvalidInput:
        """The first check whose SQL does not bind, named with DuckDB's reason."""
        for index, check in checks:
            sql = flat_query(_unique(["count(*)", *self.needs(check)], []), SOURCE)
            try:
                self.con.sql(sql + " LIMIT 0").fetchall()
                if isinstance(check, Regex):  # RE2 compiles a pattern only when it first matches a value
                    self.con.execute(_re2_probe(check.pattern)).fetchall()
            except duckdb.Error as bad:
                return InvalidInput(f"checks[{index}] {check.label}: {str(bad).splitlines()[0]}; fix the check",
                                    field=f"checks[{index}]")
        return read_error(exc) or InvalidInput(f"the suite could not be evaluated: {str(exc).splitlines()[0]}",
                                               field="checks")

    def distribution(self, index: int, check: Distribution) -> CheckResult:
        attach(self.con, _REFERENCE, check.reference, self.resolve)
        if check.column not in _schema(self.con, _REFERENCE):
            return _result(index, check, False, None, message=f"column {check.column!r} not in the reference")
        method = check.method
        if method == "auto":
            numeric = dtype_family(self.schema[check.column]) in ("integer", "float")
            method = "ks" if numeric else "chi2"
        with _readable():
            statistic, p_value = self.ks(check.column) if method == "ks" else self.chi2(check.column)
        observed = {"test": method, "statistic": statistic, "p_value": p_value}
        return _result(index, check, check.passes(statistic, p_value), observed)

    def ks(self, column: str) -> tuple[float, float]:
        from scipy import stats

        col = quote_ident(column)
        current = self.fetch(f"SELECT {col}::DOUBLE AS v FROM {SOURCE} WHERE {col} IS NOT NULL").fetchnumpy()["v"]
        ref = self.fetch(f"SELECT {col}::DOUBLE AS v FROM {_REFERENCE} WHERE {col} IS NOT NULL").fetchnumpy()["v"]
        if len(current) == 0 or len(ref) == 0:
            return math.nan, 0.0
        result = stats.ks_2samp(current, ref)
        return float(result.statistic), float(result.pvalue)

    def chi2(self, column: str) -> tuple[float, float]:
        from scipy import stats

        col = quote_ident(column)
        counts = [dict(self.fetch(f"SELECT {col}::VARCHAR, count(*) FROM {table} WHERE {col} IS NOT NULL "
                                  "GROUP BY 1").fetchall()) for table in (SOURCE, _REFERENCE)]
        categories = sorted(set(counts[0]) | set(counts[1]))
        if len(categories) < 2:
            return 0.0, 1.0
        table = [[c.get(k, 0) for k in categories] for c in counts]
        result = stats.chi2_contingency(table)
        return float(result.statistic), float(result.pvalue)


@contextmanager
def _readable() -> Iterator[None]:
    """Data that fails to parse part-way through a scan is a clear InvalidInput, not DuckDB's error."""
    try:
        yield
    except duckdb.Error as exc:
        error = read_error(exc)
        if error is None:
            raise
        raise error from exc


def _counted(check: Any) -> bool:
    """Whether the failing rows of ``check`` are counted with its predicate (not_null uses count(col); unique's
    predicate only finds examples)."""
    return check.failing_predicate() is not None and not isinstance(check, NotNull | Unique)


def _re2_probe(pattern: str) -> str:
    """A statement that fails if DuckDB's RE2 refuses ``pattern``."""
    return f"SELECT regexp_matches('', {sql_literal(pattern)})"


def _count_distinct(check: Unique) -> str:
    return f"count(DISTINCT {check.col})"


def _unique(exprs: list[str], known: list[str]) -> list[str]:
    """``exprs`` without repeats and without those in ``known``, in order."""
    seen, kept = set(known), []
    for expr in exprs:
        if expr not in seen:
            seen.add(expr)
            kept.append(expr)
    return kept


def _result(index: int, check: Any, passed: bool, observed: Any, failing: int | None = None,
            examples: list[dict[str, Any]] | None = None, message: str | None = None) -> CheckResult:
    return CheckResult(index=index, name=check.label, check=check.check, column=getattr(check, "column", None),
                       severity=check.severity, passed=bool(passed), observed=observed, failing_rows=failing,
                       examples=examples or [], message=message)


def _schema(con: duckdb.DuckDBPyConnection, view: str) -> dict[str, str]:
    return {str(name): str(dtype) for name, dtype, *_ in con.sql(f"DESCRIBE {view}").fetchall()}


def _column_stats(con: duckdb.DuckDBPyConnection, schema: dict[str, str]) -> dict[str, Any]:
    """One pass: per column the non-null count, and min/max (numbers) or the distinct count (strings, booleans)."""
    exprs, spans = ["count(*)"], {}
    for column, dtype in schema.items():
        col, family = quote_ident(column), dtype_family(dtype)
        start = len(exprs)
        exprs.append(f"count({col})")
        if family in ("integer", "float"):
            exprs += [f"min({col})", f"max({col})"]
        elif family == "string":
            exprs.append(f"approx_count_distinct({col})")
        spans[column] = (start, len(exprs))
    row = con.execute(f"SELECT {', '.join(exprs)} FROM {SOURCE}").fetchall()[0]
    stats: dict[str, Any] = {column: list(row[a:b]) for column, (a, b) in spans.items()}
    stats["__rows__"] = int(row[0])
    return stats


def _profile_column(con: duckdb.DuckDBPyConnection, column: str, family: str, stats: list[Any], rows: int,
                    max_set_size: int) -> list[Any]:
    checks: list[Any] = [ColumnExists(column=column), Dtype(column=column, dtype=family)]
    non_null = int(stats[0])
    if non_null == rows:
        checks.append(NotNull(column=column))
    if family in ("integer", "float") and non_null:
        low, high = (int(v) if family == "integer" else float(v) for v in stats[1:3])
        if math.isfinite(low) and math.isfinite(high):
            checks.append(InRange(column=column, min=low, max=high))
    elif family == "string" and non_null and int(stats[1]) <= 2 * max_set_size:
        col = quote_ident(column)
        values = [v for (v,) in con.execute(f"SELECT DISTINCT {col} FROM {SOURCE} WHERE {col} IS NOT NULL "
                                            f"ORDER BY 1 LIMIT {max_set_size + 1}").fetchall()]
        if len(values) <= max_set_size and 2 * len(values) <= non_null:
            checks.append(InSet(column=column, values=values))
    return checks

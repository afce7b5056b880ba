"""How validation reads Parquet: statistics first, then one scan of what they did not settle. The results must be
those of the one-pass plan used for other sources, down to failing counts and examples."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from keel.data import validate_run
from keel.data.validate_run import validate
from keel.data.validation import (
    CustomSql,
    Freshness,
    InRange,
    InSet,
    NotNull,
    Regex,
    RowCount,
    StrLength,
    Suite,
    Unique,
    is_plain,
    plain_column,
)
from keel_testing import record_duckdb

N = 3000
NOW = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def table_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 rows in row groups of 500, with known defects (see the checks below)."""
    rng = np.random.default_rng(7)
    i = np.arange(N)
    ids = i.copy()
    ids[-25:] = np.arange(25)  # 25 repeats
    dense = rng.integers(-50, 2000, N)  # many repeats, negative minimum
    sparse = rng.integers(-(2**62), 2**62, N)
    sparse[:5] = sparse[5:10]  # 5 repeats in a range far too wide for a bitmap
    amount = np.round(rng.random(N) * 100, 2)
    amount[[10, 20]] = [-1.0, 100.5]
    codes = np.array(["AB12CD34", "ZZZZ9999", "ab12cd34", "SHORT", "TOOLONG123"])
    code = codes[np.minimum(rng.integers(0, 60, N), 4) * (rng.random(N) < 0.1)]
    city = np.array(["ams", "ber", "cph", "oslo", "rome"])[rng.integers(0, 5, N)]
    table = pa.table({
        "id": pa.array(ids, pa.int64()),
        "nullable_id": pa.array(ids, pa.int32(), mask=i % 7 == 0),
        "small": pa.array(ids % 100, pa.int8()),
        "unsigned": pa.array(ids, pa.uint64()),
        "dense": pa.array(dense, pa.int64()),
        "sparse": pa.array(sparse, pa.int64()),
        "nothing": pa.array([None] * N, pa.int64()),
        "amount": pa.array(amount, mask=i == 40),
        "qty": pa.array(rng.integers(1, 11, N), pa.int64()),
        "city": pa.array(city).dictionary_encode(),
        "code": pa.array(code),
        "ts": pa.array(np.datetime64("2024-05-31T00:00:00") + i.astype("timedelta64[s]")),
    })
    path = tmp_path_factory.mktemp("scan") / "t.parquet"
    pq.write_table(table, path, row_group_size=500)
    return path


CHECKS: list[Any] = [
    NotNull(column="id"), NotNull(column="nullable_id"), NotNull(column="amount", max_fraction=0.01),
    Unique(column="id"), Unique(column="nullable_id"), Unique(column="small"), Unique(column="unsigned"),
    Unique(column="dense"), Unique(column="sparse"), Unique(column="nothing"), Unique(column="city"),
    InRange(column="qty", min=1, max=10), InRange(column="qty", min=1, max=10, max_inclusive=False),
    InRange(column="amount", min=0, max=100), InRange(column="amount", min=-1, max=100.5),
    InRange(column="id", min=0.5), InRange(column="nothing", min=0), InRange(column="code", min="A", max="Z"),
    InRange(column="ts", min=dt.datetime(2024, 5, 31, 0, 10)),
    InSet(column="city", values=["ams", "ber", "cph"]),
    InSet(column="city", values=["ams", "ber", "cph", "oslo", "rome"]),
    Regex(column="code", pattern="^[A-Z0-9]{8}$"), Regex(column="city", pattern="^[a-z]{3}$"),
    StrLength(column="code", min=8, max=8), StrLength(column="city", min=3, max=4),
    RowCount(min=1, max=N), Freshness(column="ts", max_age="1d"),
    CustomSql(expression="qty < 10 OR amount < 50"),
]


def _dump(result: Any) -> str:
    """The results as text; unique's examples (rows whose value repeats) come back in no set order."""
    checks = [c.model_dump(exclude={"examples"} if c.check == "unique" else set()) for c in result.checks]
    return json.dumps(checks, default=str)


def _one_pass(data: Any, suite: Suite, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> Any:
    """``validate`` with the one-query plan of CSV sources."""
    attach = validate_run.attach
    with monkeypatch.context() as patch:
        patch.setattr(validate_run, "attach", lambda *a, **k: attach(*a, **k)._replace(kind="text", local_parquet=[]))
        return validate(data, suite, **kwargs)


@pytest.mark.parametrize("source", ["parquet", "arrow"])
def test_columnar_plan_gives_the_one_pass_results(table_path: Path, source: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    suite = Suite(checks=CHECKS)
    data = table_path if source == "parquet" else pq.read_table(table_path)
    from_file = validate(data, suite, now=NOW)
    one_pass = _one_pass(data, suite, monkeypatch, now=NOW)
    assert one_pass.queries > 1 and from_file.queries > one_pass.queries  # both ran as planned
    assert _dump(from_file) == _dump(one_pass)
    observed = {c.name: (c.passed, c.failing_rows, c.observed) for c in from_file.checks}  # names may repeat
    assert observed["unique(id)"] == (False, 25, 25)
    assert observed["unique(sparse)"][1] == 5 and observed["unique(nothing)"] == (True, 0, 0)
    assert observed["not_null(nullable_id)"][1] == len(range(0, N, 7))
    assert (from_file.checks[13].failing_rows, from_file.checks[14].failing_rows) == (2, 0)  # amount in [0, 100]
    qty = pq.read_table(table_path).column("qty").to_numpy()
    assert (from_file.checks[11].failing_rows, from_file.checks[12].failing_rows) == (0, int((qty == 10).sum()))
    cities = pq.read_table(table_path).column("city").to_pylist()
    in_set = from_file.checks[19]
    unexpected = sum(c in ("oslo", "rome") for c in cities)
    assert (in_set.passed, in_set.failing_rows, in_set.observed) == (False, unexpected, 2)
    failing = {c.name for c in from_file.checks if not c.passed}
    assert {"regex(code)", "str_length(code)", "in_set(city)", "sql(qty < 10 OR amount < 50)"} <= failing
    assert all(len(c.examples) == min(5, c.failing_rows or 0) for c in from_file.checks if not c.passed)
    repeats = from_file.checks[3].examples
    assert len(repeats) == 5 and all(row["id"] < 25 for row in repeats)


def test_nan_counts_as_above_every_bound_as_in_one_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parquet statistics leave NaN out while DuckDB orders it above every number: min/max and failing counts of
    floating columns must come from the data, not from the statistics."""
    amount = pa.array([0.5, 2.0, float("nan"), None, 1.0], pa.float64())
    path = tmp_path / "nan.parquet"
    pq.write_table(pa.table({"amount": amount, "ratio": pa.array([0.5, 0.1, float("nan"), 0.2, 0.3], pa.float32())}),
                   path)
    suite = Suite(checks=[InRange(column="amount", min=0, max=2), InRange(column="ratio", max=1),
                          InRange(column="amount", max=float("inf")), NotNull(column="amount", max_fraction=0.2)])
    from_file, one_pass = validate(path, suite), _one_pass(path, suite, monkeypatch)
    summary = [(c.passed, c.failing_rows, json.dumps(c.observed)) for c in from_file.checks]
    assert summary == [(c.passed, c.failing_rows, json.dumps(c.observed)) for c in one_pass.checks]
    assert summary[0] == (False, 1, json.dumps({"min": 0.5, "max": float("nan")}))
    assert [s[1] for s in summary] == [1, 1, 1, 1]


def test_exact_unique_counts_agree_with_numpy(table_path: Path) -> None:
    table = pq.read_table(table_path)
    columns = ["id", "nullable_id", "small", "unsigned", "dense", "sparse", "nothing"]
    result = validate(table_path, Suite(checks=[Unique(column=c) for c in columns]))
    for column, check in zip(columns, result.checks, strict=True):
        values = table.column(column).drop_null().to_numpy()
        assert check.failing_rows == len(values) - len(np.unique(values)), column


def test_statistics_settle_passing_checks_without_a_scan(table_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    executed = record_duckdb(monkeypatch)
    settled = [NotNull(column="id"), InRange(column="qty", min=1, max=10), RowCount(min=N, max=N),
               Freshness(column="ts", max_age="1d"), InRange(column="nothing", min=0)]
    result = validate(table_path, Suite(checks=settled), now=NOW)
    assert result.success and result.queries == len(executed) == 1
    assert "FILTER" not in executed[0] and "WHERE" not in executed[0]

    executed.clear()
    more = [Unique(column="dense"), Regex(column="code", pattern="^[A-Za-z0-9]+$")]
    result = validate(table_path, Suite(checks=[*settled, *more]))
    assert result.queries == len(executed) == 3  # statistics, the scan, then the unique check's examples
    dense = pq.read_table(table_path).column("dense").to_numpy()
    assert f'bitstring_agg("dense", CAST({dense.min()} AS BIGINT), CAST({dense.max()} AS BIGINT))' in executed[1]
    assert "WHERE (NOT regexp_matches" in executed[1]  # the failing-row predicate is pushed into the scan


def test_in_memory_data_takes_two_passes_only_for_unique_integers(table_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    executed = record_duckdb(monkeypatch)
    table = pq.read_table(table_path)
    assert validate(table, Suite(checks=[NotNull(column="id"), Unique(column="ts")])).queries == 1
    executed.clear()
    result = validate(table, Suite(checks=[NotNull(column="id"), Unique(column="dense")]))
    assert result.queries == 3 and "bitstring_agg" in executed[1]  # statistics, scan, examples
    assert result.checks[1].failing_rows == len(table) - len(np.unique(table.column("dense").to_numpy()))


def test_a_failing_in_range_is_counted_by_the_scan(table_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    executed = record_duckdb(monkeypatch)
    result = validate(table_path, Suite(checks=[InRange(column="qty", min=2, max=10)]))
    (check,) = result.checks
    qty = pq.read_table(table_path).column("qty").to_numpy()
    assert check.failing_rows == int((qty < 2).sum()) > 0 and check.observed == {"min": 1, "max": 10}
    assert len(executed) == 3 and "WHERE (\"qty\" < 2" in executed[1]  # statistics, scan, examples


def test_in_set_counts_unexpected_values_only_when_rows_fail(table_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    executed = record_duckdb(monkeypatch)
    ok, bad = validate(table_path, Suite(checks=[InSet(column="city", values=["ams", "ber", "cph", "oslo", "rome"]),
                                                 InSet(column="city", values=["ams", "ber"])])).checks
    assert ok.passed and ok.observed == 0 and not bad.passed and bad.observed == 3
    distinct = [sql for sql in executed if "count(DISTINCT" in sql]
    assert len(distinct) == 1 and "'rome'" not in distinct[0]


@pytest.mark.parametrize(("check", "low", "high", "dtype", "holds"), [
    (InRange(column="x", min=0, max=10), 0, 10, "BIGINT", True),
    (InRange(column="x", min=0, max=10), -1, 10, "BIGINT", False),
    (InRange(column="x", min=0, max=10, min_inclusive=False), 0, 5, "INTEGER", False),
    (InRange(column="x", min=0, max=10, max_inclusive=False), 1, 10, "INTEGER", False),
    (InRange(column="x", min=0.5), 1, 3, "BIGINT", True),
    (InRange(column="x", max=1.0), 0.0, float("nan"), "DOUBLE", False),  # NaN: let DuckDB count
    (InRange(column="x", max=1.0), 0.0, float("inf"), "DOUBLE", False),
    (InRange(column="x", min=0), 0.0, 1.0, "FLOAT", False),  # FLOAT and DECIMAL compare in their own precision
    (InRange(column="x", min=0), 1, 2, "DECIMAL(9,2)", False),
    (InRange(column="x", min=0), "a", "b", "VARCHAR", False),
    (InRange(column="x", max=2.0**53), 0, 2**53 + 1, "BIGINT", False),  # not exact as a double: scan
    (InRange(column="x", max=2**62), 0, 2**62, "BIGINT", True),
    (InRange(column="x", max=True), 0, 1, "BIGINT", False),
    (InRange(column="x", min=0), None, None, "BIGINT", True),  # only nulls: nothing fails
])
def test_in_range_statistics_prove_only_what_duckdb_would_agree_with(check: InRange, low: Any, high: Any,
                                                                      dtype: str, holds: bool) -> None:
    assert check.holds(dtype, low, high) is holds


def test_plain_aggregates_are_recognised() -> None:
    assert is_plain("count(*)") and is_plain('min("a ""b""")') and plain_column('max("a ""b""")') == '"a ""b"""'
    assert not is_plain('min(length("a"))') and not is_plain('count(DISTINCT "a")') and plain_column("count(*)") is None


def test_not_null_of_a_column_scanned_anyway_is_counted_in_the_scan(table_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A floating column with nulls is read in full for its in_range: its not_null count comes from that scan, not
    from a second read in the statistics statement; a unique check keeps its count there (it sizes the bitmap)."""
    executed = record_duckdb(monkeypatch)
    suite = Suite(checks=[NotNull(column="amount", max_fraction=0.01), InRange(column="amount", min=0, max=100),
                          NotNull(column="nullable_id"), Unique(column="nullable_id"), StrLength(column="code", min=8)])
    result = validate(table_path, suite)
    assert 'count("amount")' not in executed[0] and 'count("amount")' in executed[1]
    assert 'count("nullable_id")' in executed[0] and 'count("nullable_id")' not in executed[1]
    assert _dump(result) == _dump(_one_pass(table_path, suite, monkeypatch))
    assert result.checks[0].failing_rows == 1 and result.checks[2].failing_rows == len(range(0, N, 7))

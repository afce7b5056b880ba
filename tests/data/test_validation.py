"""Validation checks on generated data: exact observed values and failing-row counts, one query, examples, gate."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from keel.data.suite_yaml import dump_suite, load_suite
from keel.data.validate_run import profile, validate
from keel.data.validation import (
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
)
from keel.errors import InvalidInput, NotFound
from keel_testing import record_duckdb

N = 1000
NOW = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """1,000 rows with known defects: 10 duplicate ids, 7 negative amounts, 4 unknown cities, 3 bad emails,
    20 null scores; timestamps one minute apart ending 2024-06-01 00:00 UTC minus 2 hours."""
    i = np.arange(N)
    ids = i.copy()
    ids[990:] = np.arange(10)
    amount = i.astype(float)
    amount[[3, 50, 100, 200, 300, 400, 500]] = -1.5
    city = np.array(["ams", "ber", "cph"])[i % 3].astype(object)
    city[[1, 2, 3, 4]] = "zurich"
    email = np.array([f"user{k}@x.io" for k in i], dtype=object)
    email[[7, 8, 9]] = "bad"
    score = pd.array([None if k % 50 == 0 else float(k % 7) for k in i], dtype="Float64")
    ts = pd.Timestamp("2024-06-01") - pd.Timedelta(hours=2) - pd.to_timedelta(N - 1 - i, unit="min")
    return pd.DataFrame({"id": ids, "amount": amount, "city": city, "email": email, "score": score, "ts": ts})


CASES: list[tuple[str, Any, Any, Any, Any, int | None]] = [
    # (id, passing check, failing check, observed on failing, failing rows)
    ("column_exists", ColumnExists(column="id"), ColumnExists(column="nope"), False, None),
    ("dtype", Dtype(column="amount", dtype="float"), Dtype(column="amount", dtype="integer"), "DOUBLE", None),
    ("dtype_exact", Dtype(column="id", dtype="BIGINT"), Dtype(column="id", dtype="VARCHAR"), "BIGINT", None),
    ("not_null", NotNull(column="amount"), NotNull(column="score"), 0.02, 20),
    ("unique", Unique(column="ts"), Unique(column="id"), 10, 10),
    ("in_range", InRange(column="amount", min=-1.5, max=999), InRange(column="amount", min=-1.5, min_inclusive=False,
                                                                     max=998), {"min": -1.5, "max": 999.0}, 8),
    ("in_set", InSet(column="city", values=["ams", "ber", "cph", "zurich"]),
     InSet(column="city", values=["ams", "ber", "cph"]), 1, 4),
    ("regex", Regex(column="email", pattern=r"^(user\d+@x\.io|bad)$"), Regex(column="email", pattern="@"), 3, 3),
    ("str_length", StrLength(column="email", min=3, max=12), StrLength(column="email", min=4, max=11),
     {"min": 3, "max": 12}, 3 + 900),
    ("row_count", RowCount(min=N, max=N), RowCount(min=N + 1), N, None),
    ("freshness", Freshness(column="ts", max_age="2h"), Freshness(column="ts", max_age=7199), 7200.0, None),
    ("sql", CustomSql(expression="amount >= -2"), CustomSql(expression="amount >= 0 AND score IS NOT NULL"), 21, 21),
]


@pytest.mark.parametrize(("good", "bad", "observed", "failing"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_check_passes_and_fails_with_exact_counts(frame: pd.DataFrame, good: Any, bad: Any, observed: Any,
                                                        failing: int | None) -> None:
    result = validate(frame, Suite(checks=[good, bad]), now=NOW)
    ok, ko = result.checks
    assert ok.passed and ok.failing_rows in (0, None) and ok.examples == []
    assert not ko.passed and ko.status == "fail"
    assert ko.observed == observed
    assert ko.failing_rows == failing
    assert not result.success and result.row_count == N


@pytest.mark.parametrize("source", ["frame", "csv"])
def test_all_aggregate_checks_share_one_query(frame: pd.DataFrame, tmp_path: Path, source: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """In memory and in CSV, every check in one query (Parquet, or a unique check on integers in memory: see
    test_validation_scan.py)."""
    frame.to_csv(tmp_path / "t.csv", index=False)
    data = frame if source == "frame" else str(tmp_path / "t.csv")
    executed = record_duckdb(monkeypatch)
    passing = [c[1] for c in CASES]
    result = validate(data, Suite(checks=passing), now=NOW)
    assert result.success and len(result.checks) == len(passing)
    assert len(executed) == 1 and result.queries == 1
    assert executed[0].startswith("SELECT count(*),")

    executed.clear()
    failing = [c[2] if c[0] != "unique" else Unique(column="city") for c in CASES]
    result = validate(data, Suite(checks=failing), now=NOW)
    with_rows = [c for c in result.checks if c.failing_rows]
    assert len(with_rows) == 7  # not_null, unique, in_range, in_set, regex, str_length, sql
    # the aggregate, in_set's distinct unexpected values (computed only when rows fail), then one example query each
    assert len(executed) == 1 + 1 + len(with_rows) == result.queries


def test_examples_are_capped_at_five_failing_rows(frame: pd.DataFrame) -> None:
    result = validate(frame, Suite(checks=[InRange(column="amount", min=0), NotNull(column="score")]))
    in_range, not_null = result.checks
    assert in_range.failing_rows == 7 and len(in_range.examples) == 5
    assert all(row["amount"] == -1.5 for row in in_range.examples)
    assert set(in_range.examples[0]) == set(frame.columns)
    assert len(not_null.examples) == 5 and all(row["score"] is None for row in not_null.examples)
    assert validate(frame, Suite(checks=[InRange(column="amount", min=0)]), max_examples=2).checks[0].examples[1]


def test_max_null_fraction_tolerates_nulls(frame: pd.DataFrame) -> None:
    tolerated, exceeded = validate(frame, Suite(checks=[NotNull(column="score", max_fraction=0.02),
                                                        NotNull(column="score", max_fraction=0.019)])).checks
    assert tolerated.passed and tolerated.observed == 0.02 and tolerated.failing_rows == 20 and not tolerated.examples
    assert not exceeded.passed and exceeded.failing_rows == 20 and len(exceeded.examples) == 5


def test_warn_checks_report_without_failing_the_gate(frame: pd.DataFrame) -> None:
    warn = validate(frame, Suite(checks=[Unique(column="id", severity="warn"), NotNull(column="amount")]))
    assert warn.success and [c.status for c in warn.checks] == ["warn", "pass"]
    error = validate(frame, Suite(checks=[Unique(column="id"), NotNull(column="amount", severity="warn")]))
    assert not error.success and [c.status for c in error.checks] == ["fail", "pass"]


def test_distribution_ks_and_chi_square(frame: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 2000), "cat": rng.choice(["a", "b", "c"], 2000, p=[.5, .3, .2])})
    same = pd.DataFrame({"x": rng.normal(0, 1, 2000), "cat": rng.choice(["a", "b", "c"], 2000, p=[.5, .3, .2])})
    moved = pd.DataFrame({"x": rng.normal(0.5, 1, 2000), "cat": rng.choice(["a", "b", "c"], 2000, p=[.2, .3, .5])})
    suite = Suite(checks=[Distribution(column="x", reference=ref), Distribution(column="cat", reference=pa.table(ref))])
    kept, drifted = validate(same, suite), validate(moved, suite)
    assert kept.success and [c.observed["test"] for c in kept.checks] == ["ks", "chi2"]
    assert all(c.observed["p_value"] > 0.05 for c in kept.checks)
    assert not drifted.success and all(c.observed["p_value"] < 1e-6 for c in drifted.checks)
    loose = Suite(checks=[Distribution(column="x", reference=ref, max_statistic=0.5)])
    assert validate(moved, loose).success


def test_missing_column_fails_the_check_and_names_the_columns(frame: pd.DataFrame) -> None:
    result = validate(frame, Suite(checks=[NotNull(column="idd"), NotNull(column="id")]))
    missing = result.checks[0]
    assert not missing.passed and "'idd' not found" in (missing.message or "") and "amount" in (missing.message or "")
    assert result.checks[1].passed


def test_broken_sql_names_the_check(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match=r"checks\[1\] sql\(no_such_col > 1\)"):
        validate(frame, Suite(checks=[NotNull(column="id"), CustomSql(expression="no_such_col > 1")]))


def test_paths_refs_and_bad_sources(frame: pd.DataFrame, tmp_path: Path) -> None:
    suite = Suite(checks=[Unique(column="id"), RowCount(min=N, max=N)])
    frame.to_parquet(tmp_path / "t.parquet")
    frame.to_csv(tmp_path / "t.csv", index=False)
    for data in (tmp_path / "t.parquet", str(tmp_path / "t.csv"), pa.Table.from_pandas(frame)):
        result = validate(data, suite)
        assert result.row_count == N and result.checks[0].failing_rows == 10
    via_ref = validate("orders@v2", suite, resolve=lambda ref: frame if ref == "orders@v2" else None)
    assert via_ref.source == "orders@v2" and via_ref.checks[0].observed == 10
    with pytest.raises(NotFound, match="nothing.parquet"):
        validate(str(tmp_path / "nothing.parquet"), suite)


def test_yaml_errors_name_line_and_field() -> None:
    text = "name: s\nchecks:\n  - {check: not_null, column: id}\n  - check: in_range\n    column: x\n    min: 0\n"
    assert len(load_suite(text).checks) == 2
    cases = {
        text.replace("min: 0", "min_inclusive: maybe\n    min: 0"): ("line 6", "checks[1].min_inclusive"),
        text.replace("check: in_range", "check: in_rnage"): ("line 4", "checks[1].check"),
        text.replace("    column: x\n", ""): ("line 4", "checks[1].column"),
        text.replace("column: id}", "column: id, max_fraction: 2}"): ("line 3", "checks[0].max_fraction"),
        text.replace("    min: 0\n", "    colour: red\n    min: 0\n"): ("line 6", "checks[1].colour"),
        text + "  - {check: regex, column: e, pattern: '('}\n": ("line 7", "checks[2].pattern"),
    }
    for bad, (line, field) in cases.items():
        with pytest.raises(InvalidInput) as info:
            load_suite(bad, source="s.yaml")
        assert info.value.message.startswith(f"s.yaml {line}: {field}:"), info.value.message
        assert info.value.field == field
    with pytest.raises(InvalidInput, match=r"s.yaml line 5: YAML syntax error"):
        load_suite(text.replace("column: x", "column: x: y"), source="s.yaml")


def test_profile_round_trips_through_yaml_and_catches_new_defects(frame: pd.DataFrame) -> None:
    suite = load_suite(dump_suite(profile(frame)))
    kinds = {(c.check, getattr(c, "column", None)) for c in suite.checks}
    assert ("not_null", "amount") in kinds and ("not_null", "score") not in kinds
    assert ("in_set", "city") in kinds and ("in_set", "email") not in kinds
    assert ("in_range", "amount") in kinds and ("row_count", None) in kinds
    assert validate(frame, suite).success
    worse = frame.assign(amount=frame.amount - 10, city=frame.city.where(frame.index > 0, "oslo"))
    failed = {c.name for c in validate(worse, suite).failed}
    assert failed == {"in_range(amount)", "in_set(city)"}


def test_reports_json_and_html_show_every_check(frame: pd.DataFrame, tmp_path: Path) -> None:
    checks = [c[2] for c in CASES] + [Unique(column="amount", severity="warn", name="amount <is> unique")]
    result = validate(frame, Suite(name="orders", checks=checks), now=NOW)
    result.write_json(tmp_path / "r.json")
    result.write_html(tmp_path / "r.html")
    body = json.loads((tmp_path / "r.json").read_text())
    assert body["success"] is False and len(body["checks"]) == len(checks)
    assert body["checks"][4]["failing_rows"] == 10 and len(body["checks"][4]["examples"]) == 5
    page = (tmp_path / "r.html").read_text()
    for check in result.checks:
        assert f"<code>{check.name.replace('<', '&lt;').replace('>', '&gt;')}</code>" in page
    assert page.count("class='status fail'") == len(CASES) + 1 and "amount &lt;is&gt; unique" in page


def test_scale_sanity_one_million_rows_twenty_checks() -> None:
    rng = np.random.default_rng(1)
    n = 1_000_000
    big = pa.table({"a": rng.integers(0, 100, n), "b": rng.normal(size=n), "c": rng.choice(["x", "y", "z"], n)})
    checks: list[Any] = []
    for col in ("a", "b", "c"):
        checks += [ColumnExists(column=col), NotNull(column=col)]
    checks += [InRange(column="a", min=0, max=99), InRange(column="b", min=-10, max=10), InSet(column="c", values=list(
        "xyz")), Regex(column="c", pattern="^[xyz]$"), StrLength(column="c", min=1, max=1), RowCount(min=n, max=n),
        CustomSql(expression="a >= 0"), CustomSql(expression="b < 100"), Dtype(column="a", dtype="integer"),
        Dtype(column="b", dtype="float"), Dtype(column="c", dtype="string"), Unique(column="a", severity="warn"),
        CustomSql(expression="a + b > -1000"), InRange(column="a", min=0)]
    assert len(checks) == 20
    started = time.perf_counter()
    result = validate(big, Suite(checks=checks))
    print(f"\n1M rows x 20 checks: {time.perf_counter() - started:.2f} s, {result.queries} queries")
    assert result.success and result.checks[-3].status == "warn"

"""Regex checks handed to polars (Rust's regex crate) over local Parquet files: the translation of RE2 patterns is
checked against DuckDB's RE2 on generated patterns and strings, and validation gives DuckDB's own results, down to
failing counts and examples, whether polars computes them, DuckDB does, or polars fails and hands them back."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.data import validate_regex
from keel.data.validate_regex import rust_pattern
from keel.data.validate_run import validate
from keel.data.validation import CustomSql, InSet, NotNull, Regex, StrLength, Suite
from keel.errors import InvalidInput
from keel_testing import record_duckdb

# strings where RE2 and a Unicode-aware engine could disagree: non-ASCII digits, letters and spaces, newlines, a
# vertical tab (in POSIX [:space:], not in RE2's \s), combining marks, emoji, and regex punctuation as text
STRINGS = ["", "a", "ab", "abc", "b1", "a.b", "a-b", "A_1", "a\nb", "ab\n", "\n", "é", "e\u0301", "٣", "12", "1 2",
           "a\tb", "a\vb", "\u00a0", "\u2003x", "x@y.io", "user1@example.com", "ABCD1234", "abcd1234", "_", "a]b",
           "a{2}", "(a)", "a|b", "ǅ", "\u212a", "k", "K", "👍🏽", "aa", "aaa", "-", "#", "}", "a b", "Ab", "AB"]

ATOMS = ["a", "b", "1", ".", r"\.", r"\-", r"\d", r"\D", r"\w", r"\W", r"\s", r"\S", "[a-c]", "[^ab]", r"[\d_]",
         "[[:alpha:]]", "[[:^digit:]]", "[[:space:]]", "[.-]", r"\t", r"\n", r"\v", "é", "٣", " ", "@", r"\x41",
         r"\x{e9}", "-", "]", "}", "#", r"[\s]", r"[\w.]", r"[^\n]", "k", "[k]", r"[\s-]",
         # constructs the translation must refuse (or translate exactly)
         r"\b", r"\B", "(?i)k", "(?s).", r"\pL", r"\p{Greek}", "[a&&b]", "[a--b]", "[a~~b]", r"\Z", "(?=a)",
         "a{,2}", r"\1", r"\0", r"\Qa.\E", r"[\d-z]", "[]a]"]
QUANTIFIERS = ["*", "+", "?", "{2}", "{1,2}", "{0,}", "*?", "+?", "??", "{2}?", "*+", "{1001}"]


def _regexes() -> st.SearchStrategy[str]:
    atom = st.sampled_from(ATOMS)
    body = st.recursive(atom, lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(QUANTIFIERS)).map("".join),
        st.lists(inner, min_size=2, max_size=4).map("".join),
        st.tuples(inner, inner).map("|".join),
        inner.map(lambda x: f"({x})"),
        inner.map(lambda x: f"(?:{x})"),
        inner.map(lambda x: f"(?P<g>{x})"),
    ), max_leaves=6)
    return st.tuples(st.sampled_from(["", "^", r"\A"]), body, st.sampled_from(["", "$", r"\z"])).map("".join)


@pytest.fixture(scope="module")
def strings() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (i INTEGER, s VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?, ?)", list(enumerate(STRINGS)))
    return con


def _re2(con: duckdb.DuckDBPyConnection, pattern: str) -> list[bool] | None:
    """DuckDB's answers (RE2) for every string, or None if RE2 refuses the pattern."""
    try:
        return [bool(v) for (v,) in con.execute("SELECT regexp_matches(s, ?) FROM t ORDER BY i", [pattern]).fetchall()]
    except duckdb.Error:
        return None


def _rust(pattern: str) -> list[bool] | None:
    """polars' answers (Rust's regex crate) for every string, or None if the crate refuses the pattern."""
    try:
        return [bool(v) for v in pl.Series(STRINGS).str.contains(pattern, strict=True).to_list()]
    except Exception:  # noqa: BLE001 - polars raises its own ComputeError
        return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pattern=_regexes())
def test_translated_patterns_match_what_re2_matches(strings: duckdb.DuckDBPyConnection, pattern: str) -> None:
    try:
        re.compile(pattern)  # the suite's own check: a pattern Python refuses never reaches an engine
    except re.error:
        return
    translated = rust_pattern(pattern)
    if translated is None:
        return
    expected, got = _re2(strings, pattern), _rust(translated)
    if expected is None:  # RE2 refuses it: polars must not quietly count (validation reports DuckDB's error)
        assert got is None, (pattern, translated)
    elif got is not None:  # (a pattern the crate refuses goes back to DuckDB)
        differ = [s for s, a, b in zip(STRINGS, got, expected, strict=True) if a != b]
        assert not differ, (pattern, translated, differ)


@pytest.mark.parametrize(("pattern", "rust"), [
    (r"^[a-z0-9._]+@[a-z0-9.]+\.[a-z]{2,}$", r"^[a-z0-9._]+@[a-z0-9.]+\x{2E}[a-z]{2,}$"),
    (r"^[A-Z0-9]{8}$", r"^[A-Z0-9]{8}$"),
    (r"^\d{4}-\d{2}-\d{2}$", r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
    (r"\w+\s\S", r"[0-9A-Za-z_]+[\t\n\f\r ][^\t\n\f\r ]"),
    (r"(?P<year>\d+)|x??", r"(?:[0-9]+)|x??"),
    (r"[\d.]+[[:upper:]]", r"[0-9.]+[[:upper:]]"),
])
def test_common_patterns_translate(pattern: str, rust: str) -> None:
    assert rust_pattern(pattern) == rust


@pytest.mark.parametrize("pattern", [r"\bword\b", "(?i)abc", r"\p{L}+", "[a-z&&[^aeiou]]", "[a--b]", "a*+",
                                     "a{1001}", "a{,3}", "(?=x)", r"(a)\1", r"[\d-z]", "[]a]", "^*", "x|*",
                                     "a{01}", "a{1,02}",  # RE2 reads a count with a leading zero as text
                                     "a(?:)", "()b", "(?P<n>)x"])  # DuckDB rewrites empty groups (a(?:): suffix)
def test_patterns_that_could_mean_something_else_stay_in_duckdb(pattern: str) -> None:
    assert rust_pattern(pattern) is None


# --- validation over Parquet -------------------------------------------------------------------------------------

N = 4000


@pytest.fixture(scope="module")
def table_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Codes with defects of every kind (wrong case, short, long, non-ASCII digits and letters, a combining mark,
    an emoji), emails, a categorical (dictionary-encoded) column and an integer column; some nulls."""
    rng = np.random.default_rng(11)
    pool = np.array(["AB12CD34", "ZZZZ9999", "ab12cd34", "SHORT", "TOOLONG123", "AB12CD3٣", "ÉB12CD34", "AB12CD3\u0301",
                     "AB12👍🏽", "AB12 CD3"])
    code = pool[np.minimum(rng.integers(0, 40, N), 9) * (rng.random(N) < 0.3)].astype(object)
    code[rng.random(N) < 0.05] = None
    email = np.array([f"user{i}@example.com" if i % 97 else f"user {i}@example" for i in range(N)], dtype=object)
    table = pa.table({
        "code": pa.array(code, pa.string()),
        "email": pa.array(email, pa.string()),
        "city": pa.array(np.array(["ams", "ber", "Oslo"])[rng.integers(0, 3, N)]).dictionary_encode(),
        "n": pa.array(rng.integers(0, 1000, N)),
    })
    path = tmp_path_factory.mktemp("regex") / "t.parquet"
    pq.write_table(table, path, row_group_size=1000, use_dictionary=["city"])  # the others as plain values
    return path


SUITE = Suite(checks=[
    Regex(column="code", pattern=r"^[A-Z0-9]{8}$"), Regex(column="code", pattern=r"^\w{8}$"),
    Regex(column="code", pattern=r"\s"), StrLength(column="code", min=8, max=8), StrLength(column="code", max=9),
    NotNull(column="code"), Regex(column="email", pattern=r"^[a-z0-9._]+@[a-z0-9.]+\.[a-z]{2,}$"),
    Regex(column="email", pattern=r"\bexample\b"),  # stays in DuckDB (a word boundary)
    Regex(column="city", pattern="^[a-z]{3}$"), InSet(column="city", values=["ams", "ber"]),
    Regex(column="n", pattern=r"^\d{1,2}$"),  # an integer column: DuckDB casts it
])


def _dump(result: Any) -> str:
    return json.dumps([c.model_dump() for c in result.checks], default=str)


def _starts(monkeypatch: Any) -> list[validate_regex.ColumnFacts]:
    """Record every polars pass started from now on."""
    started: list[validate_regex.ColumnFacts] = []
    real_init = validate_regex.ColumnFacts.__init__

    def init(self: validate_regex.ColumnFacts, files: list[str], specs: dict[str, Any]) -> None:
        started.append(self)
        real_init(self, files, specs)

    monkeypatch.setattr(validate_regex.ColumnFacts, "__init__", init)
    return started


def _polars_results(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Hand over at any size, and record what each polars pass returned (None: it failed)."""
    monkeypatch.setattr(validate_regex, "MIN_MATCHES", 0)
    returned: list[Any] = []
    real_result = validate_regex.ColumnFacts.result

    def result(self: validate_regex.ColumnFacts) -> Any:
        returned.append(real_result(self))
        return returned[-1]

    monkeypatch.setattr(validate_regex.ColumnFacts, "result", result)
    return returned


def test_polars_counts_equal_duckdbs_down_to_examples(table_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(validate_regex, "available", lambda: False)
        by_duckdb = validate(table_path, SUITE)
    computed = _polars_results(monkeypatch)
    executed = record_duckdb(monkeypatch)
    with_polars = validate(table_path, SUITE)
    assert len(computed) == 1 and computed[0] is not None  # polars computed its part
    assert _dump(with_polars) == _dump(by_duckdb)
    # DuckDB's scan left the handed-over regexes and code's lengths to polars
    scan = next(sql for sql in executed if "FILTER" in sql)
    assert 'regexp_matches("code"' not in scan and 'length("code"' not in scan
    assert 'regexp_matches("email"::VARCHAR, \'\\bexample' in scan  # (a word boundary)
    assert 'regexp_matches("n"' in scan and 'regexp_matches("city"' in scan
    assert with_polars.queries == by_duckdb.queries + 1  # polars' pass is counted too

    # independent of both engines: Python's re on the same values (these patterns mean the same there)
    values = pq.read_table(table_path).to_pydict()
    codes = [c for c in values["code"] if c is not None]
    results = {(c.name, c.index): c for c in with_polars.checks}
    assert results[("regex(code)", 0)].failing_rows == sum(not re.search(r"^[A-Z0-9]{8}\Z", c, re.ASCII)
                                                          for c in codes)
    assert results[("regex(code)", 1)].failing_rows == sum(not re.search(r"^\w{8}\Z", c, re.ASCII) for c in codes)
    assert results[("str_length(code)", 3)].failing_rows == sum(len(c) != 8 for c in codes)
    assert results[("str_length(code)", 3)].observed == {"min": min(map(len, codes)), "max": max(map(len, codes))}
    assert results[("regex(email)", 6)].failing_rows == sum(not e.endswith(".com") for e in values["email"]) > 0
    assert all(len(c.examples) == min(5, c.failing_rows or 0) for c in with_polars.checks if not c.passed)


def test_polars_failing_hands_the_checks_back_to_duckdb(table_path: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder whose second file lacks the column: DuckDB reads it as nulls, polars refuses the scan."""
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(pq.read_table(table_path), folder / "a.parquet", use_dictionary=False)
    pq.write_table(pa.table({"n": pa.array([1, 2, 3])}), folder / "b.parquet")
    suite = Suite(checks=[Regex(column="code", pattern=r"^[A-Z0-9]{8}$"), StrLength(column="code", min=8, max=8),
                          Regex(column="email", pattern=r"@example\.com$")])
    with monkeypatch.context() as patch:
        patch.setattr(validate_regex, "available", lambda: False)
        by_duckdb = validate(folder, suite)
    handed_back = _polars_results(monkeypatch)
    fallen_back = validate(folder, suite)
    assert handed_back == [None]  # polars was asked, and failed
    assert _dump(fallen_back) == _dump(by_duckdb) and not fallen_back.checks[0].passed
    assert fallen_back.row_count == N + 3


def test_small_tables_and_other_sources_stay_in_duckdb(table_path: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    started = _starts(monkeypatch)
    validate(table_path, SUITE)  # 4,000 rows: below MIN_MATCHES
    assert started == []
    # four regex checks go over (three on code, one on email): 4 x 4,000 values to match
    monkeypatch.setattr(validate_regex, "MIN_MATCHES", 4 * N + 1)
    validate(table_path, SUITE)
    assert started == []
    monkeypatch.setattr(validate_regex, "MIN_MATCHES", 4 * N)
    validate(table_path, SUITE)
    assert len(started) == 1 and sum(spec[0] == "regex" for spec in started.pop().specs.values()) == 4
    monkeypatch.setattr(validate_regex, "MIN_MATCHES", 0)
    frame = pq.read_table(table_path).to_pandas()
    frame.to_csv(tmp_path / "t.csv", index=False)
    validate(frame, SUITE)
    validate(tmp_path / "t.csv", SUITE)
    assert started == []  # data in memory and text files: DuckDB alone
    validate(table_path, SUITE)
    assert len(started) == 1
    # city is dictionary-encoded: DuckDB matches each distinct value once, so it stays there
    assert sorted({spec[1] for spec in started[0].specs.values()}) == ["code", "email"]


def test_a_dataset_version_is_handed_over_where_it_is_stored(keel_home: Path, table_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A version's objects have no .parquet suffix; polars reads them where they are, as DuckDB does."""
    import keel

    keel.data.add(table_path, "codes")
    with monkeypatch.context() as patch:
        patch.setattr(validate_regex, "available", lambda: False)
        by_duckdb = validate("codes@v1", SUITE)
    computed = _polars_results(monkeypatch)
    with_polars = validate("codes@v1", SUITE)
    assert len(computed) == 1 and computed[0] is not None  # polars did read the stored object
    assert _dump(with_polars) == _dump(by_duckdb) and with_polars.source == "codes@v1"


def test_a_process_forked_after_polars_was_loaded_leaves_it_alone() -> None:
    """Pipeline steps and tuning trials run in forked workers; polars' threads do not survive a fork."""
    assert validate_regex.available() and "polars" in sys.modules
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports, then leaves without running the parent's exit handlers
        os.write(write, b"1" if validate_regex.available() else b"0")
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"0"
    assert validate_regex.available()  # the parent is unaffected


def _both_ways(data: Any, suite: Suite, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, list[Any]]:
    """validate() by DuckDB alone, then with polars allowed at any size; and the specs handed to polars."""
    with monkeypatch.context() as patch:
        patch.setattr(validate_regex, "available", lambda: False)
        by_duckdb = validate(data, suite)
    with monkeypatch.context() as patch:
        patch.setattr(validate_regex, "MIN_MATCHES", 0)
        started = _starts(patch)
        return by_duckdb, validate(data, suite), [facts.specs for facts in started]


def test_what_polars_would_read_otherwise_stays_in_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A column whose name polars reads as a pattern, and Hive-style folders (DuckDB takes such a column's values
    from the path, polars from the file)."""
    path = tmp_path / "names.parquet"
    pq.write_table(pa.table({"^c.*$": ["x1", "x2", "nope"], "code": ["a", "b", "c"]}), path, use_dictionary=False)
    by_duckdb, with_polars, handed = _both_ways(path, Suite(checks=[Regex(column="^c.*$", pattern="^x[0-9]$")]),
                                                monkeypatch)
    assert handed == [] and _dump(with_polars) == _dump(by_duckdb)
    assert with_polars.checks[0].failing_rows == 1

    folder = tmp_path / "hive" / "region=eu"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"region": ["EU-1", "EU-2"], "s": ["a", "b"]}), folder / "p.parquet", use_dictionary=False)
    by_duckdb, with_polars, handed = _both_ways(tmp_path / "hive",
                                                Suite(checks=[Regex(column="region", pattern="^[A-Z]{2}-[0-9]$")]),
                                                monkeypatch)
    assert handed == [] and _dump(with_polars) == _dump(by_duckdb)


def test_a_pattern_re2_refuses_is_an_error_naming_the_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rust takes nested counts whose product passes 1000; RE2 does not, and the suite must not pass quietly."""
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"s": ["ab", "cd"]}), path, use_dictionary=False)
    nested = r"^((a|b|c|d){10}){200}$|^[a-d]+$"
    assert rust_pattern(nested) is not None
    suite = Suite(checks=[Regex(column="s", pattern="^[a-z]+$"), Regex(column="s", pattern=nested)])
    monkeypatch.setattr(validate_regex, "MIN_MATCHES", 0)
    with pytest.raises(InvalidInput, match=r"checks\[1\] regex\(s\): .*invalid repetition size"):
        validate(path, suite)
    monkeypatch.setattr(validate_regex, "available", lambda: False)  # DuckDB alone names it too
    with pytest.raises(InvalidInput, match=r"checks\[1\] regex\(s\): .*invalid repetition size"):
        validate(path, suite)
    lookahead = Suite(checks=[Regex(column="s", pattern="^(?=a)")])  # Python takes it; RE2 does not
    with pytest.raises(InvalidInput, match=r"checks\[0\] regex\(s\): .*invalid perl operator"):
        validate(path, lookahead)


def test_polars_is_done_before_a_failed_validation_returns(table_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started = _starts(monkeypatch)
    monkeypatch.setattr(validate_regex, "MIN_MATCHES", 0)
    suite = Suite(checks=[Regex(column="code", pattern="^[A-Z0-9]{8}$"), CustomSql(expression="no_such_column > 1")])
    with pytest.raises(InvalidInput, match="checks\\[1\\]"):
        validate(table_path, suite)
    assert len(started) == 1 and not started[0]._thread.is_alive()

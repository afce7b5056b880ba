"""Keel's point-in-time join against a brute-force oracle: random data (hypothesis) and one named test per rule.

The rule (the spec): per entity row and feature, the value of the source row with the same join key(s) whose
timestamp is the greatest one <= the entity row's timestamp; among equal (key, timestamp) rows the later one in the
source (file order, across files) wins; with a ttl the chosen row must be >= entity time - ttl (inclusive); rows with
a null timestamp are ignored; a null value in the chosen row stays null; no qualifying row gives null.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keel.features as kf
from keel.tracking.context import reset_backend

T0 = datetime(2024, 1, 1, tzinfo=UTC)
TS = "event_timestamp"
ENTITIES = {("driver_id",): kf.Entity("driver", join_keys=["driver_id"]),
            ("a_id", "b_id"): kf.Entity("pair", join_keys=["a_id", "b_id"])}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@dataclass
class ViewData:
    """One view's source rows in file order (``event_timestamp`` in minutes from T0, or None) and its settings."""

    name: str
    keys: tuple[str, ...]
    rows: list[dict[str, Any]]
    ttl_min: int | None = None
    naive: bool = False  # source timestamps without a time zone (UTC wall time)
    split: int | None = None  # a directory of two files: rows[:split] and rows[split:]

    @property
    def features(self) -> list[str]:
        return [f"{self.name}_x", f"{self.name}_n"]


Scenario = tuple[list[ViewData], list[dict[str, Any]], bool]  # views, entity rows, naive entity timestamps


def _write(path: Path, view: ViewData, rows: Sequence[dict[str, Any]]) -> None:
    ts_type = pa.timestamp("us") if view.naive else pa.timestamp("us", tz="UTC")
    stamp = (lambda m: at(m).replace(tzinfo=None)) if view.naive else at
    columns = {k: pa.array([r[k] for r in rows], pa.int64()) for k in view.keys}
    columns[TS] = pa.array([None if r[TS] is None else stamp(r[TS]) for r in rows], ts_type)
    x, n = view.features
    columns[x] = pa.array([r[x] for r in rows], pa.float64())
    columns[n] = pa.array([r[n] for r in rows], pa.int64())
    pq.write_table(pa.table(columns), path)


def apply_views(root: Path, *views: ViewData) -> None:
    """Write each view's source under ``root`` and apply the views with their entities in one go."""
    definitions: list[Any] = []
    for view in views:
        if view.split is None:
            source = root / f"{view.name}.parquet"
            _write(source, view, view.rows)
        else:
            source = root / view.name
            source.mkdir()
            _write(source / "part-0.parquet", view, view.rows[:view.split])
            _write(source / "part-1.parquet", view, view.rows[view.split:])
        x, n = view.features
        entity = ENTITIES[view.keys]
        ttl = None if view.ttl_min is None else timedelta(minutes=view.ttl_min)
        definitions += [entity, kf.FeatureView(view.name, entities=[entity], source=str(source), ttl=ttl,
                                               schema=[kf.Field(x, "float64"), kf.Field(n, "int64")])]
    kf.apply(list({d.name: d for d in definitions}.values()))


def oracle(entity: dict[str, Any], view: ViewData, feature: str) -> float | None:
    """The spec, by brute force over the source rows in file order."""
    best = None
    for row in view.rows:
        if row[TS] is None or row[TS] > entity[TS] or any(row[k] != entity[k] for k in view.keys):
            continue
        if best is None or row[TS] >= best[TS]:  # >=: a later row with the same timestamp wins
            best = row
    if best is None or (view.ttl_min is not None and best[TS] < entity[TS] - view.ttl_min):
        return None
    value = best[feature]
    return None if value is None else float(value)


def null(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def entity_frame(rows: Sequence[dict[str, Any]], naive: bool = False, tz: str | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({k: [r[k] for r in rows] for k in rows[0] if k != TS})
    stamps = pd.Series([at(r[TS]) for r in rows], dtype="datetime64[us, UTC]")
    frame[TS] = stamps.dt.tz_localize(None) if naive else stamps.dt.tz_convert(tz) if tz else stamps
    return frame


@pytest.fixture
def fresh_home(keel_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], Path]:
    """Calling it points KEEL_HOME at a new empty home (as ``keel_home`` does) and returns a scratch directory."""
    def make() -> Path:
        root = tmp_path / f"ex-{uuid.uuid4().hex[:10]}"
        root.mkdir()
        monkeypatch.setenv("KEEL_HOME", str(root / "home"))
        reset_backend()
        return root
    return make


# ---------------------------------------------------------------- property test


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """1-2 views and entity rows built to collide: source rows often repeat an earlier (key, time), entity rows often
    sit exactly on a source row's time or exactly ttl after it."""
    views = []
    for i in range(draw(st.integers(1, 2))):
        view = ViewData(f"v{i}", ("a_id", "b_id") if draw(st.booleans()) else ("driver_id",), [],
                        draw(st.sampled_from([None, 1, 2, 5])), draw(st.booleans()))
        for j in range(draw(st.integers(0, 12))):
            minute = draw(st.integers(-3, 30))  # about 1 in 10 timestamps is null
            row: dict[str, Any] = {k: draw(st.integers(0, 2)) for k in view.keys} | {TS: None if minute < 0 else minute}
            if view.rows and draw(st.integers(0, 2)) == 0:  # a duplicate (key, timestamp)
                row = {k: v for k, v in draw(st.sampled_from(view.rows)).items() if k in (*view.keys, TS)}
            x, n = view.features  # distinct values per row, so a wrong pick shows
            row[x] = None if draw(st.integers(0, 4)) == 0 else j + 0.5
            row[n] = None if draw(st.integers(0, 4)) == 0 else 100 * (i + 1) + j
            view.rows.append(row)
        view.split = draw(st.none() | st.integers(0, len(view.rows)))
        views.append(view)
    entity_rows = []
    for _ in range(draw(st.integers(1, 10))):
        row = {"driver_id": draw(st.integers(0, 3)), "a_id": draw(st.integers(0, 3)), "b_id": draw(st.integers(0, 3)),
               TS: draw(st.integers(0, 32))}
        view = draw(st.sampled_from(views))
        timed = [r for r in view.rows if r[TS] is not None]
        mode = draw(st.integers(0, 3))
        if timed and mode > 0:  # on a source row's key and time, or exactly ttl (or ttl + 1 minute) after it
            source = draw(st.sampled_from(timed))
            row |= {k: source[k] for k in view.keys}
            row[TS] = source[TS] + (0 if mode == 1 or view.ttl_min is None else view.ttl_min + mode - 2)
        entity_rows.append(row)
    return views, entity_rows, draw(st.booleans())


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scenarios())
def test_join_matches_oracle(fresh_home: Callable[[], Path], scenario: Scenario) -> None:
    views, entity_rows, naive = scenario
    root = fresh_home()
    apply_views(root, *views)
    entity = entity_frame(entity_rows, naive=naive)
    refs = [f"{v.name}:{f}" for v in views for f in v.features]
    out = kf.get_historical_features(entity, refs, timestamp_column=TS)
    features = [f for v in views for f in v.features]
    assert list(out.columns) == [*entity.columns, *features]
    pd.testing.assert_frame_equal(out[list(entity.columns)], entity)
    for i, row in enumerate(entity_rows):
        for view in views:
            for feature in view.features:
                got, want = null(out[feature].iloc[i]), oracle(row, view, feature)
                assert got == want, f"row {i} ({row}), feature {feature}: got {got}, want {want}"


# ---------------------------------------------------------------- one test per rule


def join(root: Path, rows: Sequence[tuple[int, float | None, float | None]], entity: Sequence[tuple[int, float]],
         ttl_min: int | None = None, split: int | None = None, **frame: Any) -> list[float | None]:
    """Apply view ``v`` over rows (driver_id, minute, x) and join entity rows (driver_id, minute); x per row."""
    view = ViewData("v", ("driver_id",), [{"driver_id": k, TS: t, "v_x": x, "v_n": None} for k, t, x in rows],
                    ttl_min, split=split)
    apply_views(root, view)
    entity_df = entity_frame([{"driver_id": k, TS: t} for k, t in entity], **frame)
    out = kf.get_historical_features(entity_df, ["v:v_x"], timestamp_column=TS)
    assert out["driver_id"].tolist() == [k for k, _ in entity]
    return [null(v) for v in out["v_x"]]


def test_feature_at_exactly_the_entity_time_counts_and_later_ones_never_do(fresh_home: Callable[[], Path]) -> None:
    rows = [(1, 10, 1.0), (1, 11, 2.0), (1, 12, 3.0)]
    assert join(fresh_home(), rows, [(1, 10), (1, 11.5), (1, 9.99), (1, 12)]) == [1.0, 2.0, None, 3.0]


def test_duplicate_feature_timestamps_the_later_file_row_wins(fresh_home: Callable[[], Path]) -> None:
    rows = [(1, 10, 1.0), (1, 12, 9.0), (1, 10, 2.0), (2, 10, 7.0), (1, 10, 3.0), (1, 5, 4.0)]
    assert join(fresh_home(), rows, [(1, 10), (1, 11), (1, 12), (2, 10)]) == [3.0, 3.0, 9.0, 7.0]


def test_ttl_boundary_is_inclusive(fresh_home: Callable[[], Path]) -> None:
    just_beyond = 5 + 1 / 60_000_000  # one microsecond past the ttl, in minutes
    got = join(fresh_home(), [(1, 10, 1.0)], [(1, 15), (1, 10 + just_beyond), (1, 16), (1, 12)], ttl_min=5)
    assert got == [1.0, None, None, 1.0]


def test_ttl_does_not_reach_back_past_a_stale_latest_row(fresh_home: Callable[[], Path]) -> None:
    # The latest row at or before t=20 is at 10 (stale with ttl 5): null, even though nothing fresher exists.
    assert join(fresh_home(), [(1, 2, 1.0), (1, 10, 2.0)], [(1, 20), (1, 14)], ttl_min=5) == [None, 2.0]


def test_null_feature_value_does_not_fall_back_to_an_older_row(fresh_home: Callable[[], Path]) -> None:
    rows = [(1, 5, 1.0), (1, 8, None), (1, 5, None), (2, 5, 6.0), (2, 5, None)]
    assert join(fresh_home(), rows, [(1, 9), (1, 7), (2, 5)]) == [None, None, None]


def test_rows_with_a_null_timestamp_are_ignored(fresh_home: Callable[[], Path]) -> None:
    rows = [(1, 5, 1.0), (1, None, 2.0), (2, None, 3.0)]
    assert join(fresh_home(), rows, [(1, 9), (2, 9)]) == [1.0, None]


def test_key_absent_from_the_source_gets_null(fresh_home: Callable[[], Path]) -> None:
    assert join(fresh_home(), [(1, 5, 1.0)], [(3, 9), (1, 9), (0, 30)]) == [None, 1.0, None]


def test_unsorted_entity_rows_keep_their_order_and_columns(fresh_home: Callable[[], Path]) -> None:
    root = fresh_home()
    rows = [(1, 1, 1.0), (2, 2, 2.0), (1, 3, 3.0), (2, 4, 4.0)]
    apply_views(root, ViewData("v", ("driver_id",), [{"driver_id": k, TS: t, "v_x": x, "v_n": None}
                                                    for k, t, x in rows]))
    entity = entity_frame([{"driver_id": k, TS: t} for k, t in [(2, 9), (1, 0), (1, 3), (2, 3), (1, 2), (2, 1)]])
    entity.insert(0, "label", ["f", "e", "d", "c", "b", "a"])
    entity.index = [50, 40, 30, 20, 10, 0]
    out = kf.get_historical_features(entity, ["v:v_x"], timestamp_column=TS)
    assert list(out.columns) == ["label", "driver_id", TS, "v_x"]
    assert out["label"].tolist() == ["f", "e", "d", "c", "b", "a"]
    assert out[TS].tolist() == entity[TS].tolist()
    assert [null(v) for v in out["v_x"]] == [4.0, None, 3.0, 2.0, 1.0, None]


@pytest.mark.parametrize("source_naive", [False, True])
def test_naive_timestamps_are_taken_as_utc(fresh_home: Callable[[], Path], source_naive: bool) -> None:
    rows = [{"driver_id": 1, TS: t, "v_x": float(t), "v_n": None} for t in (0, 60, 120, 180)]
    entity = [{"driver_id": 1, TS: t} for t in (59, 60, 61, 200, -1)]
    answers = []
    for frame in ({}, {"naive": True}, {"tz": "Asia/Tokyo"}, {"tz": "America/New_York"}):
        apply_views(fresh_home(), ViewData("v", ("driver_id",), rows, naive=source_naive))
        out = kf.get_historical_features(entity_frame(entity, **frame), ["v:v_x"], timestamp_column=TS)
        answers.append([null(v) for v in out["v_x"]])
    assert answers == [[0.0, 60.0, 60.0, 180.0, None]] * 4


def test_multi_file_source_later_file_wins_ties(fresh_home: Callable[[], Path]) -> None:
    # The first file's tied row sits at a higher row number than the second file's: file order must still win.
    rows = [(2, 1, 0.0), (2, 2, 0.0), (1, 10, 1.0), (1, 10, 2.0), (2, 2, 5.0)]
    got = join(fresh_home(), rows, [(1, 10), (2, 3), (1, 11)], split=3)
    assert got == [2.0, 5.0, 2.0]
    got = join(fresh_home(), list(reversed(rows)), [(1, 10), (2, 3), (1, 11)], split=2)
    assert got == [1.0, 0.0, 1.0]

"""The feature store end to end on the embedded default: apply with a diff, training sets, materialize, online
lookups with statuses, skew, on-demand views, training sets saved as dataset versions, and the errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import keel.features as kf
from keel.errors import Conflict, InvalidInput, NotFound

NOW = datetime.now(UTC).replace(microsecond=0)


def _stats(path: Path, rows: list[tuple[int, datetime, int, float]]) -> Path:
    frame = pd.DataFrame(rows, columns=["driver_id", "event_timestamp", "trips", "rating"])
    frame.to_parquet(path, index=False)
    return path


@pytest.fixture
def store(keel_home: Path, tmp_path: Path) -> dict[str, object]:
    source = _stats(tmp_path / "stats.parquet", [
        (1, NOW - timedelta(hours=30), 10, 4.0),
        (1, NOW - timedelta(hours=5), 11, 4.5),
        (2, NOW - timedelta(hours=2), 20, 3.0),
        (3, NOW - timedelta(days=5), 30, 5.0),  # older than the ttl by now
    ])
    driver = kf.Entity("driver", join_keys=["driver_id"])
    view = kf.FeatureView("driver_stats", entities=[driver], source=str(source),
                          schema=[kf.Field("trips", "int64"), kf.Field("rating", "float64")],
                          ttl=timedelta(days=1))
    result = kf.apply([driver, view])
    assert result.applied and result.plan.lines() == ["+ entity driver", "+ feature view driver_stats"]
    return {"driver": driver, "view": view, "source": source}


def test_training_set_is_point_in_time_correct(store: dict[str, object]) -> None:
    entities = pd.DataFrame({"driver_id": [1, 1, 1, 2, 9],
                             "event_timestamp": [NOW - timedelta(hours=40), NOW - timedelta(hours=10), NOW,
                                                 NOW - timedelta(hours=3), NOW]})
    df = kf.get_historical_features(entities, ["driver_stats:trips", "driver_stats:rating"])
    assert list(df.columns) == ["driver_id", "event_timestamp", "trips", "rating"]
    assert df["trips"].tolist()[:3] == [None, 10, 11] or df["trips"].isna().tolist() == [True, False, False,
                                                                                          True, True]
    assert df["trips"].iloc[1] == 10 and df["trips"].iloc[2] == 11  # never the later value
    assert pd.isna(df["trips"].iloc[0]) and pd.isna(df["trips"].iloc[3]) and pd.isna(df["trips"].iloc[4])
    assert df["rating"].iloc[2] == 4.5


def test_apply_versions_and_diff(store: dict[str, object], tmp_path: Path) -> None:
    view = store["view"]
    assert isinstance(view, kf.FeatureView)
    assert kf.apply([view]).plan.empty  # unchanged: no new version
    changed = kf.FeatureView("driver_stats", entities=["driver"], source=str(store["source"]),
                             schema=[kf.Field("trips", "int64")], ttl=timedelta(days=2))
    plan = kf.apply([changed], dry_run=True).plan
    assert plan.lines() == ["~ feature view driver_stats: -rating ttl_seconds"]
    kf.apply([changed])
    from keel.features.catalog import describe_view

    detail = describe_view("driver_stats")
    assert detail["version"] == 2 and [h["version"] for h in detail["history"]] == [2, 1]
    with pytest.raises(InvalidInput, match="driver_stats:rating"):
        kf.get_historical_features(pd.DataFrame({"driver_id": [1], "event_timestamp": [NOW]}),
                                   ["driver_stats:rating"])


def test_unknown_feature_suggests_close_names(store: dict[str, object]) -> None:
    entities = pd.DataFrame({"driver_id": [1], "event_timestamp": [NOW]})
    with pytest.raises(InvalidInput, match="did you mean driver_stats:trips"):
        kf.get_historical_features(entities, ["driver_stats:trip"])
    with pytest.raises(InvalidInput, match="not 'view:feature'"):
        kf.get_online_features([{"driver_id": 1}], ["trips"])


def test_entity_df_errors_name_the_column(store: dict[str, object]) -> None:
    with pytest.raises(InvalidInput, match="join key 'driver_id'"):
        kf.get_historical_features(pd.DataFrame({"id": [1], "event_timestamp": [NOW]}), ["driver_stats:trips"])
    with pytest.raises(InvalidInput, match="timestamp column 'event_timestamp'"):
        kf.get_historical_features(pd.DataFrame({"driver_id": [1], "ts": [NOW]}), ["driver_stats:trips"])


def test_source_without_timestamp_field_is_refused(keel_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "no_ts.parquet"
    pd.DataFrame({"driver_id": [1], "trips": [3]}).to_parquet(path)
    driver = kf.Entity("driver", join_keys=["driver_id"])
    view = kf.FeatureView("v", entities=[driver], source=str(path), schema=[kf.Field("trips", "int64")])
    with pytest.raises(InvalidInput, match="no column 'event_timestamp'.*timestamp_field"):
        kf.apply([driver, view])
    with pytest.raises(InvalidInput, match="entity 'ghost'"):
        kf.apply([kf.FeatureView("w", entities=["ghost"], source=str(path), schema=[kf.Field("trips", "int64")])])


def test_materialize_and_online_statuses(store: dict[str, object], tmp_path: Path) -> None:
    [run] = kf.materialize()
    assert run.rows == 3
    response = kf.get_online_features([{"driver_id": 1}, {"driver_id": 2}, {"driver_id": 3}, {"driver_id": 42}],
                                      ["driver_stats:trips", "driver_stats:rating"])
    assert response.to_dict() == {"driver_id": [1, 2, 3, 42], "trips": [11, 20, None, None],
                                  "rating": [4.5, 3.0, None, None]}
    assert response.statuses["trips"] == ["PRESENT", "PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND"]
    # incremental: only rows newer than the watermark are read
    _stats(Path(str(store["source"])), [
        (1, NOW - timedelta(hours=30), 10, 4.0), (1, NOW - timedelta(hours=5), 11, 4.5),
        (2, NOW - timedelta(hours=2), 20, 3.0), (3, NOW - timedelta(days=5), 30, 5.0),
        (2, NOW - timedelta(minutes=1), 21, 3.5)])
    [inc] = kf.materialize(incremental=True)
    assert inc.rows == 1
    assert kf.get_online_features({"driver_id": [2]}, ["driver_stats:trips"]).to_dict()["trips"] == [21]


def test_skew_detects_online_values_that_differ(store: dict[str, object]) -> None:
    kf.materialize()
    assert kf.skew("driver_stats", 10, seed=1).ok
    from keel.features.online_store import OnlineRow, encode_key
    from keel.features.stores import online_store

    stored = online_store().read("driver_stats", [encode_key([2])])[0]
    assert stored is not None
    online_store().write("driver_stats", [OnlineRow(stored.key, stored.ts, {"trips": 99, "rating": 3.0})])
    report = kf.skew("driver_stats", 10, seed=1)
    assert report.sampled == 3 and report.matched == 2
    assert [(m.key, m.feature, m.online, m.offline) for m in report.mismatches] == [({"driver_id": 2}, "trips", 99, 20)]


def test_on_demand_view_offline_and_online(store: dict[str, object]) -> None:
    request = kf.RequestSource("trip_request", [kf.Field("distance", "float64")])

    @kf.on_demand_feature_view(sources=[store["view"], request], schema=[kf.Field("score", "float64")])  # type: ignore[list-item]
    def score(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"score": df["rating"] * df["distance"]})

    kf.apply([score])
    entities = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [NOW, NOW], "distance": [2.0, 10.0]})
    df = kf.get_historical_features(entities, ["score:score", "driver_stats:trips"])
    assert df["score"].tolist() == [9.0, 30.0] and "rating" not in df.columns
    kf.materialize()
    online = kf.get_online_features([{"driver_id": 1, "distance": 2.0}], ["score:score"]).to_dict()
    assert online["score"] == [9.0]


def test_training_set_saved_as_dataset_version_with_lineage(store: dict[str, object]) -> None:
    entities = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [NOW, NOW]})
    result = kf.get_training_set(entities, ["driver_stats:trips"], save_as="train")
    version = result.dataset_version
    assert version.ref == "train@v1"
    import keel.data

    assert keel.data.load("train@v1")["trips"].tolist() == [11, 20]
    from keel.governance.lineage_store import _local, find_nodes

    [node] = [n for n in find_nodes(version.id) if n.kind == "dataset_version"]
    upstream = {(link.upstream.kind, link.upstream.id) for link in _local().graph(node).ancestors}
    assert ("feature_view", "driver_stats@v1") in upstream


def test_dataset_source_and_lineage(keel_home: Path, tmp_path: Path) -> None:
    import keel.data

    path = _stats(tmp_path / "stats.parquet", [(1, NOW - timedelta(hours=1), 5, 1.0)])
    version = keel.data.add(path, "driver_stats_raw")
    driver = kf.Entity("driver", join_keys=["driver_id"])
    view = kf.FeatureView("stats", entities=[driver], source="driver_stats_raw",
                          schema=[kf.Field("trips", "int64")])
    kf.apply([driver, view])
    df = kf.get_historical_features(pd.DataFrame({"driver_id": [1], "event_timestamp": [NOW]}), ["stats:trips"])
    assert df["trips"].tolist() == [5]
    result = kf.get_training_set(pd.DataFrame({"driver_id": [1], "event_timestamp": [NOW]}), ["stats:trips"])
    assert result.source_versions == [version.id]


def test_breaking_change_refused_while_a_model_uses_the_feature(store: dict[str, object]) -> None:
    from sklearn.linear_model import LinearRegression

    import keel

    model = LinearRegression().fit([[1.0, 2.0], [2.0, 1.0], [3.0, 5.0]], [1.0, 2.0, 3.0])
    with keel.start_run():
        keel.log_model(model, "model", registered_model_name="eta",
                       features=["driver_stats:trips", "driver_stats:rating"])
    narrower = kf.FeatureView("driver_stats", entities=["driver"], source=str(store["source"]),
                              schema=[kf.Field("trips", "int64")], ttl=timedelta(days=1))
    with pytest.raises(Conflict, match="eta/1 uses driver_stats:rating"):
        kf.apply([narrower])
    assert kf.apply([narrower], force=True).applied


def test_unknown_view_and_remote_errors(store: dict[str, object]) -> None:
    with pytest.raises(NotFound, match="never_applied"):
        kf.materialize(["never_applied"])


def test_csv_and_sql_sources(keel_home: Path, tmp_path: Path, postgres_url: str) -> None:
    from sqlalchemy import create_engine

    rows = pd.DataFrame({"driver_id": [1, 1, 2], "event_timestamp": [NOW - timedelta(hours=3), NOW - timedelta(hours=1),
                                                                   NOW - timedelta(hours=2)], "trips": [1, 2, 3]})
    rows.to_csv(tmp_path / "stats.csv", index=False)
    engine = create_engine(postgres_url)
    rows.to_sql("driver_trips", engine, index=False)
    engine.dispose()
    driver = kf.Entity("driver", join_keys=["driver_id"])
    from_csv = kf.FeatureView("csv_stats", entities=[driver], source=str(tmp_path / "stats.csv"),
                              schema=[kf.Field("trips", "int64")])
    from_sql = kf.FeatureView("sql_stats", entities=[driver],
                              source=kf.Source.sql(postgres_url, "SELECT driver_id, event_timestamp, trips AS rides "
                                                                "FROM driver_trips"),
                              schema=[kf.Field("rides", "int64")])
    kf.apply([driver, from_csv, from_sql])
    entities = pd.DataFrame({"driver_id": [1, 1, 2], "event_timestamp": [NOW - timedelta(hours=2), NOW, NOW]})
    df = kf.get_historical_features(entities, ["csv_stats:trips", "sql_stats:rides"])
    assert df["trips"].tolist() == [1, 2, 3] and df["rides"].tolist() == [1, 2, 3]
    kf.materialize(["sql_stats"])
    assert kf.get_online_features({"driver_id": [1, 2]}, ["sql_stats:rides"]).to_dict()["rides"] == [2, 3]
    bad = kf.FeatureView("bad_sql", entities=[driver], source=kf.Source.sql(postgres_url, "SELECT * FROM nope"),
                         schema=[kf.Field("rides", "int64")])
    with pytest.raises(InvalidInput, match="bad_sql"):
        kf.apply([bad])


def test_unique_times_fast_path_is_only_taken_for_known_content(keel_home: Path, tmp_path: Path) -> None:
    from keel.features.offline_sources import connect, resolve_source

    path = tmp_path / "s.parquet"
    t = NOW - timedelta(hours=1)
    pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [t, t], "trips": [1, 2]}).to_parquet(path)
    driver = kf.Entity("driver", join_keys=["driver_id"])
    view = kf.FeatureView("s", entities=[driver], source=str(path), schema=[kf.Field("trips", "int64")])
    kf.apply([driver, view])  # learns: times are unique per key in this content
    con = connect()
    assert resolve_source(con, view, ["driver_id"], "v").unique_times
    entities = pd.DataFrame({"driver_id": [1], "event_timestamp": [NOW]})
    assert kf.get_historical_features(entities, ["s:trips"])["trips"].tolist() == [1]
    # the content changes (now with a tie for driver 1): unknown again, so the exact (time, row order) path runs
    pd.DataFrame({"driver_id": [1, 1, 2], "event_timestamp": [t, t, t], "trips": [1, 7, 2]}).to_parquet(path)
    assert not resolve_source(con, view, ["driver_id"], "v").unique_times
    assert kf.get_historical_features(entities, ["s:trips"])["trips"].tolist() == [7]  # the later row wins
    con.close()

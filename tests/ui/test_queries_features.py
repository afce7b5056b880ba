"""The Features page's queries: applied views with materialization freshness (against the ttl), and skew checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

import keel.features as kf
from keel.errors import InvalidInput
from keel.features.registry_sql import Materialization
from keel.local_store import local_database
from keel.ui import queries_features as q

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def _run(watermark: datetime | None, created: int = 0) -> Materialization:
    mark = None if watermark is None else int(watermark.timestamp() * 1_000_000)
    return Materialization("v", None, 0, mark, 3, None, "sqlite", created)


def test_freshness_against_ttl() -> None:
    now_ms = int(NOW.timestamp() * 1000)
    assert q.freshness([], 60, now_ms)["status"] == "never"
    fresh = q.freshness([_run(NOW - timedelta(seconds=30), 5), _run(NOW - timedelta(hours=5), 1)], 60, now_ms)
    assert fresh["status"] == "fresh" and fresh["age_s"] == 30 and fresh["last_run_ms"] == 5
    assert q.freshness([_run(NOW - timedelta(seconds=90))], 60, now_ms)["status"] == "stale"
    assert q.freshness([_run(NOW - timedelta(days=90))], None, now_ms)["status"] == "fresh"  # no ttl: never stale


def test_catalog_and_skew_over_an_applied_view(keel_home: Path, tmp_path: Path) -> None:
    source = tmp_path / "stats.parquet"
    pd.DataFrame({"driver_id": [1, 2, 3], "trips": [10, 20, 30],
                  "event_timestamp": [NOW - timedelta(hours=h) for h in (3, 2, 1)]}).to_parquet(source, index=False)
    driver = kf.Entity("driver", join_keys=["driver_id"])
    stats = kf.FeatureView("driver_stats", entities=[driver], source=str(source),
                           schema=[kf.Field("trips", "int64")], ttl=timedelta(days=1))
    kf.apply([driver, stats])
    db, project = local_database("tests read")
    before = q.feature_catalog(db, project)
    assert [v["name"] for v in before["views"]] == ["driver_stats"]
    assert before["views"][0]["freshness"]["status"] == "never" and before["entities"][0]["join_keys"] == ["driver_id"]
    kf.materialize(end=NOW)
    view = q.feature_catalog(db, project, now_ms=int(NOW.timestamp() * 1000))["views"][0]
    assert view["features"] == ["trips"] and view["ttl_seconds"] == 86400
    assert view["freshness"]["status"] == "fresh" and view["freshness"]["age_s"] == 3600
    assert view["materializations"][0]["rows"] == 3
    later = q.feature_catalog(db, project, now_ms=int((NOW + timedelta(days=2)).timestamp() * 1000))
    assert later["views"][0]["freshness"]["status"] == "stale"
    report = q.skew_report("driver_stats", 10)
    assert report["ok"] and report["sampled"] == 3 and report["matched"] == 3
    with pytest.raises(InvalidInput, match="sample"):
        q.skew_report("driver_stats", 0)

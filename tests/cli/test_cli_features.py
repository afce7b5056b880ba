"""`keel features apply|list|show|materialize|skew` in process."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from keel_testing import run_cli

NOW = datetime.now(UTC).replace(microsecond=0)


def _definitions(folder: Path, features: str) -> Path:
    pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [NOW - timedelta(hours=1)] * 2, "trips": [5, 6],
                  "rating": [4.0, 3.5]}).to_parquet(folder / "stats.parquet", index=False)
    path = folder / "features.py"
    path.write_text(textwrap.dedent(f"""
        from datetime import timedelta
        import pandas as pd
        from keel.features import Entity, FeatureView, Field, RequestSource, on_demand_feature_view

        driver = Entity("driver", join_keys=["driver_id"])
        stats = FeatureView("driver_stats", entities=[driver], source="stats.parquet",
                            schema=[{features}], ttl=timedelta(days=1))

        @on_demand_feature_view(
            sources=[stats, RequestSource("req", [Field("distance")])],
            schema=[Field("per_km", "float64")],
        )
        def per_km(df):
            return pd.DataFrame({{"per_km": df["trips"] / df["distance"]}})
        """))
    return path


def test_apply_shows_the_diff_then_versions(keel_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(keel_home.parent)  # relative sources resolve against the file, not the working directory
    path = _definitions(tmp_path, 'Field("trips", "int64"), Field("rating", "float64")')
    code, out, _ = run_cli("features", "apply", str(path), "--dry-run", capsys=capsys)
    assert code == 0 and "+ entity driver" in out and "+ feature view driver_stats" in out and "Dry run" in out
    assert run_cli("features", "list", "--json", capsys=capsys)[1].strip() == "[]"
    code, out, _ = run_cli("features", "apply", str(path), capsys=capsys)
    assert code == 0 and "+ on-demand view per_km" in out and "Applied 3 change(s)" in out
    assert "No changes" in run_cli("features", "apply", str(path), capsys=capsys)[1]
    _definitions(tmp_path, 'Field("trips", "int64")')
    code, out, _ = run_cli("features", "apply", str(path), capsys=capsys)
    assert code == 0 and "~ feature view driver_stats: -rating" in out
    listed = json.loads(run_cli("features", "list", "--json", capsys=capsys)[1])
    assert {(d["name"], d["version"]) for d in listed} == {("driver", 1), ("driver_stats", 2), ("per_km", 1)}
    shown = json.loads(run_cli("features", "show", "driver_stats", capsys=capsys)[1])
    assert shown["spec"]["source"]["ref"] == str(tmp_path / "stats.parquet")


def test_materialize_and_skew(keel_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _definitions(tmp_path, 'Field("trips", "int64"), Field("rating", "float64")')
    run_cli("features", "apply", str(path), capsys=capsys)
    code, out, _ = run_cli("features", "skew", "driver_stats", capsys=capsys)
    assert code == 2 and "never materialized" in out + _
    code, out, _ = run_cli("features", "materialize", capsys=capsys)
    assert code == 0 and "driver_stats: 2 entities written" in out
    code, out, _ = run_cli("features", "skew", "driver_stats", "--sample", "5", capsys=capsys)
    assert code == 0 and "2/2 sampled keys match" in out
    from keel.features.online_store import OnlineRow, encode_key
    from keel.features.stores import online_store

    online_store().write("driver_stats", [OnlineRow(encode_key([1]), 2**62, {"trips": 50, "rating": 4.0})])
    code, out, _ = run_cli("features", "skew", "driver_stats", capsys=capsys)
    assert code == 1 and "1/2 sampled keys match" in out and "trips" in out


def test_bad_file_is_a_clear_error(keel_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli("features", "apply", str(tmp_path / "missing.py"), capsys=capsys)
    assert code == 2 and "does not exist" in out + err
    (tmp_path / "empty.py").write_text("x = 1\n")
    code, out, err = run_cli("features", "apply", str(tmp_path / "empty.py"), capsys=capsys)
    assert code == 2 and "defines no Entity" in out + err

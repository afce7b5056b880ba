"""Column statistics of tabular snapshots cover timestamp columns, tz-aware ones included."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from keel.data.tabular import describe


def test_tz_aware_timestamps_get_row_count_and_bounds(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pd.DataFrame({"a": [1, 2, 3], "t": pd.to_datetime(["2026-01-03", "2026-01-01", "2026-01-02"], utc=True),
                  "naive": pd.to_datetime(["2026-02-01", "2026-02-03", "2026-02-02"])}).to_parquet(path)
    described = describe([path], "parquet")
    assert described is not None
    rows, _, stats = described
    assert rows == 3
    assert stats["t"]["min"].startswith("2026-01-01 00:00:00") and stats["t"]["max"].startswith("2026-01-03")
    assert stats["naive"]["min"] == "2026-02-01 00:00:00" and stats["naive"]["max"] == "2026-02-03 00:00:00"

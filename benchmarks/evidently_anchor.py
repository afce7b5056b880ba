"""Evidently's side of ``bench_monitoring.py``; run by the anchor venv's python (benchmarks/anchors-monitoring.txt).

Never imported by Keel. ``evidently_anchor.py --data DIR`` reads ``DIR/reference.parquet`` and ``DIR/current.parquet``
with pandas, then times Evidently's documented data drift path, ``Report([DataDriftPreset()]).run(current,
reference)`` with every default (column types inferred, default test and threshold per column, drift share 0.5).
``include_tests=True`` only attaches each column's verdict (a test that fails when the column drifts) to results it
computes anyway. Prints ONE JSON line on stdout: ``seconds`` (the report run only), ``read_seconds``,
``import_seconds``, ``peak_rss_mib``, ``columns`` (per column: method, threshold, score, drifted), ``drifted``,
``share`` and ``dataset_drift``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

_T0 = time.perf_counter()

import pandas as pd  # noqa: E402
from evidently import Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402

_IMPORT_S = time.perf_counter() - _T0


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _verdicts(snapshot: Any) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """Per column (method, threshold, score, drifted) and the DriftedColumnsCount value of a snapshot's dict."""
    body = snapshot.dict()
    columns: dict[str, dict[str, Any]] = {}
    count: dict[str, float] = {}
    for metric in body["metrics"]:
        config = metric["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            count = {k: float(v) for k, v in metric["value"].items()}
        elif config["type"].endswith("ValueDrift"):
            columns[config["column"]] = {"method": config.get("method"), "threshold": config.get("threshold"),
                                         "score": float(metric["value"])}
    for test in body["tests"]:
        params = test["metric_config"]["params"]
        if params["type"].endswith("ValueDrift"):
            columns[params["column"]]["drifted"] = test["status"] == "FAIL"
    missing = [name for name, col in columns.items() if "drifted" not in col]
    if missing or not count:
        raise SystemExit(f"evidently_anchor: no drift verdict for {missing or 'the dataset'} in the snapshot")
    return columns, count


def main() -> int:
    """Read, run the preset, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with reference.parquet and current.parquet")
    args = parser.parse_args()
    data = Path(args.data)
    t0 = time.perf_counter()
    reference = pd.read_parquet(data / "reference.parquet")
    current = pd.read_parquet(data / "current.parquet")
    t1 = time.perf_counter()
    print(f"evidently: read {len(reference):,} + {len(current):,} rows x {reference.shape[1]} columns in "
          f"{t1 - t0:.1f} s; running DataDriftPreset ...", file=sys.stderr, flush=True)
    snapshot = Report([DataDriftPreset()], include_tests=True).run(current, reference)
    t2 = time.perf_counter()
    columns, count = _verdicts(snapshot)
    drifted = sorted(name for name, col in columns.items() if col["drifted"])
    if int(count.get("count", -1)) != len(drifted):
        raise SystemExit(f"evidently_anchor: DriftedColumnsCount says {count}, the column tests {len(drifted)}")
    print(json.dumps({
        "seconds": t2 - t1, "read_seconds": t1 - t0, "import_seconds": _IMPORT_S, "peak_rss_mib": _peak_rss_mib(),
        "rows": len(reference), "n_columns": len(columns), "columns": columns, "drifted": drifted,
        "share": count["share"], "dataset_drift": count["share"] >= 0.5,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())

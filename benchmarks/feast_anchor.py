"""Feast's side of ``bench_features.py``; run by the Feast venv's python (benchmarks/anchors-features.txt).

Never imported by Keel. Each call builds a throwaway Feast repo (feature_store.yaml, an Entity ``driver`` with join
key ``driver_id``, a FeatureView ``driver_stats`` over a FileSource of ``features.parquet`` with a 2-day ttl), then:

- ``pit --data DIR --store file|duckdb --features N [--out FILE]``: times
  ``store.get_historical_features(entity_df, features).to_df()`` with the entity rows read by pandas beforehand;
- ``online --data DIR --entities 100 --calls 2000 --features 10``: ``store.apply``, timed ``store.materialize``
  into the sqlite online store, then times ``store.get_online_features(features, entity_rows).to_dict()`` for
  random batches of entities after a warm-up.

It prints ONE JSON line on stdout (progress goes to stderr).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.types import Float64

from feature_data import TTL_DAYS, feature_names

VIEW = "driver_stats"
YAML = """project: bench
registry: {registry}
provider: local
offline_store:
    type: {offline}
online_store:
    type: sqlite
    path: {online}
entity_key_serialization_version: 3
"""


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _store(repo: Path, data: Path, offline: str, n_features: int) -> FeatureStore:
    """A fresh Feast repo in ``repo`` with the driver entity and view applied."""
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(YAML.format(registry=repo / "registry.db", offline=offline,
                                                         online=repo / "online.db"))
    store = FeatureStore(repo_path=str(repo))
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    source = FileSource(name="driver_stats_source", path=str((data / "features.parquet").resolve()),
                        timestamp_field="event_timestamp")
    view = FeatureView(name=VIEW, entities=[driver], ttl=dt.timedelta(days=TTL_DAYS), source=source,
                       schema=[Field(name=name, dtype=Float64) for name in feature_names(n_features)], online=True)
    store.apply([driver, view])
    return store


def pit(data: Path, offline: str, n_features: int, out: Path | None) -> dict[str, Any]:
    """Time one point-in-time join of every entity row."""
    with tempfile.TemporaryDirectory(prefix="feast-pit-") as tmp:
        t0 = time.perf_counter()
        store = _store(Path(tmp), data, offline, n_features)
        setup_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        entity_df = pd.read_parquet(data / "entities.parquet")
        read_s = time.perf_counter() - t0
        refs = [f"{VIEW}:{name}" for name in feature_names(n_features)]
        print(f"feast {offline}: joining {len(entity_df):,} entity rows ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        df = store.get_historical_features(entity_df=entity_df, features=refs).to_df()
        seconds = time.perf_counter() - t0
        result: dict[str, Any] = {
            "seconds": seconds, "setup_seconds": setup_s, "read_entities_seconds": read_s,
            "rows_in": len(entity_df), "rows_out": len(df), "peak_rss_mib": _peak_rss_mib(),
            "null_rows": int(df[feature_names(n_features)].isna().any(axis=1).sum()),
        }
        if out is not None:
            df[["driver_id", "event_timestamp", *feature_names(n_features)]].to_parquet(out, index=False)
    return result


def online(data: Path, offline: str, n_entities: int, calls: int, n_features: int, seed: int,
           sample_out: Path | None) -> dict[str, Any]:
    """Materialize, then time ``get_online_features`` for ``calls`` random batches of ``n_entities``."""
    with tempfile.TemporaryDirectory(prefix="feast-online-") as tmp:
        t0 = time.perf_counter()
        store = _store(Path(tmp), data, offline, n_features)
        setup_s = time.perf_counter() - t0
        stamps = pq.read_table(data / "features.parquet", columns=["event_timestamp"]).column(0)
        span = pc.min_max(stamps)  # materialize a window around every row, wherever the data was put in time
        start = span["min"].as_py() - dt.timedelta(days=1)
        end = span["max"].as_py() + dt.timedelta(days=1)
        t0 = time.perf_counter()
        store.materialize(start_date=start, end_date=end)
        materialize_s = time.perf_counter() - t0
        keys = np.unique(pd.read_parquet(data / "features.parquet", columns=["driver_id"])["driver_id"].to_numpy())
        rng = np.random.default_rng(seed)
        batches = [[{"driver_id": int(k)} for k in rng.choice(keys, size=n_entities, replace=False)]
                   for _ in range(calls)]
        refs = [f"{VIEW}:{name}" for name in feature_names(n_features)]
        for rows in batches[: min(50, calls)]:  # warm-up: registry cache, sqlite page cache
            store.get_online_features(features=refs, entity_rows=rows).to_dict()
        samples: list[float] = []
        found = 0
        for rows in batches:
            t0 = time.perf_counter()
            resp = store.get_online_features(features=refs, entity_rows=rows).to_dict()
            samples.append(time.perf_counter() - t0)
            found += sum(v is not None for v in resp["f0"])
        if sample_out is not None:  # the answer for the lowest keys, for the cross-check with the data
            sample_rows = [{"driver_id": int(k)} for k in keys[:n_entities]]
            first = store.get_online_features(features=refs, entity_rows=sample_rows).to_dict()
            sample_out.write_text(json.dumps({k: first[k] for k in ["driver_id", *feature_names(n_features)]}))
    ms = np.array(samples) * 1000
    return {"seconds": float(sum(samples)), "setup_seconds": setup_s, "materialize_seconds": materialize_s,
            "rows_in": len(keys), "calls": calls, "entities": n_entities,
            "found_fraction": found / (calls * n_entities),
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean()), "peak_rss_mib": _peak_rss_mib()}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the job, print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pit", help="time a point-in-time join")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--store", choices=["file", "duckdb"], required=True)
    p.add_argument("--features", type=int, required=True)
    p.add_argument("--out", type=Path, help="write the joined rows here (Parquet), after timing")
    o = sub.add_parser("online", help="time online lookups")
    o.add_argument("--data", type=Path, required=True)
    o.add_argument("--store", choices=["file", "duckdb"], default="duckdb", help="offline store materialize reads")
    o.add_argument("--entities", type=int, default=100)
    o.add_argument("--calls", type=int, default=2000)
    o.add_argument("--features", type=int, default=10)
    o.add_argument("--seed", type=int, default=1)
    o.add_argument("--sample-out", type=Path, help="write the answer for the lowest keys here (JSON)")
    args = parser.parse_args(argv)
    if args.cmd == "pit":
        result = pit(args.data, args.store, args.features, args.out)
    else:
        result = online(args.data, args.store, args.entities, args.calls, args.features, args.seed, args.sample_out)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

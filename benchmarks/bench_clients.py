"""The client side of ``bench_tracking.py``: one subcommand per job, run in a fresh process.

Keel's jobs run with Keel's interpreter, MLflow's with the anchors venv's (``benchmarks/.venv-anchors``), so this
file imports nothing but the standard library at the top. Each job prints one JSON object on its last stdout line;
progress goes to stderr.

    python benchmarks/bench_clients.py keel-ingest --uri http://127.0.0.1:PORT --points 100000
    python benchmarks/bench_clients.py mlflow-ingest --uri ... --points 100000 --mode log_batch
    python benchmarks/bench_clients.py keel-fill --db /dir/keel.db --runs 100000
    python benchmarks/bench_clients.py mlflow-fill --db /dir/mlflow.db --artifacts /dir/art --runs 100000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from typing import Any

INGEST_KEY = "loss"
INGEST_EXPERIMENT = "bench-ingest"
SEARCH_EXPERIMENT = "bench-search"
MLFLOW_MODES = ("log_batch", "log_batch_async", "log_metric_async")
MLFLOW_BATCH = 1000  # MLflow's documented log-batch limit for metrics per request


def ingest_value(step: int) -> float:
    """The value logged at ``step`` (cheap and the same for both systems)."""
    return 1.0 / (step + 1)


def run_values(runs: int, seed: int) -> Iterator[tuple[int, float, float]]:
    """``(index, acc, loss)`` for every run of the search store; both stores get exactly these values."""
    rng = random.Random(seed)
    for i in range(runs):
        yield i, rng.random(), rng.random()


def _progress(label: str, done: int, total: int, t0: float) -> None:
    if total >= 1000 and done % max(1, total // 10) == 0:
        print(f"  [{label}] {done:,}/{total:,} runs, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- P1: ingest ------------------------------------------------------------------------------------------------
def keel_ingest(uri: str, points: int) -> dict[str, Any]:
    """Log ``points`` points one ``keel.log_metric`` call each, then ``keel.flush()`` (timed together)."""
    os.environ["KEEL_TRACKING_URI"] = uri
    import keel

    exp = keel.set_experiment(INGEST_EXPERIMENT)
    with keel.start_run() as run:
        log_metric = keel.log_metric
        t0 = time.perf_counter()
        for step in range(points):
            log_metric(INGEST_KEY, ingest_value(step), step=step)
        keel.flush()
        elapsed = time.perf_counter() - t0
    return {"elapsed_s": elapsed, "run_id": run.run_id, "experiment_id": exp.experiment_id, "mode": "log_metric"}


def mlflow_ingest(uri: str, points: int, mode: str) -> dict[str, Any]:
    """Log ``points`` points through MLflow's client in one of :data:`MLFLOW_MODES` (timed until acknowledged).

    ``log_batch``: ``MlflowClient.log_batch`` with 1000 metrics per request, synchronously. ``log_batch_async``:
    the same with ``synchronous=False``, then waits on every returned operation. ``log_metric_async``:
    ``mlflow.log_metric(..., synchronous=False)`` once per point, then ``mlflow.flush_async_logging()``, with
    ``MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS=1`` (documented) so the queue merges points into batches of up to 1000;
    without it every point is its own request (~50 points/s here).
    """
    if mode == "log_metric_async":
        os.environ["MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS"] = "1"
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    exp_id = client.create_experiment(f"{INGEST_EXPERIMENT}-{mode}-{time.time_ns()}")
    run_id = client.create_run(exp_id).info.run_id
    if mode == "log_metric_async":
        mlflow.start_run(run_id=run_id)
        t0 = time.perf_counter()
        for step in range(points):
            mlflow.log_metric(INGEST_KEY, ingest_value(step), step=step, synchronous=False)
        mlflow.flush_async_logging()
        elapsed = time.perf_counter() - t0
        mlflow.end_run()
    elif mode in ("log_batch", "log_batch_async"):
        sync = mode == "log_batch"
        pending = []
        t0 = time.perf_counter()
        for start in range(0, points, MLFLOW_BATCH):
            ts = _now_ms()
            steps = range(start, min(points, start + MLFLOW_BATCH))
            batch = [Metric(INGEST_KEY, ingest_value(s), ts, s) for s in steps]
            op = client.log_batch(run_id, metrics=batch, synchronous=sync)
            if op is not None and not sync:
                pending.append(op)
        for op in pending:
            op.wait()
        elapsed = time.perf_counter() - t0
        client.set_terminated(run_id)
    else:
        raise SystemExit(f"unknown mode {mode!r}; use one of {', '.join(MLFLOW_MODES)}")
    return {"elapsed_s": elapsed, "run_id": run_id, "experiment_id": exp_id, "mode": mode}


# -- P2: fill the search stores through their store APIs ---------------------------------------------------------
def keel_fill(db_path: str, runs: int, seed: int) -> dict[str, Any]:
    """Fill a fresh Keel SQLite store with ``runs`` runs through ``SqlTrackingStore`` (no server)."""
    from keel.store import open_database
    from keel.tracking.entities import Metric
    from keel.tracking.sql import SqlTrackingStore

    db = open_database(f"sqlite:///{db_path}")
    store = SqlTrackingStore(db)
    exp_id = store.create_experiment(SEARCH_EXPERIMENT)
    t0 = time.perf_counter()
    for i, acc, loss in run_values(runs, seed):
        ts = _now_ms()
        run = store.create_run(exp_id, start_time=ts, tags={"group": f"g{i % 10}"}, run_name=f"run-{i}")
        store.log_batch(run.info.run_id, metrics=[Metric("acc", acc, ts, 0), Metric("loss", loss, ts, 0)],
                        params={"lr": str(10 ** -(1 + i % 4))})
        _progress("keel fill", i + 1, runs, t0)
    elapsed = time.perf_counter() - t0
    db.dispose()
    return {"elapsed_s": elapsed, "experiment_id": exp_id, "runs": runs}


def mlflow_fill(db_path: str, artifacts: str, runs: int, seed: int) -> dict[str, Any]:
    """Fill a fresh MLflow SQLite store with ``runs`` runs through ``SqlAlchemyStore`` (no server)."""
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{db_path}", artifacts)
    exp_id = store.create_experiment(SEARCH_EXPERIMENT)
    t0 = time.perf_counter()
    for i, acc, loss in run_values(runs, seed):
        ts = _now_ms()
        name = f"run-{i}"
        run = store.create_run(exp_id, "bench", ts, [RunTag("mlflow.runName", name), RunTag("group", f"g{i % 10}")],
                               name)
        store.log_batch(run.info.run_id, metrics=[Metric("acc", acc, ts, 0), Metric("loss", loss, ts, 0)],
                        params=[Param("lr", str(10 ** -(1 + i % 4)))], tags=[])
        _progress("mlflow fill", i + 1, runs, t0)
    elapsed = time.perf_counter() - t0
    store.engine.dispose()
    return {"elapsed_s": elapsed, "experiment_id": exp_id, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    """Run one job and print its result as JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="job", required=True)
    for name in ("keel-ingest", "mlflow-ingest"):
        p = sub.add_parser(name)
        p.add_argument("--uri", required=True)
        p.add_argument("--points", type=int, required=True)
        if name == "mlflow-ingest":
            p.add_argument("--mode", choices=MLFLOW_MODES, default="log_batch")
    for name in ("keel-fill", "mlflow-fill"):
        p = sub.add_parser(name)
        p.add_argument("--db", required=True)
        p.add_argument("--runs", type=int, required=True)
        p.add_argument("--seed", type=int, default=0)
        if name == "mlflow-fill":
            p.add_argument("--artifacts", required=True)
    args = parser.parse_args(argv)
    if args.job == "keel-ingest":
        out = keel_ingest(args.uri, args.points)
    elif args.job == "mlflow-ingest":
        out = mlflow_ingest(args.uri, args.points, args.mode)
    elif args.job == "keel-fill":
        out = keel_fill(args.db, args.runs, args.seed)
    else:
        out = mlflow_fill(args.db, args.artifacts, args.runs, args.seed)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

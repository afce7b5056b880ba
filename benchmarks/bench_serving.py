"""Model serving (P3): ``keel serve`` vs ``mlflow models serve`` (and BentoML), same model, same load, one run.

For a LogisticRegression and a 100-tree RandomForest on 20 features (trained here from one seed), the same fitted
model is logged with ``keel.log_model`` (served as ``models:/NAME/1``), saved with the anchors venv's
``mlflow.sklearn.save_model`` (served by ``mlflow models serve --env-manager local``) and, with ``--bentoml-python``,
wrapped in a BentoML service. Each server's answers are checked against the model's own predictions first; then
``loadgen.py`` (its own process: 32 keep-alive connections on loopback, a bounded request count, warm-up excluded)
sends the same single-row ``dataframe_split`` JSON to ``/invocations`` (and a single-row tensor to Keel's v2
``/infer``). Reported: req/s, rows/s, p50/p99 and the Keel/MLflow ratios. Target: Keel >= 5x MLflow's throughput and
Keel's p99 < 10 ms for the LogisticRegression. When ``keel serve --help`` offers ``--max-batch-size``, Keel runs
with batching off (``--max-batch-size 1``), with its defaults, and with ``--max-batch-size``/``--max-wait-ms`` as
given here. Any non-2xx answer fails the run.

``--quick`` serves the LogisticRegression with Keel alone on a few hundred requests (a smoke test; writes nothing).
Figures go to the "serving" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench_results import write_section
from bench_support import HERE, BenchError, Server, clean_env, fmt_int, log, machine_note, package_version
from model_servers import batching_supported, bento_server, keel_server, mlflow_server

COLUMNS = [f"f{i}" for i in range(20)]
CHECK_ROWS = 200
DEFAULT = "default"  # the batching label of Keel run without batching flags
MLFLOW_SAVE = """
import pickle, sys, pandas as pd, mlflow.sklearn
with open(sys.argv[1], "rb") as f:
    model = pickle.load(f)
example = pd.DataFrame(pickle.loads(bytes.fromhex(sys.argv[3])))
mlflow.sklearn.save_model(model, sys.argv[2], input_example=example, serialization_format="cloudpickle")
"""


def _logreg(seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000, random_state=seed)


def _forest(seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=100, random_state=seed)


#: name -> (label, estimator factory, request-count divisor: a forest answers ~10x slower, so it gets fewer)
MODELS: dict[str, tuple[str, Callable[[int], Any], int]] = {
    "logreg": ("LogisticRegression", _logreg, 1),
    "forest": ("RandomForest(100)", _forest, 4),
}


@dataclass
class Prepared:
    """One trained model, where each server finds it, and the answers it must give."""

    name: str
    pickle_path: Path
    keel_uri: str
    mlflow_dir: Path | None
    check: dict[str, Any]  # dataframe_split of CHECK_ROWS rows
    expected: list[int]
    bodies: dict[str, Path]  # "invocations" / "v2" -> single-row request body file


@dataclass
class Row:
    """One measured configuration."""

    model: str
    server: str
    workers: int
    route: str
    batching: str
    result: dict[str, Any]
    load: float

    @property
    def rps(self) -> float:
        return float(self.result["rps"])


# -------------------------------------------------------------------------------------------------- preparation


def _prepare(work: Path, names: list[str], seed: int, anchors_python: str | None) -> list[Prepared]:
    """Train each model, log it with Keel, save it with MLflow (anchors venv), write the request bodies."""
    import pandas as pd
    from sklearn.datasets import make_classification

    import keel

    x, y = make_classification(n_samples=4000, n_features=20, n_informative=12, random_state=seed)
    frame = pd.DataFrame(x, columns=COLUMNS)
    check = frame.sample(CHECK_ROWS, random_state=seed)
    row = frame.iloc[[7]]
    out = []
    for name in names:
        model = MODELS[name][1](seed).fit(frame, y)
        pickle_path = work / f"{name}.pkl"
        pickle_path.write_bytes(pickle.dumps(model))
        with keel.start_run():
            info = keel.log_model(model, "model", input_example=frame.head(5), registered_model_name=f"bench-{name}")
        assert info.registered_model_version is not None
        mlflow_dir = _mlflow_save(anchors_python, pickle_path, work / f"mlflow-{name}", frame.head(5))
        bodies = _write_bodies(work, name, row)
        out.append(Prepared(name, pickle_path, f"models:/bench-{name}/{info.registered_model_version.version}",
                            mlflow_dir, check.to_dict(orient="split", index=False),
                            [int(p) for p in model.predict(check)], bodies))
    return out


def _mlflow_save(python: str | None, pickle_path: Path, target: Path, example: Any) -> Path | None:
    if python is None:
        return None
    proc = subprocess.run([python, "-c", MLFLOW_SAVE, str(pickle_path), str(target), pickle.dumps(
        example.to_dict(orient="list")).hex()], capture_output=True, text=True, timeout=600, env=clean_env())
    if proc.returncode != 0:
        raise BenchError(f"mlflow.sklearn.save_model failed:\n{proc.stderr[-2000:]}")
    return target


def _write_bodies(work: Path, name: str, row: Any) -> dict[str, Path]:
    values = [float(v) for v in row.to_numpy()[0]]
    bodies = {
        "invocations": {"dataframe_split": {"columns": COLUMNS, "data": [values]}},
        "v2": {"inputs": [{"name": "input-0", "shape": [1, len(values)], "datatype": "FP64", "data": values}]},
    }
    paths = {}
    for route, body in bodies.items():
        paths[route] = work / f"{name}-{route}.json"
        paths[route].write_text(json.dumps(body))
    return paths


# ---------------------------------------------------------------------------------------------------- measuring


def _check(server: Server, model: Prepared, v2_name: str | None) -> None:
    """The server's answers on CHECK_ROWS rows (and the benchmark's single row) equal the model's predictions."""
    routes: list[tuple[str, dict[str, Any]]] = [("/invocations", {"dataframe_split": model.check})]
    if v2_name is not None:
        data = np.asarray(model.check["data"], dtype=float)
        tensor = {"name": "input-0", "shape": list(data.shape), "datatype": "FP64", "data": data.ravel().tolist()}
        routes.append((f"/v2/models/{v2_name}/infer", {"inputs": [tensor]}))
    for path, body in routes:
        got = _predictions(server, path, body)
        if got != model.expected:
            wrong = sum(a != b for a, b in zip(got, model.expected, strict=False))
            raise BenchError(f"{server.name} {path}: {wrong} of {len(model.expected)} predictions differ from the "
                             f"model's (got {len(got)} answers)")
    one = _predictions(server, "/invocations", json.loads(model.bodies["invocations"].read_text()))
    if len(one) != 1:
        raise BenchError(f"{server.name} /invocations: the benchmark's single row got {one!r}")


def _rows_per_call(server: Server) -> tuple[float, float]:
    """Keel's ``keel_serving_batch_size`` histogram (rows per predict call) as (sum, count); (0, 0) elsewhere."""
    from prometheus_client.parser import text_string_to_metric_families

    with contextlib.suppress(httpx.HTTPError):
        resp = httpx.get(f"{server.url}/metrics", timeout=10.0)
        if resp.status_code == 200:
            samples = [s for f in text_string_to_metric_families(resp.text) for s in f.samples]
            total = sum(s.value for s in samples if s.name == "keel_serving_batch_size_sum")
            calls = sum(s.value for s in samples if s.name == "keel_serving_batch_size_count")
            return total, calls
    return 0.0, 0.0


def _predictions(server: Server, path: str, body: dict[str, Any]) -> list[int]:
    resp = httpx.post(f"{server.url}{path}", json=body, timeout=60.0)
    if resp.status_code != 200:
        raise BenchError(f"{server.name} {path}: HTTP {resp.status_code} {resp.text[:500]}")
    answer = resp.json()
    values = answer["outputs"][0]["data"] if "outputs" in answer else answer["predictions"]
    return [int(v) for v in values]


def _load(server: Server, path: str, body: Path, requests: int, warmup: int, concurrency: int) -> dict[str, Any]:
    """Run ``loadgen.py`` in its own process against ``server``; 0 errors or the run fails."""
    cmd = [sys.executable, str(HERE / "loadgen.py"), "--url", f"{server.url}{path}", "--body", str(body),
           "--requests", str(requests), "--warmup", str(warmup), "--concurrency", str(concurrency)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, env=clean_env())
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise BenchError(f"loadgen against {server.name} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    if result["errors"] or result["warmup_errors"]:
        raise BenchError(f"{server.name} {path}: {result['errors']} errors ({result['warmup_errors']} in the "
                         f"warm-up) of {requests} requests; first: {result['first_error']}\n{server.log_tail(10)}")
    return result


@dataclass
class Plan:
    """What to run, from the command line."""

    models: list[str]
    requests: int
    mlflow_requests: int
    warmup: int
    concurrency: int
    workers: list[int]
    keel_configs: list[tuple[str, list[str]]]  # (label, keel serve flags)
    anchors_python: str | None
    bentoml_python: str | None


def _measure_model(plan: Plan, model: Prepared, home: Path, work: Path) -> list[Row]:
    label, _, divisor = MODELS[model.name]
    keel_n, other_n = max(plan.requests // divisor, 100), max(plan.mlflow_requests // divisor, 100)
    warm = max(plan.warmup // divisor, 20)
    rows: list[Row] = []

    def run(server: Server, system: str, workers: int, route: str, batching: str, n: int) -> None:
        path = f"/v2/models/bench-{model.name}/infer" if route == "v2" else "/invocations"
        load, (rows0, calls0) = os.getloadavg()[0], _rows_per_call(server)
        log(f"  {label}: {system} workers={workers} {route} {batching} x {n:,} ...")
        result = _load(server, path, model.bodies[route], n, warm, plan.concurrency)
        rows1, calls1 = _rows_per_call(server)  # per worker: with several, two reads may reach different ones
        one_worker = workers == 1 and calls1 > calls0
        result["rows_per_call"] = (rows1 - rows0) / (calls1 - calls0) if one_worker else None
        rows.append(Row(label, system, workers, f"/{'v2 infer' if route == 'v2' else 'invocations'}", batching,
                        result, load))
        log(f"    {result['rps']:,.0f} req/s, p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms")

    for workers in plan.workers:
        for tag, flags in plan.keel_configs:
            with keel_server(model.keel_uri, workers, flags, home, work) as server:
                _check(server, model, f"bench-{model.name}")
                run(server, "keel", workers, "invocations", tag, keel_n)
                if workers == plan.workers[0] and tag == DEFAULT:
                    run(server, "keel", workers, "v2", tag, keel_n)
        if plan.anchors_python and model.mlflow_dir:
            with mlflow_server(plan.anchors_python, model.mlflow_dir, workers, work) as server:
                _check(server, model, None)
                run(server, "mlflow", workers, "invocations", "off", other_n)
        if plan.bentoml_python:
            with bento_server(plan.bentoml_python, model.pickle_path, workers, work) as server:
                _check(server, model, None)
                run(server, "bentoml", workers, "invocations", "off", other_n)
    return rows


# ------------------------------------------------------------------------------------------------------ report


def _ratio_lines(rows: list[Row]) -> list[tuple[str, str, float, float, bool]]:
    """(model, comparison, throughput ratio Keel/MLflow, p99 ratio MLflow/Keel, target met) per model and pairing."""
    out = []
    for model in dict.fromkeys(r.model for r in rows):
        mine = [r for r in rows if r.model == model]
        mlflow = [r for r in mine if r.server == "mlflow"]
        keel = [r for r in mine if r.server == "keel" and r.route == "/invocations"]
        if not mlflow or not keel:
            continue
        pairs = [(f"{_workers(w)} each, Keel batching {tag}", _find(keel, w, tag), _find(mlflow, w, "off"))
                 for w in sorted({r.workers for r in mlflow}) for tag in (DEFAULT, "off")]
        best_keel, best_mlflow = max(keel, key=lambda r: r.rps), max(mlflow, key=lambda r: r.rps)
        pairs.append((f"best of each: Keel {_workers(best_keel.workers)}, batching {best_keel.batching}; MLflow "
                      f"{_workers(best_mlflow.workers)}", best_keel, best_mlflow))
        for what, k, m in pairs:
            if k is None or m is None:
                continue
            ratio, p99 = k.rps / m.rps, m.result["p99_ms"] / k.result["p99_ms"]
            met = ratio >= 5 and (model != "LogisticRegression" or k.result["p99_ms"] < 10)
            out.append((model, what, ratio, p99, met))
    return out


def _find(rows: list[Row], workers: int, batching: str) -> Row | None:
    return next((r for r in rows if r.workers == workers and r.batching == batching), None)


def _workers(count: int) -> str:
    return f"{count} worker{'s' if count > 1 else ''}"


_HEAD = ("model", "server", "workers", "route", "batching", "requests", "req/s", "rows/s", "rows/predict", "p50 ms",
         "p99 ms", "errors", "load")


def _cells(r: Row) -> list[str]:
    res = r.result
    per_call = "-" if res.get("rows_per_call") is None else f"{res['rows_per_call']:.1f}"
    return [r.model, r.server, str(r.workers), r.route, r.batching, fmt_int(res["requests"]), fmt_int(r.rps),
            fmt_int(r.rps), per_call, f"{res['p50_ms']:.1f}", f"{res['p99_ms']:.1f}", str(res["errors"]),
            f"{r.load:.1f}"]


def _table(rows: list[Row]) -> list[str]:
    return ["| " + " | ".join(_HEAD) + " |", "|" + "---|" * len(_HEAD),
            *["| " + " | ".join(_cells(r)) + " |" for r in rows]]


def _print(rows: list[Row]) -> None:
    widths = [19, 8, 7, 13, 19, 9, 8, 8, 12, 8, 8, 6, 5]
    for cells in [list(_HEAD), *map(_cells, rows)]:
        print("P3  " + " ".join(c.ljust(w) if i < 5 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                                     strict=True))))
    for model, what, ratio, p99, met in _ratio_lines(rows):
        print(f"P3 ratio {model}, {what}: throughput {ratio:.2f}x, p99 {p99:.2f}x lower; target "
              f"{'met' if met else 'NOT met'}")


def _write(rows: list[Row], plan: Plan, notes: list[str]) -> None:
    today = dt.date.today().isoformat()
    lines = [
        "## Serving: keel serve vs mlflow models serve (P3)",
        "",
        f"Written by `make bench` (`benchmarks/bench_serving.py`) on {today}. The same fitted scikit-learn model "
        "(20 features) behind each server on 127.0.0.1; `benchmarks/loadgen.py` in its own process keeps "
        f"{plan.concurrency} keep-alive connections busy with the same single-row JSON request "
        '(`{"dataframe_split": {"columns": [...], "data": [[...]]}}` on `/invocations`; a `[1, 20]` FP64 tensor on '
        "Keel's v2 `/infer`), a bounded number of requests after an unmeasured warm-up. rows/s = req/s (one row per "
        "request); rows/predict is how many rows Keel's model got per predict call (its `keel_serving_batch_size` "
        "metric; 1-worker rows only), which adaptive batching raises above 1. Every server's predictions were "
        "checked against the model's first; any non-2xx answer fails the run. Target: Keel >= 5x MLflow's "
        "throughput, and Keel's p99 < 10 ms for the LogisticRegression.",
        "",
        *_table(rows),
        "",
        "| model | comparison | throughput Keel / MLflow | p99 MLflow / Keel | target met |",
        "|---|---|---|---|---|",
        *[f"| {m} | {w} | {ratio:.2f}x | {p99:.2f}x | {'yes' if met else 'no'} |"
          for m, w, ratio, p99, met in _ratio_lines(rows)],
        "",
        "### Notes",
        "",
        *[f"- {n}" for n in notes],
        "",
        f"Machine: {machine_note()}",
        "",
        "Reproduce: `make bench` (or `.venv/bin/python benchmarks/bench_serving.py --anchors-python "
        "benchmarks/.venv-anchors/bin/python --bentoml-python benchmarks/.venv-bentoml/bin/python`).",
    ]
    write_section("serving", lines)


def _source_state() -> tuple[str, dict[str, str]]:
    """Keel's commit (read-only git) and a digest of each file under ``src/keel`` as it is on disk."""
    root = HERE.parent
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
    files = {str(path.relative_to(root)): hashlib.blake2b(path.read_bytes(), digest_size=8).hexdigest()
             for path in sorted((root / "src" / "keel").rglob("*.py"))}
    return head.stdout.strip() or "unknown", files


def _notes(plan: Plan, rows: list[Row], started: float, load_before: tuple[float, float, float],
           source: tuple[str, dict[str, str]]) -> list[str]:
    from keel import __version__

    now = _source_state()[1]
    changed = sorted(path for path in source[1].keys() | now.keys() if source[1].get(path) != now.get(path))
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=HERE.parent, capture_output=True,
                           text=True).stdout.strip()
    notes = [f"Versions: Keel {__version__} (commit {source[0]}{', with uncommitted changes' if dirty else ''})"]
    if plan.anchors_python:
        notes[0] += (f", mlflow {package_version(plan.anchors_python, 'mlflow')} (`mlflow models serve "
                     "--env-manager local`, its uvicorn server; `-w` for the worker count, 1 by default)")
    if plan.bentoml_python:
        notes[0] += (f", BentoML {package_version(plan.bentoml_python, 'bentoml')} (a `@bentoml.service` whose "
                     "`/invocations` API takes the same `dataframe_split` body and calls `model.predict`, "
                     "no schema check)")
    notes[0] += f", scikit-learn {package_version(sys.executable, 'scikit-learn')} on every side."
    cpu = max((r.result["loadgen_cpu"] for r in rows), default=0.0)
    if changed:
        notes.append(f"Keel files that changed on disk during the run (other engineers' work; each server started "
                     f"afterwards loaded them): {', '.join(f'`{c}`' for c in changed)}.")
    notes += [
        "`keel serve` ran with its defaults (prediction log on) plus `--workers` and the batching column's flags: "
        "`off` is `--max-batch-size 1`, `default` passes none (Keel's default batching), `max N rows / W ms` is "
        "`--max-batch-size N --max-wait-ms W`. MLflow and BentoML do not batch these requests.",
        f"Requests per row: Keel {plan.requests:,}, MLflow/BentoML {plan.mlflow_requests:,} for the "
        f"LogisticRegression; a quarter of that for the forest; warm-up {plan.warmup:,} (a quarter for the forest).",
        f"The load generator (asyncio + uvloop, raw HTTP/1.1) used at most {cpu:.0%} of a core; on 2 cores it "
        "competes with the server's workers for CPU, as any client on the same machine would.",
        "Load average before the run (1/5/15 min): {:.1f} / {:.1f} / {:.1f}; the table's last column is the 1-min "
        "load when each row started. Other engineers' tests share the machine.".format(*load_before),
        f"With {plan.concurrency} requests always in flight, the mean latency is {plan.concurrency} / throughput "
        f"(Little's law): a p99 under 10 ms needs well over {plan.concurrency * 100:,} req/s from one server.",
        f"The run took {(time.monotonic() - started) / 60:.1f} min.",
    ]
    if len(plan.keel_configs) == 1:
        notes.append("`keel serve` had no `--max-batch-size` option in this run: Keel ran unbatched only.")
    if not plan.bentoml_python:
        notes.append("BentoML was not measured (no `--bentoml-python`).")
    return notes


# -------------------------------------------------------------------------------------------------------- main


def _parse(argv: list[str] | None) -> tuple[Plan, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Keel alone, LogisticRegression, a few hundred requests")
    parser.add_argument("--anchors-python", help="interpreter of the venv with mlflow (benchmarks/anchors.txt)")
    parser.add_argument("--bentoml-python", help="interpreter of a venv with bentoml (benchmarks/anchors-bentoml.txt)")
    parser.add_argument("--models", default="logreg,forest", help=f"comma-separated, of {sorted(MODELS)}")
    parser.add_argument("--requests", type=int, default=20_000, help="measured requests per Keel row")
    parser.add_argument("--mlflow-requests", type=int, default=3_000, help="per MLflow / BentoML row")
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", default="1,2", help="worker counts to run each server with")
    parser.add_argument("--max-batch-size", type=int, default=32, help="Keel batching rows (when supported)")
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.requests, args.warmup, args.workers = "logreg", 300, 50, "1"
        args.anchors_python = args.bentoml_python = None
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not models or any(m not in MODELS for m in models):
        parser.error(f"--models takes names from {sorted(MODELS)}")
    configs: list[tuple[str, list[str]]] = [(DEFAULT, [])]
    if batching_supported():
        configs = [("off", ["--max-batch-size", "1"]), *configs,
                   (f"max {args.max_batch_size} rows / {args.max_wait_ms:g} ms",
                    ["--max-batch-size", str(args.max_batch_size), "--max-wait-ms", str(args.max_wait_ms)])]
    plan = Plan(models, args.requests, args.mlflow_requests, args.warmup, args.concurrency,
                [int(w) for w in args.workers.split(",")], configs, args.anchors_python, args.bentoml_python)
    return plan, args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; write RESULTS.md unless ``--quick`` or ``--no-write``."""
    plan, args = _parse(argv)
    if not args.quick and not args.anchors_python:
        print("bench_serving: --anchors-python is required without --quick (make bench sets it)", file=sys.stderr)
        return 2
    started, load_before, source = time.monotonic(), os.getloadavg(), _source_state()
    with tempfile.TemporaryDirectory(prefix="keel-bench-serving-") as tmp:
        work, home = Path(tmp), Path(tmp) / "home"
        for key in [k for k in os.environ if k.startswith("KEEL_")]:
            del os.environ[key]
        os.environ["KEEL_HOME"] = str(home)  # keel.log_model in this process writes here; servers read it
        log(f"training and saving {', '.join(plan.models)} ...")
        prepared = _prepare(work, plan.models, args.seed, plan.anchors_python)
        rows = [row for model in prepared for row in _measure_model(plan, model, home, work)]
    _print(rows)
    if not args.quick and not args.no_write:
        _write(rows, plan, _notes(plan, rows, started, load_before, source))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench_serving: {exc}", file=sys.stderr)
        sys.exit(1)

"""Web UI benchmark: how long until the runs page (10k runs) and the compare view (5 runs x 10k steps) are drawn in
headless Chromium, Keel's UI vs the MLflow UI on the same data.

Keel: a store filled through ``SqlTrackingStore`` (10,000 runs with 3 params and 2 metrics each; 5 runs with one
10,000-step ``loss`` curve), served by ``keel server``; the clock runs from ``page.goto`` until the page marks itself
drawn (``body[data-ready="1"]``: the table is rendered, or every chart is drawn). MLflow (with ``--anchors-python``):
the same runs logged with ``MlflowClient`` into a SQLite store served by ``mlflow server``; the clock runs until the
newest run's name shows in the runs table, and until the metric page has drawn the 5 curves. Each page is loaded
once cold (fresh browser context) and then ``--repeats`` times warm (same context); the table shows the median warm
load and the cold one. ``--quick``: tiny sizes, Keel alone, nothing written to RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_results import write_section
from bench_support import BenchError, clean_env, free_port, log, machine_note, package_version, running_server

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
TARGET_S = 2.0


def run_values(i: int) -> tuple[dict[str, str], dict[str, float]]:
    """The params and metrics of run ``i`` (deterministic, the same on both sides)."""
    params = {"lr": str(10 ** -(1 + i % 4)), "batch": str(2 ** (4 + i % 4)), "layers": str(1 + i % 5)}
    acc = 0.5 + 0.5 * ((i * 7919) % 1000) / 1000
    return params, {"acc": acc, "loss": round(1 - acc, 6)}


def curve(run: int, step: int) -> float:
    """Step ``step`` of the ``loss`` curve of long run ``run``."""
    return math.exp(-step / 2000) * (1 + 0.1 * run) + 0.05 * math.sin(step / 37 + run)


# -- filling the stores --------------------------------------------------------------------------------------------
def fill_keel(home: Path, runs: int, curves: int, steps: int) -> tuple[str, list[str]]:
    """The Keel store: ``runs`` short runs and ``curves`` long runs; returns (experiment id, long run ids)."""
    from keel.store import open_database
    from keel.tracking.entities import Metric
    from keel.tracking.points import MetricPoints
    from keel.tracking.sql import SqlTrackingStore

    store = SqlTrackingStore(open_database(f"sqlite:///{home / 'keel.db'}"), "default")
    exp = store.create_experiment("ui-bench")
    now = int(time.time() * 1000)
    for i in range(runs):
        params, metrics = run_values(i)
        run = store.create_run(exp, "bench", now + i, {}, f"run-{i:05d}")
        store.log_batch(run.info.run_id, [Metric(k, v, now + i, 0) for k, v in metrics.items()], params)
    long_ids = []
    for r in range(curves):
        run = store.create_run(exp, "bench", now + runs + r, {}, f"long-{r}")
        points = MetricPoints(["loss"] * steps, [curve(r, s) for s in range(steps)],
                              [now + s * 100 for s in range(steps)], list(range(steps)))
        store.log_metric_columns(run.info.run_id, points)
        store.update_run(run.info.run_id, "FINISHED", now + runs + r + 1000)
        long_ids.append(run.info.run_id)
    return exp, long_ids


MLFLOW_FILL = """
import json, math, sys, time
from mlflow.tracking import MlflowClient
from mlflow.entities import Metric, Param
uri, runs, curves, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
exec(sys.argv[5])  # run_values and curve, the same source as Keel's side
client = MlflowClient(tracking_uri=uri)
exp = client.create_experiment("ui-bench")
now = int(time.time() * 1000)
for i in range(runs):
    params, metrics = run_values(i)
    run = client.create_run(exp, start_time=now + i, run_name=f"run-{i:05d}")
    client.log_batch(run.info.run_id, metrics=[Metric(k, v, now + i, 0) for k, v in metrics.items()],
                     params=[Param(k, v) for k, v in params.items()])
long_ids = []
for r in range(curves):
    run = client.create_run(exp, start_time=now + runs + r, run_name=f"long-{r}")
    points = [Metric("loss", curve(r, s), now + s * 100, s) for s in range(steps)]
    for start in range(0, steps, 1000):
        client.log_batch(run.info.run_id, metrics=points[start:start + 1000])
    client.set_terminated(run.info.run_id, end_time=now + runs + r + 1000)
    long_ids.append(run.info.run_id)
print(json.dumps({"experiment_id": exp, "long_ids": long_ids}))
"""


def start_mlflow_fill(python: str, workdir: Path, runs: int, curves: int, steps: int) -> subprocess.Popen[str]:
    """Start logging the same runs into an MLflow SQLite store with ``MlflowClient`` (in the anchors venv)."""
    import inspect

    source = inspect.getsource(run_values) + "\n" + inspect.getsource(curve)
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    cmd = [str(Path(python).absolute()), "-c", MLFLOW_FILL, uri, str(runs), str(curves), str(steps), source]
    return subprocess.Popen(cmd, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=workdir)


def finish_mlflow_fill(proc: subprocess.Popen[str], workdir: Path) -> dict[str, Any]:
    """Wait for :func:`start_mlflow_fill`; its experiment id, long run ids and store URI."""
    out, err = proc.communicate(timeout=3600)
    if proc.returncode != 0:
        raise BenchError(f"filling MLflow's store failed:\n{err[-3000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["uri"] = f"sqlite:///{workdir / 'mlflow.db'}"
    return result


# -- measuring ------------------------------------------------------------------------------------------------------
def time_page(browser: Any, url: str, wait: str, repeats: int, check: str | None = None) -> dict[str, Any]:
    """Load ``url`` cold once (fresh context), then ``repeats`` times warm; ``wait`` is a JS predicate that says
    the page is drawn. Returns the cold time, the warm samples and the value of ``check`` (JS) on the last load."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    samples = []
    checked = None
    try:
        for _ in range(repeats + 1):
            page.goto("about:blank")  # a real load each time (a hash URL would otherwise be a same-page jump)
            start = time.perf_counter()
            page.goto(url, wait_until="commit")
            page.wait_for_function(wait, timeout=60_000, polling=20)
            samples.append(time.perf_counter() - start)
            if check:
                checked = page.evaluate(check)
    finally:
        context.close()
    return {"cold_s": samples[0], "warm_s": samples[1:], "median_s": statistics.median(samples[1:] or samples),
            "check": checked, "page_errors": errors}


KEEL_READY = "document.body && document.body.dataset.ready === '1'"


def measure_keel(browser: Any, url: str, exp: str, long_ids: list[str], repeats: int) -> dict[str, dict[str, Any]]:
    """The runs page (first page, sorted by a metric, a far page) and the compare view."""
    pages = {
        "runs page": (f"{url}/ui/experiments?exp={exp}", "document.querySelectorAll('#runs-table tbody tr').length"),
        "runs page sorted by metrics.acc": (f"{url}/ui/experiments?exp={exp}&order=metrics.acc+DESC", None),
        "runs page, page 50": (f"{url}/ui/experiments?exp={exp}&page=50", None),
        "compare view": (f"{url}/ui/compare?runs={','.join(long_ids)}",
                         "document.querySelector(\"#charts .chart[data-metric='loss']\").uplot.series.length - 1"),
    }
    return {name: time_page(browser, page_url, KEEL_READY, repeats, check) for name, (page_url, check) in pages.items()}


def measure_mlflow(browser: Any, url: str, filled: dict[str, Any], runs: int,
                   repeats: int) -> dict[str, dict[str, Any]]:
    """MLflow's experiment page (until the newest run shows) and its metric page for the 5 long runs."""
    exp, ids = filled["experiment_id"], filled["long_ids"]
    newest = f"long-{len(ids) - 1}" if ids else f"run-{runs - 1:05d}"
    runs_wait = f"document.body && document.body.innerText.includes({json.dumps(newest)})"
    run_list = json.dumps(ids).replace(" ", "")
    metric_url = (f"{url}/#/metric?runs={run_list}&metric=%22loss%22&experiments=[%22{exp}%22]"
                  "&plot_metric_keys=[%22loss%22]&plot_layout={}&x_axis=step&y_axis_scale=linear&line_smoothness=1"
                  "&show_point=false&deselected_curves=[]&last_linear_y_axis_range=[]")
    traces = ("Array.from(document.querySelectorAll('.js-plotly-plot .scatterlayer .trace path.js-line'))"
              ".filter(p => (p.getAttribute('d') || '').length > 10).length")
    runs_url = f"{url}/#/experiments/{exp}/runs?workflowType=machine_learning"  # not the GenAI overview
    return {"runs page": time_page(browser, runs_url, runs_wait, repeats),
            "compare view": time_page(browser, metric_url, f"{traces} >= {len(ids)}", repeats, traces)}


# -- reporting ------------------------------------------------------------------------------------------------------
def _fmt(result: dict[str, Any] | None) -> str:
    if not result:
        return "-"
    return f"{result['median_s']:.2f} s (cold {result['cold_s']:.2f} s)"


def report(args: argparse.Namespace, keel: dict[str, dict[str, Any]], mlflow: dict[str, dict[str, Any]] | None,
           mlflow_note: str, load: tuple[float, float, float], versions: dict[str, str]) -> list[str]:
    today = dt.date.today().isoformat()
    lines = ["## Web UI: time to a drawn page in headless Chromium (U1, U2)", "",
             f"Written by `make bench` (`benchmarks/bench_ui.py`) on {today}: Keel {versions['keel']}"
             + (f" and MLflow {versions['mlflow']}" if mlflow else "") + f", Chromium `{CHROMIUM}` headless, "
             f"viewport 1400x900. {args.runs:,} runs with 3 params and 2 metrics each, plus {args.curves} runs with "
             f"a {args.steps:,}-step `loss` curve, in one experiment. Each figure is the median of {args.repeats} "
             "warm loads (same browser context) after one cold load (fresh context), from `page.goto` until the page "
             "is drawn.", "",
             "| benchmark | Keel | MLflow | target | met | date |", "|---|---|---|---|---|---|"]
    rows = [(f"U1 runs page, {args.runs:,} runs", "runs page"),
            ("U1 runs page sorted by a metric", "runs page sorted by metrics.acc"),
            ("U1 runs page, page 50 (server-side paging)", "runs page, page 50"),
            (f"U2 compare view, {args.curves} runs x {args.steps:,} steps", "compare view")]
    for label, key in rows:
        ours = keel[key]
        theirs = (mlflow or {}).get(key)
        met = "yes" if ours["median_s"] < TARGET_S and ours["cold_s"] < TARGET_S else "no"
        lines.append(f"| {label} | {_fmt(ours)} | {_fmt(theirs)} | < {TARGET_S:.0f} s | {met} | {today} |")
    compare = keel["compare view"]
    lines += ["", "### Notes", "",
              "- Keel's ready marker: `body[data-ready=\"1\"]`, set by the page's script once the runs table is in "
              "the DOM (server-rendered, 100 runs per page, searched and sorted by the store) or once every chart "
              f"is drawn (uPlot; each curve downsampled server-side with LTTB to <= 1,500 points). The compare view "
              f"drew {compare['check']} curves.",
              f"- MLflow: {mlflow_note}",
              f"- Load average (1/5/15 min) when the run started: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
              + ("; the machine was busy (other work adds noise)." if load[0] > 1.5 else "."),
              f"- Machine: {machine_note()}", "",
              "Reproduce: `make bench` (or `.venv/bin/python benchmarks/bench_ui.py --anchors-python "
              "benchmarks/.venv-anchors/bin/python`)."]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, Keel only, no RESULTS.md")
    parser.add_argument("--anchors-python", help="interpreter of the venv with mlflow (benchmarks/anchors.txt)")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--curves", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.curves, args.steps, args.repeats, args.no_write = 150, 2, 500, 1, True
        args.anchors_python = None
    from playwright.sync_api import sync_playwright

    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="keel-bench-ui-") as tmp:
        work = Path(tmp)
        home = work / "keel-home"
        home.mkdir()
        t0 = time.perf_counter()
        filling = start_mlflow_fill(args.anchors_python, work, args.runs, args.curves, args.steps) \
            if args.anchors_python else None  # both stores fill at once
        exp, long_ids = fill_keel(home, args.runs, args.curves, args.steps)
        log(f"keel store filled in {time.perf_counter() - t0:.1f} s")
        mlflow_filled = None
        mlflow_note = "not measured (no `--anchors-python`)."
        if filling is not None:
            mlflow_filled = finish_mlflow_fill(filling, work)
            log(f"mlflow store filled in {time.perf_counter() - t0:.1f} s")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            port = free_port()
            env = clean_env({"KEEL_HOME": str(home)})
            with running_server("keel", [sys.executable, "-m", "keel", "server", "--port", str(port)], env, work,
                                port) as server:
                keel = measure_keel(browser, server.url, exp, long_ids, args.repeats)
            mlflow = None
            if mlflow_filled is not None:
                port = free_port()
                mlflow_bin = str(Path(args.anchors_python).absolute().parent / "mlflow")
                cmd = [mlflow_bin, "server", "--backend-store-uri", mlflow_filled["uri"], "--host", "127.0.0.1",
                       "--port", str(port), "--workers", "1", "--default-artifact-root", str(work / "mlartifacts")]
                try:
                    with running_server("mlflow", cmd, clean_env(), work, port) as server:
                        mlflow = measure_mlflow(browser, server.url, mlflow_filled, args.runs, args.repeats)
                    mlflow_note = ("`mlflow server` (1 worker) on the SQLite store the `MlflowClient` filled; "
                                   "runs page `/#/experiments/<id>/runs?workflowType=machine_learning` until the "
                                   "newest run's name is on screen; compare view = its metric page (`/#/metric?...`) "
                                   "for the long runs until plotly has drawn one line per run.")
                except Exception as exc:  # noqa: BLE001 - the MLflow side is reported, never fatal
                    mlflow_note = f"could not be measured: {str(exc).splitlines()[0][:300]}"
                    log(f"mlflow: {exc}")
            browser.close()
    for name, result in keel.items():
        print(f"keel  {name}: median {result['median_s']:.3f} s, cold {result['cold_s']:.3f} s, "
              f"check {result['check']}")
    for name, result in (mlflow or {}).items():
        print(f"mlflow {name}: median {result['median_s']:.3f} s, cold {result['cold_s']:.3f} s")
    if keel["compare view"]["check"] != args.curves:
        raise BenchError(f"the compare view drew {keel['compare view']['check']} curves, expected {args.curves}")
    if not args.no_write:
        from keel import __version__

        versions = {"keel": __version__,
                    "mlflow": package_version(args.anchors_python, "mlflow") if args.anchors_python else ""}
        write_section("ui", report(args, keel, mlflow, mlflow_note, load, versions))
    return 0


if __name__ == "__main__":
    sys.exit(main())

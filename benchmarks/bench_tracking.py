"""Keel vs MLflow tracking, side by side in one run, on loopback (``make bench``).

P1  100k metric points logged through each system's Python client into its own server, each in its fastest
    documented way (Keel: ``keel.log_metric`` per point + ``keel.flush()``; MLflow: the fastest of ``log_batch`` with
    1000 metrics per request, the same asynchronously, and ``log_metric(synchronous=False)``), timed until every
    point is acknowledged, then counted back through the server. Target: Keel >= 20x MLflow and >= 200k points/s.
P2  Search with a metric filter and order (``metrics.acc > 0.5``, ``metrics.acc DESC``, top 100) over 100k runs,
    each store filled through its own store API and then searched through its server's REST API. Target: Keel >= 10x
    MLflow and Keel p50 < 50 ms.

Keel runs with this interpreter; MLflow (pinned in ``benchmarks/anchors.txt``) with ``--anchors-python``. The
figures go to ``benchmarks/RESULTS.md``. ``--quick`` runs Keel alone on tiny sizes as a smoke test (no anchors
needed, writes nothing) and exits non-zero when a correctness check fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench_clients import INGEST_KEY, MLFLOW_MODES, mlflow_fill, run_values
from bench_support import (
    HERE,
    HOST,
    BenchError,
    clean_env,
    count_history,
    finish_client,
    fmt_int,
    free_port,
    log,
    machine_note,
    package_version,
    percentile,
    python_version,
    run_client,
    running_server,
    start_client,
)

RESULTS = HERE / "RESULTS.md"
CACHE = HERE / ".work"  # git-ignored: MLflow's filled search store is kept here (keyed by version, size, seed)
SEARCH_FILTER = "metrics.acc > 0.5"
SEARCH_ORDER = ["metrics.acc DESC"]
SEARCH_LIMIT = 100
MLFLOW_SEARCH = "/api/2.0/mlflow/runs/search"
KEEL_SEARCH = "/api/v1/runs/search"


@dataclass
class Config:
    """What to run, from the command line."""

    points: int
    runs: int
    quick: bool
    anchors_python: str | None
    seed: int = 0
    warmups: int = 2
    repeats: int = 20
    budget_s: float = 120.0
    timeout_s: float = 1800.0
    refill: bool = False
    only: str | None = None
    mlflow_modes: list[str] = field(default_factory=lambda: list(MLFLOW_MODES))


@dataclass
class Row:
    """One line of the results table."""

    benchmark: str
    keel: str
    mlflow: str
    ratio: str
    target: str
    met: str


@dataclass
class Outcome:
    """A benchmark's table row plus the notes that explain it."""

    row: Row
    notes: list[str]


# -- P1 ---------------------------------------------------------------------------------------------------------
def _keel_server_cmd(port: int, home: Path) -> list[str]:
    return [sys.executable, "-m", "keel", "server", "--host", HOST, "--port", str(port), "--home", str(home)]


def _mlflow_server_cmd(python: str, port: int, home: Path) -> list[str]:
    return [python, "-m", "mlflow", "server", "--host", HOST, "--port", str(port), "--backend-store-uri",
            f"sqlite:///{home / 'mlflow.db'}", "--artifacts-destination", str(home / "artifacts")]


def _anchors_env(python: str) -> dict[str, str]:
    # `mlflow server` starts uvicorn from PATH: the anchors venv's bin must come first.
    return clean_env(path_prefix=Path(python).absolute().parent)


def _verify_ingest(system: str, url: str, run_id: str, points: int) -> None:
    count, steps = count_history(url, run_id, INGEST_KEY)
    if count != points or steps != set(range(points)):
        raise BenchError(f"P1 {system}: the server holds {count:,} points ({len(steps):,} distinct steps) of run "
                         f"{run_id}, expected {points:,}")


def ingest(system: str, cfg: Config, tmp: Path, mode: str = "log_metric") -> float:
    """Seconds to log ``cfg.points`` points into a fresh server of ``system`` (verified afterwards)."""
    home = tmp / f"p1-{system}-{mode}"
    home.mkdir()
    port = free_port()
    if system == "keel":
        python, cmd, env = sys.executable, _keel_server_cmd(port, home), clean_env()
        job = ["keel-ingest"]
    else:
        python = cfg.anchors_python or ""
        cmd, env = _mlflow_server_cmd(python, port, home), _anchors_env(python)
        job = ["mlflow-ingest", "--mode", mode]
    with running_server(system, cmd, env, home, port) as server:
        result = run_client(python, [*job, "--uri", server.url, "--points", str(cfg.points)], env)
        _verify_ingest(system, server.url, str(result["run_id"]), cfg.points)
    elapsed = float(result["elapsed_s"])
    log(f"  P1 {system} {mode}: {cfg.points:,} points in {elapsed:.3f} s = {fmt_int(cfg.points / elapsed)} points/s")
    return elapsed


def bench_p1(cfg: Config, tmp: Path) -> Outcome:
    """P1: ingest throughput of both systems."""
    log(f"P1: {cfg.points:,} metric points through each client")
    keel_rate = cfg.points / ingest("keel", cfg, tmp)
    target = ">= 20x MLflow and >= 200,000 points/s"
    name = f"P1 ingest {cfg.points:,} points"
    if cfg.quick:
        return Outcome(Row(name, f"{fmt_int(keel_rate)} points/s", "-", "-", target, "-"), [])
    rates = {mode: cfg.points / ingest("mlflow", cfg, tmp, mode) for mode in cfg.mlflow_modes}
    best = max(rates, key=lambda m: rates[m])
    ratio = keel_rate / rates[best]
    met = ratio >= 20 and keel_rate >= 200_000
    tried = ", ".join(f"`{m}` {fmt_int(r)}" for m, r in rates.items())
    notes = [f"P1 Keel: `keel.log_metric` once per point, then `keel.flush()`: {fmt_int(keel_rate)} points/s.",
             f"P1 MLflow variants (points/s): {tried}; the table uses the fastest, `{best}`."]
    row = Row(name, f"{fmt_int(keel_rate)} points/s", f"{fmt_int(rates[best])} points/s", f"{ratio:.1f}x", target,
              "yes" if met else "NO")
    return Outcome(row, notes)


# -- P2 ---------------------------------------------------------------------------------------------------------
def _expected_accs(runs: int, seed: int) -> list[float]:
    accs = sorted((acc for _, acc, _ in run_values(runs, seed) if acc > 0.5), reverse=True)
    return accs[:SEARCH_LIMIT]


def _check_search(system: str, body: dict[str, Any], expected: list[float]) -> None:
    found = body.get("runs") or []
    accs = []
    for run in found:
        metrics = {m["key"]: float(m["value"]) for m in (run.get("data") or {}).get("metrics") or []}
        accs.append(metrics.get("acc", float("nan")))
    if len(accs) != len(expected) or any(abs(a - b) > 1e-12 for a, b in zip(accs, expected, strict=True)):
        raise BenchError(f"P2 {system}: search returned {len(accs)} runs with acc {accs[:3]}..., expected "
                         f"{len(expected)} runs with acc {expected[:3]}... (sorted descending, all > 0.5)")


@dataclass
class Timing:
    """Search round trips of one server: timed samples, and the timeout if a request did not finish within it."""

    samples: list[float]
    warmups: int
    timed_out_s: float | None = None
    cold_only: bool = False

    @property
    def p50(self) -> float:
        """Median in ms; the timeout when no request finished."""
        if self.samples:
            return percentile(self.samples, 50)
        return (self.timed_out_s or float("nan")) * 1000

    def figure(self) -> str:
        """The table cell: ``12.3 ms``, or ``> 300 s (timed out)``."""
        if self.timed_out_s is not None and not self.samples:
            return f"> {self.timed_out_s:,.0f} s (timed out)"
        return f"{self.p50 / 1000:,.1f} s" if self.p50 >= 10_000 else f"{self.p50:,.1f} ms"

    def describe(self) -> str:
        """p50, p95 and how many requests, for the notes."""
        if not self.samples:
            return f"no answer within {self.timed_out_s:,.0f} s (after {self.warmups} warm-ups)"
        if self.cold_only:
            return (f"one request, {self.p50 / 1000:,.1f} s: it ran longer than the whole time budget, so it was "
                    "neither warmed up nor repeated")
        text = (f"p50 {self.p50:,.1f} ms, p95 {percentile(self.samples, 95):,.1f} ms over {len(self.samples)} "
                f"requests after {self.warmups} warm-ups")
        return text + (f"; then a request ran past {self.timed_out_s:,.0f} s" if self.timed_out_s else "")


def time_search(system: str, url: str, path: str, body: dict[str, Any], cfg: Config,
                expected: list[float]) -> Timing:
    """Round trips of one search request, after warm-ups, checked against the expected answer.

    Warm-ups stop once they took half the budget; timing stops after ``cfg.repeats`` requests or once the budget
    is spent with at least 3 samples. A request that runs past ``cfg.timeout_s`` ends the timing of this server.
    """
    payload = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    timing = Timing([], 0)

    def one(check: bool) -> float:
        t0 = time.perf_counter()
        resp = client.post(path, content=payload, headers=headers)
        elapsed_ms = (time.perf_counter() - t0) * 1000
        if resp.status_code != 200:
            raise BenchError(f"P2 {system} {path}: HTTP {resp.status_code} {resp.text[:300]}")
        if check:
            _check_search(system, resp.json(), expected)
        return elapsed_ms

    with httpx.Client(base_url=url, timeout=httpx.Timeout(cfg.timeout_s, connect=10.0)) as client:
        try:
            started = time.perf_counter()
            while timing.warmups < cfg.warmups and (
                    timing.warmups == 0 or time.perf_counter() - started < cfg.budget_s / 2):
                elapsed_ms = one(check=timing.warmups == 0)
                log(f"  P2 {system} {path}: warm-up {timing.warmups + 1}: {elapsed_ms:,.1f} ms")
                if elapsed_ms > cfg.budget_s * 1000:
                    # Longer than the whole budget: caches are not what this time is made of, and repeating it
                    # would take many minutes. This one request is the figure.
                    timing.samples.append(elapsed_ms)
                    timing.cold_only = True
                    break
                timing.warmups += 1
            started = time.perf_counter()
            while not timing.cold_only and len(timing.samples) < cfg.repeats:
                timing.samples.append(one(check=not timing.samples))
                if len(timing.samples) >= 3 and time.perf_counter() - started > cfg.budget_s:
                    break
        except httpx.TimeoutException:
            timing.timed_out_s = cfg.timeout_s
    log(f"  P2 {system} {path}: {timing.describe()}")
    return timing


def _copy_store(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("artifacts"))


def _stage_dir() -> Path:
    # Filling is not what is measured: stage it on tmpfs when there is one (SQLite's fsyncs made MLflow's fill
    # ~1.7x slower on disk), then copy the finished files to the work dir the servers search on.
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix="keel-bench-fill-", dir=shm if shm.is_dir() else None))


def _mlflow_cache_dir(cfg: Config) -> Path:
    version = package_version(cfg.anchors_python or "", "mlflow") or "unknown"
    code = inspect.getsource(mlflow_fill) + inspect.getsource(run_values)
    digest = hashlib.sha256(code.encode()).hexdigest()[:10]
    return CACHE / f"mlflow-{version}-runs{cfg.runs}-seed{cfg.seed}-{digest}"


def fill_stores(cfg: Config, tmp: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Fill Keel's store (always fresh) and MLflow's (or reuse it from the cache) into ``tmp``."""
    stage = _stage_dir()
    mlflow_proc: subprocess.Popen[bytes] | None = None
    keel_proc: subprocess.Popen[bytes] | None = None
    try:
        (stage / "keel").mkdir()
        cache = None if cfg.quick else _mlflow_cache_dir(cfg)
        if cache is not None and (cfg.refill or not (cache / "fill.json").is_file()):
            (stage / "mlflow").mkdir()
            python = cfg.anchors_python or ""
            log(f"P2: filling MLflow's store with {cfg.runs:,} runs through SqlAlchemyStore (cached afterwards)")
            mlflow_proc = start_client(python, ["mlflow-fill", "--db", str(stage / "mlflow" / "mlflow.db"),
                                                "--artifacts", str(stage / "mlflow" / "artifacts"),
                                                "--runs", str(cfg.runs), "--seed", str(cfg.seed)],
                                       _anchors_env(python))
        log(f"P2: filling Keel's store with {cfg.runs:,} runs through SqlTrackingStore")
        keel_proc = start_client(sys.executable, ["keel-fill", "--db", str(stage / "keel" / "keel.db"),
                                                  "--runs", str(cfg.runs), "--seed", str(cfg.seed)], clean_env())
        keel_fill = finish_client(keel_proc, "keel-fill")
        keel_fill["concurrent"] = mlflow_proc is not None
        _copy_store(stage / "keel", tmp / "p2-keel")
        if cache is None:
            return keel_fill, None
        if mlflow_proc is not None:
            mlflow_fill = finish_client(mlflow_proc, "mlflow-fill")
            mlflow_fill["date"] = dt.date.today().isoformat()
            shutil.rmtree(cache, ignore_errors=True)
            _copy_store(stage / "mlflow", cache)
            (cache / "fill.json").write_text(json.dumps(mlflow_fill))
            mlflow_fill["cached"] = False
        else:
            mlflow_fill = json.loads((cache / "fill.json").read_text())
            mlflow_fill["cached"] = True
            log(f"P2: reusing MLflow's store from {cache} (filled {mlflow_fill.get('date')}; --refill-mlflow to redo)")
        _copy_store(cache, tmp / "p2-mlflow")
        return keel_fill, mlflow_fill
    finally:
        for proc in (mlflow_proc, keel_proc):  # left running only when something failed
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(stage, ignore_errors=True)


def _search_body(experiment_id: str) -> dict[str, Any]:
    return {"experiment_ids": [experiment_id], "filter": SEARCH_FILTER, "order_by": SEARCH_ORDER,
            "max_results": SEARCH_LIMIT}


def bench_p2(cfg: Config, tmp: Path) -> Outcome:
    """P2: filtered, ordered search over ``cfg.runs`` runs through each server."""
    keel_fill, mlflow_fill = fill_stores(cfg, tmp)
    expected = _expected_accs(cfg.runs, cfg.seed)
    home, port = tmp / "p2-keel", free_port()
    log(f"P2: searching ({SEARCH_FILTER}, order by {SEARCH_ORDER[0]}, top {SEARCH_LIMIT})")
    with running_server("keel", _keel_server_cmd(port, home), clean_env(), home, port) as server:
        body = _search_body(str(keel_fill["experiment_id"]))
        keel_ms = time_search("keel", server.url, MLFLOW_SEARCH, body, cfg, expected)
        keel_v1_ms = time_search("keel", server.url, KEEL_SEARCH, body, cfg, expected)
    keel_p50 = keel_ms.p50
    name = f"P2 search {cfg.runs:,} runs (p50)"
    target = ">= 10x MLflow and Keel p50 < 50 ms"
    fill_note = (f"P2 fill: Keel {cfg.runs:,} runs in {keel_fill['elapsed_s']:.0f} s "
                 f"({keel_fill['elapsed_s'] / cfg.runs * 1000:.1f} ms/run)")
    notes = [f"P2 Keel on `{MLFLOW_SEARCH}`: {keel_ms.describe()}; on Keel's own `{KEEL_SEARCH}`: "
             f"{keel_v1_ms.describe()}."]
    if mlflow_fill is None:
        return Outcome(Row(name, keel_ms.figure(), "-", "-", target, "-"), notes)
    python = cfg.anchors_python or ""
    home, port = tmp / "p2-mlflow", free_port()
    with running_server("mlflow", _mlflow_server_cmd(python, port, home), _anchors_env(python), home, port) as server:
        mlflow_ms = time_search("mlflow", server.url, MLFLOW_SEARCH, _search_body(str(mlflow_fill["experiment_id"])),
                                cfg, expected)
    ratio = mlflow_ms.p50 / keel_p50
    lower_bound = not mlflow_ms.samples  # MLflow never answered: its figure and the ratio are lower bounds
    notes.append(f"P2 MLflow on `{MLFLOW_SEARCH}`: {mlflow_ms.describe()}.")
    concurrent = " (the two fills ran concurrently on 2 cores)" if keel_fill["concurrent"] else ""
    reuse = f", reused from the cache, filled {mlflow_fill.get('date')}" if mlflow_fill.get("cached") else ""
    notes.append(f"{fill_note}; MLflow in {mlflow_fill['elapsed_s']:.0f} s "
                 f"({mlflow_fill['elapsed_s'] / cfg.runs * 1000:.1f} ms/run{reuse}){concurrent}.")
    met = ratio >= 10 and keel_p50 < 50 and not keel_ms.timed_out_s
    ratio_text = f"{'> ' if lower_bound else ''}{ratio:,.1f}x"
    return Outcome(Row(name, keel_ms.figure(), mlflow_ms.figure(), ratio_text, target, "yes" if met else "NO"),
                   notes)


# -- report -----------------------------------------------------------------------------------------------------
def print_table(rows: list[Row]) -> None:
    """The results as an aligned text table on stdout."""
    header = Row("benchmark", "Keel", "MLflow", "ratio", "target", "met")
    cells = [[r.benchmark, r.keel, r.mlflow, r.ratio, r.target, r.met] for r in [header, *rows]]
    widths = [max(len(c[i]) for c in cells) for i in range(6)]
    for line in cells:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def write_results(rows: list[Row], notes: list[str], cfg: Config, seconds: float, load: str) -> None:
    """Replace the "tracking" section of ``benchmarks/RESULTS.md`` with this run's figures (other sections stay)."""
    from bench_results import write_section  # shared by the benchmark scripts; only a full run needs it

    python = cfg.anchors_python or ""
    today, machine = dt.date.today().isoformat(), machine_note()
    mlflow_version, keel_version = package_version(python, "mlflow"), package_version(sys.executable, "keel-mlops")
    anchors = f"`benchmarks/anchors.txt`, Python {python_version(python)}"
    lines = [
        "## Tracking: Keel vs MLflow",
        "",
        f"Written by `make bench` (`benchmarks/bench_tracking.py`) on {today}: Keel {keel_version} and MLflow "
        f"{mlflow_version} ({anchors}) "
        "side by side in one run, each against its own server on 127.0.0.1 with a fresh SQLite database and the "
        f"server's default settings (`keel server`: 1 worker; `mlflow server`: 4 workers). The run took "
        f"{seconds / 60:.1f} min. The ratio within one run is what counts; machines are noisy.",
        "",
        "| benchmark | Keel | MLflow | ratio | target | met | date | machine |",
        "|---|---|---|---|---|---|---|---|",
        *[f"| {r.benchmark} | {r.keel} | {r.mlflow} | {r.ratio} | {r.target} | {r.met} | {today} | {machine} |"
          for r in rows],
        "",
        "### Notes",
        "",
        *[f"- {n}" for n in notes],
        f"- Load average (1/5/15 min) when the run started: {load}; other work on the machine adds noise.",
        "- P1 counts from the first log call until every point is acknowledged by the server, then reads every "
        "point back through `metrics/get-history` (the run fails if one is missing). Each variant gets a fresh "
        "server and database.",
        f"- P2 searches `{SEARCH_FILTER}` ordered by `{SEARCH_ORDER[0]}`, top {SEARCH_LIMIT}, over one experiment of "
        "runs that each have metrics `acc` and `loss`, param `lr` and tags `group` and `mlflow.runName`; both stores "
        "hold the same values (seeded) and both answers are checked against the expected top 100. The table's "
        f"figures use the same request on both servers (`{MLFLOW_SEARCH}`); the time is the HTTP round trip.",
        "- Neither store was `ANALYZE`d (measured as a user gets it). `shared/ANCHORS.md` saw MLflow 3.17 on SQLite "
        "at 11.6 s p50 for this search over 100k runs and 0.58 s after a manual `ANALYZE`, 0.17 s without a filter. "
        "Without statistics, SQLite runs MLflow 3.17's query (a join on a materialized `latest_metrics` subquery for "
        "the order) as `SCAN anon_1 LEFT-JOIN` once per matching run, so its time grows with the square of the run "
        "count; how far that goes depends on the data and the machine.",
        "- The stores are filled through their store APIs (`SqlTrackingStore` / `SqlAlchemyStore`, one run at a "
        "time) on tmpfs, then copied to disk for the search; MLflow's filled store is cached in "
        "`benchmarks/.work/` (keyed by MLflow version, run count, seed and the fill code; `--refill-mlflow` redoes "
        "it).",
        "",
        f"Reproduce: `make bench` (or `.venv/bin/python benchmarks/bench_tracking.py --anchors-python "
        f"benchmarks/.venv-anchors/bin/python --points {cfg.points} --runs {cfg.runs}`).",
        "",
    ]
    write_section("tracking", lines, RESULTS)
    log(f"wrote the tracking section of {RESULTS}")


# -- CLI --------------------------------------------------------------------------------------------------------
def _usable_anchors(python: str | None) -> str | None:
    if not python or not Path(python).exists():
        return None
    python = str(Path(python).absolute())  # absolute, not resolved: a venv's python is a symlink
    return python if package_version(python, "mlflow") else None


def parse_args(argv: list[str] | None) -> tuple[Config, bool]:
    """The configuration and whether to write RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Keel only, tiny sizes, no RESULTS.md (smoke test)")
    parser.add_argument("--anchors-python", help="interpreter of the venv with mlflow (benchmarks/anchors.txt)")
    parser.add_argument("--points", type=int, help="P1 points (default 100000; --quick 2000)")
    parser.add_argument("--runs", type=int, help="P2 runs (default 100000; --quick 500)")
    parser.add_argument("--repeats", type=int, default=20, help="P2 timed searches per server (default 20)")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="P2: stop timing a server's searches after this many seconds once 3 are in")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="P2: a search running longer than this many seconds ends that server's timing")
    parser.add_argument("--seed", type=int, default=0, help="seed of the P2 values")
    parser.add_argument("--only", choices=("p1", "p2"), help="run one benchmark (implies --no-write)")
    parser.add_argument("--mlflow-modes", default=",".join(MLFLOW_MODES), help="P1 MLflow variants, comma-separated")
    parser.add_argument("--refill-mlflow", action="store_true", help="refill MLflow's P2 store instead of the cache")
    parser.add_argument("--no-write", action="store_true", help="do not update benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    modes = [m for m in args.mlflow_modes.split(",") if m]
    if not modes or any(m not in MLFLOW_MODES for m in modes):
        parser.error(f"--mlflow-modes: choose from {', '.join(MLFLOW_MODES)}")
    cfg = Config(points=args.points or (2_000 if args.quick else 100_000),
                 runs=args.runs or (500 if args.quick else 100_000), quick=args.quick,
                 anchors_python=None if args.quick else _usable_anchors(args.anchors_python), seed=args.seed,
                 warmups=1 if args.quick else 2, repeats=5 if args.quick else max(1, args.repeats),
                 budget_s=args.budget, timeout_s=args.timeout, refill=args.refill_mlflow, only=args.only,
                 mlflow_modes=modes)
    if not args.quick and cfg.anchors_python is None:
        parser.exit(2, f"{parser.prog}: no usable MLflow interpreter ({args.anchors_python or 'none given'}). Run "
                       "`make bench` (it builds benchmarks/.venv-anchors from benchmarks/anchors.txt) or pass "
                       "--anchors-python PATH; --quick runs Keel alone.\n")
    return cfg, not (args.quick or args.no_write or args.only)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks, print the table, write RESULTS.md unless told not to."""
    cfg, write = parse_args(argv)
    started = time.perf_counter()
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    tmp = Path(tempfile.mkdtemp(prefix="keel-bench-"))
    outcomes: list[Outcome] = []
    try:
        if cfg.only in (None, "p1"):
            outcomes.append(bench_p1(cfg, tmp))
        if cfg.only in (None, "p2"):
            outcomes.append(bench_p2(cfg, tmp))
    except (BenchError, OSError, httpx.HTTPError) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.perf_counter() - started
    rows = [o.row for o in outcomes]
    notes = [n for o in outcomes for n in o.notes]
    print()
    print_table(rows)
    for note in notes:
        print(f"  - {note}")
    print(f"total {seconds:.1f} s{' (quick: Keel only, nothing written)' if cfg.quick else ''}")
    if write:
        write_results(rows, notes, cfg, seconds, load)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

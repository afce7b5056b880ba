"""Monitoring benchmark (P6): data drift of a current table against a reference, Keel vs Evidently's DataDriftPreset.

Both sides read the same generated Parquet files (``monitoring_data.py``: 1M rows x 40 float64 columns of ten
distribution families and 10 string columns of 5 to 50 levels; the current file drifts in 12 numeric and 3
categorical columns) with pandas and run their default tests (> 1000 rows: normalized Wasserstein for numeric
columns, Jensen-Shannon distance for categorical ones, threshold 0.1; dataset drift at a drifted share >= 0.5).
Every job is a fresh subprocess, so its peak RSS is its own: Keel's runs this file with the hidden
``--keel-worker`` subcommand in Keel's venv and times ``keel.monitoring.drift.dataset_drift``; Evidently's runs
``evidently_anchor.py`` in the venv of ``benchmarks/anchors-monitoring.txt`` and times
``Report([DataDriftPreset()]).run(current, reference)``. Each job is also timed end to end (process start, imports,
read, drift, exit) and stopped at a time limit and a memory cap (the machine is shared). Correctness: each side's
drifted columns are compared with the known answer; the run fails if Keel misses a drifted column or flags a clean
one. ``--quick`` runs Keel alone on 20k rows x 10 columns and writes nothing. Figures go to the "monitoring"
section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_results import write_section
from bench_support import BenchError, clean_env, log, machine_note, package_version, rss_mib
from monitoring_data import column_names, drifted_columns, generate

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
ANCHOR = HERE / "evidently_anchor.py"


@dataclass(frozen=True)
class Sizes:
    """The generated data, and the limits each job runs under."""

    rows: int
    n_numeric: int
    n_categorical: int
    timeout_s: float = 3600.0
    mem_cap_mib: int = 12 * 1024

    @property
    def label(self) -> str:
        """``1,000,000 rows x 50 columns (40 numeric, 10 categorical)``."""
        return (f"{self.rows:,} rows x {self.n_numeric + self.n_categorical} columns ({self.n_numeric} numeric, "
                f"{self.n_categorical} categorical)")


FULL = Sizes(1_000_000, 40, 10)
QUICK = Sizes(20_000, 8, 2, timeout_s=240.0, mem_cap_mib=4096)


def worker_main(argv: list[str]) -> int:
    """Keel's side, in a fresh process: read both files with pandas, time ``dataset_drift``, print one JSON line."""
    t0 = time.perf_counter()
    import pandas as pd

    from keel.monitoring.drift import dataset_drift

    t1 = time.perf_counter()
    parser = argparse.ArgumentParser(prog="bench_monitoring.py --keel-worker")
    parser.add_argument("--data", required=True)
    data = Path(parser.parse_args(argv).data)
    reference = pd.read_parquet(data / "reference.parquet")
    current = pd.read_parquet(data / "current.parquet")
    t2 = time.perf_counter()
    report = dataset_drift(reference, current)
    t3 = time.perf_counter()
    columns = {c.column: {"method": c.stattest, "threshold": c.threshold, "score": c.score, "drifted": c.drifted}
               for c in report.columns}
    print(json.dumps({
        "seconds": t3 - t2, "read_seconds": t2 - t1, "import_seconds": t1 - t0,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
        "rows": len(reference), "n_columns": len(columns), "columns": columns,
        "drifted": sorted(name for name, col in columns.items() if col["drifted"]),
        "share": report.share_drifted, "dataset_drift": report.dataset_drift,
    }))
    return 0




def run_job(cmd: list[str], env: dict[str, str], label: str, sizes: Sizes) -> tuple[dict[str, Any] | None, str]:
    """(the job's JSON result with ``process_seconds`` added, "") or (None, why it was stopped).

    A job that fails on its own is a BenchError; one past the time limit or the memory cap is killed (its process
    group) and reported as stopped.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=HERE, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        stopped = ""
        while proc.poll() is None:
            elapsed = time.perf_counter() - started
            if elapsed > sizes.timeout_s:
                stopped = f"did not finish in {sizes.timeout_s:.0f} s"
            elif rss_mib(proc.pid) > sizes.mem_cap_mib:
                stopped = f"stopped at the {sizes.mem_cap_mib / 1024:g} GiB memory cap after {elapsed:.0f} s"
            if stopped:
                os.killpg(proc.pid, signal.SIGKILL)  # the group of the process we started
                proc.wait()
                log(f"{label}: {stopped}")
                return None, stopped
            time.sleep(0.05)
        process_s = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        lines = out.read().decode(errors="replace").strip().splitlines()
        if proc.returncode != 0 or not lines:
            tail = "\n".join(err.read().decode(errors="replace").splitlines()[-30:])
            raise BenchError(f"{label} failed (exit {proc.returncode}):\n{tail}")
    try:
        result = dict(json.loads(lines[-1]))
    except json.JSONDecodeError as exc:
        raise BenchError(f"{label}: last output line is not JSON: {lines[-1]!r}") from exc
    result["process_seconds"] = process_s
    return result, ""


def compare(result: dict[str, Any], truth: list[str], names: list[str]) -> dict[str, list[str]]:
    """Drifted columns ``result`` missed, clean ones it flagged, and columns it did not test (or tested extra)."""
    found = set(result["drifted"])
    return {"missed": sorted(set(truth) - found), "flagged": sorted(found - set(truth)),
            "untested": sorted(set(result["columns"]) ^ set(names))}


def agreement(side: str, result: dict[str, Any], diff: dict[str, list[str]], truth: list[str]) -> str:
    """One line: how a side's drifted columns compare with the known answer."""
    found = len(truth) - len(diff["missed"])
    line = (f"{side}: {found} of {len(truth)} drifted columns found, {len(diff['flagged'])} clean columns flagged "
            f"(drifted share {result['share']:.2f}, dataset drift {'yes' if result['dataset_drift'] else 'no'})")
    for key in ("missed", "flagged", "untested"):
        if diff[key]:
            line += f"; {key}: {', '.join(diff[key])}"
    return line


def bench(work: Path, sizes: Sizes, anchors_python: str | None) -> dict[str, Any]:
    """Generate the data, run Keel (and Evidently) on it, check both against the known answer."""
    log(f"P6: generating {sizes.label}, reference and current ...")
    started = time.perf_counter()
    generate(work / "data", rows=sizes.rows, n_numeric=sizes.n_numeric, n_categorical=sizes.n_categorical)
    log(f"P6: generated in {time.perf_counter() - started:.1f} s")
    truth = drifted_columns(sizes.n_numeric, sizes.n_categorical)
    names = column_names(sizes.n_numeric, sizes.n_categorical)
    out: dict[str, Any] = {"truth": truth, "checks": []}
    data = str(work / "data")
    log("P6: keel dataset_drift ...")
    keel_env = clean_env({"KEEL_HOME": str(work / "keel-home")})
    keel, stopped = run_job([sys.executable, str(Path(__file__).resolve()), "--keel-worker", "--data", data],
                            keel_env, "keel", sizes)
    if keel is None:
        raise BenchError(f"keel: {stopped}")
    out["keel"] = keel
    diff = compare(keel, truth, names)
    out["checks"].append(agreement("Keel", keel, diff, truth))
    if any(diff.values()):
        raise BenchError(f"keel got the drift wrong: {out['checks'][-1]}")
    if anchors_python:
        log("P6: evidently DataDriftPreset ...")
        ev, stopped = run_job([anchors_python, str(ANCHOR), "--data", data], clean_env({"DO_NOT_TRACK": "1"}),
                              "evidently", sizes)
        if ev is None:
            out["evidently_stopped"] = stopped
        else:
            out["evidently"] = ev
            out["checks"].append(agreement("Evidently", ev, compare(ev, truth, names), truth))
            same = sorted(n for n in names if n in ev["columns"] and ev["columns"][n]["drifted"]
                          == keel["columns"][n]["drifted"])
            out["checks"].append(f"Keel and Evidently agree on {len(same)} of {len(names)} column verdicts")
            methods = sorted({str(col["method"]) for col in ev["columns"].values()})
            out["checks"].append(f"Evidently's tests (picked by its defaults): {', '.join(methods)}")
            gaps = [abs(ev["columns"][n]["score"] - keel["columns"][n]["score"]) for n in names if n in ev["columns"]]
            out["max_score_gap"] = max(gaps) if gaps else None
    return out


def report(result: dict[str, Any], sizes: Sizes) -> None:
    """The figures as plain text on stdout."""
    keel = result["keel"]
    print(f"P6 drift {sizes.label}: keel {keel['seconds']:.2f} s drift, {keel['peak_rss_mib']:,.0f} MiB peak, "
          f"{keel['process_seconds']:.2f} s process (read {keel['read_seconds']:.2f} s, imports "
          f"{keel['import_seconds']:.2f} s)")
    ev = result.get("evidently")
    if ev:
        print(f"P6 drift {sizes.label}: evidently {ev['seconds']:.2f} s drift, {ev['peak_rss_mib']:,.0f} MiB peak, "
              f"{ev['process_seconds']:.2f} s process (read {ev['read_seconds']:.2f} s, imports "
              f"{ev['import_seconds']:.2f} s)")
        print(f"P6 ratio (evidently / keel): drift {ev['seconds'] / keel['seconds']:.1f}x (target: >= 10x), "
              f"end to end {ev['process_seconds'] / keel['process_seconds']:.1f}x, peak memory "
              f"{ev['peak_rss_mib'] / keel['peak_rss_mib']:.1f}x")
    elif "evidently_stopped" in result:
        print(f"P6 evidently: {result['evidently_stopped']}")
    for line in result["checks"]:
        print(f"P6 check {line}")
    if result.get("max_score_gap") is not None:
        print(f"P6 check largest score difference between the sides: {result['max_score_gap']:.4f}")


def write_results(result: dict[str, Any], sizes: Sizes, versions: dict[str, str | None], start_load: str) -> None:
    """The "monitoring" section of RESULTS.md."""
    today = dt.date.today().isoformat()
    keel, ev = result["keel"], result.get("evidently")
    methods = sorted({col["method"] for col in keel["columns"].values()})
    lines = [
        "## Monitoring: data drift (P6) vs Evidently",
        "",
        f"Written by `make bench` (`benchmarks/bench_monitoring.py`) on {today}: Keel and Evidently "
        f"{versions['evidently']} (pandas {versions['pandas']}, `benchmarks/anchors-monitoring.txt`; Keel's venv has "
        f"pandas {importlib.metadata.version('pandas')}) side by side on "
        f"the same generated Parquet files (`monitoring_data.py`): reference and current, {sizes.label}; the "
        f"current file drifts in {len(result['truth'])} columns. Both sides read the files with pandas and run "
        f"their defaults (Keel: `dataset_drift(reference, current)`, tests {', '.join(methods)}; Evidently: "
        "`Report([DataDriftPreset()]).run(current, reference)`). Each side is one fresh subprocess; \"drift\" is the "
        "drift computation alone, \"end to end\" the whole process (start, imports, reading both files, drift, "
        "exit); peak is the process's own max RSS. Evidently builds its report's widgets inside `run`, as every "
        "user's call does.",
        "",
        "| benchmark | Keel | Evidently | ratio (Evidently / Keel) | target | date |",
        "|---|---|---|---|---|---|",
    ]
    stopped = result.get("evidently_stopped", "-")

    def cells(key: str, unit: str, fmt: str) -> str:
        """Keel's figure | Evidently's figure (or why it has none) | the ratio."""
        if not ev:
            return f"{keel[key]:{fmt}} {unit} | {stopped} | -"
        return f"{keel[key]:{fmt}} {unit} | {ev[key]:{fmt}} {unit} | {ev[key] / keel[key]:.1f}x"

    lines += [
        f"| P6 drift, {sizes.label} | {cells('seconds', 's', '.2f')} | >= 10x | {today} |",
        f"| P6 peak memory (max RSS, whole process) | {cells('peak_rss_mib', 'MiB', ',.0f')} | (reported) "
        f"| {today} |",
        f"| P6 end to end (process start to exit) | {cells('process_seconds', 's', '.2f')} | (reported) | {today} |",
        "",
    ]
    notes = list(result["checks"])
    if result.get("max_score_gap") is not None:
        notes.append(f"Largest difference between Keel's and Evidently's score of the same column: "
                     f"{result['max_score_gap']:.4f}")
    for name, side in (("Keel", keel), ("Evidently", ev)):
        if side:
            notes.append(f"{name}: reading both files {side['read_seconds']:.2f} s, imports "
                         f"{side['import_seconds']:.2f} s")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines += [f"- {note}." for note in notes] + [
        "", f"Machine: {machine_note()}; load average (1, 5, 15 min) at the start of the run: {start_load}, at the "
        f"end: {load}. Other work on the machine adds noise; the ratio within one run is what counts.",
        "", "Reproduce: `make bench` (or `.venv/bin/python benchmarks/bench_monitoring.py --anchors-python "
        "benchmarks/.venv-monitoring-anchors/bin/python`)."]
    write_section("monitoring", lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the figures; write RESULTS.md unless ``--quick`` or ``--no-write``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--keel-worker"]:
        return worker_main(argv[1:])
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Keel only, 20k rows x 10 columns, no RESULTS.md")
    parser.add_argument("--anchors-python", help="interpreter of the venv with Evidently "
                                                 "(benchmarks/anchors-monitoring.txt)")
    parser.add_argument("--rows", type=int, default=FULL.rows)
    parser.add_argument("--timeout", type=float, default=FULL.timeout_s, help="seconds each job may take")
    parser.add_argument("--mem-cap-gib", type=float, default=FULL.mem_cap_mib / 1024,
                        help="stop any job whose RSS passes this (the machine is shared)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        sizes = QUICK
    elif not args.anchors_python:
        print("bench_monitoring: --anchors-python is required without --quick (make bench sets it)", file=sys.stderr)
        return 2
    else:
        sizes = Sizes(args.rows, FULL.n_numeric, FULL.n_categorical, args.timeout, int(args.mem_cap_gib * 1024))
    anchors = None if args.quick else os.path.abspath(args.anchors_python)  # not resolve(): keep the venv's link
    start_load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    WORK.mkdir(exist_ok=True)
    work = WORK / f"monitoring-{os.getpid()}"
    work.mkdir()
    try:
        result = bench(work, sizes, anchors)
    except BenchError as exc:
        print(f"bench_monitoring: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(result, sizes)
    if anchors and not args.no_write:
        versions = {p: package_version(anchors, p) for p in ("evidently", "pandas")}
        write_results(result, sizes, versions, start_load)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Pipelines benchmark (P9): 1,000 no-op steps end to end and the fully cached re-run, Keel vs Prefect.

Every figure is one subprocess timed end to end (process start, imports, the whole pipeline, exit). Keel:
``python -m keel run pipelines.py:many -p n=1000`` with a fresh ``KEEL_HOME``, then the same command again (every step
cached). Prefect (``prefect_anchor.py`` in the venv of benchmarks/anchors-pipelines.txt): the same fan-out as one flow
of N submitted no-op tasks on its default local setup (a temporary API server over SQLite in a fresh
``PREFECT_HOME``), once without caching, then twice with ``cache_policy=INPUTS`` (the second run is cached). A chain
(each step takes the previous output) is the second shape. Each run's step counts are checked (all succeeded, then
all cached), and Prefect's task results too. ``--quick`` runs Keel alone on 20 steps and writes nothing. Figures go
to the "pipelines" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_results import write_section
from bench_support import BenchError, clean_env, log, machine_note, package_version

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
PREFECT_ANCHOR = HERE / "prefect_anchor.py"
TIMEOUT_S = 1800.0

# The pipelines Keel runs; the fan-out is the one the issue states. The chain's step adds one, so no two of its
# steps have the same inputs (a cache keyed on inputs must not answer one step from another).
PIPELINE_FILE = '''import keel


@keel.step
def noop(i: int) -> int:
    return i


@keel.pipeline
def many(n: int = 1000) -> list[int]:
    return [noop(i) for i in range(n)]


@keel.step
def inc(x: int) -> int:
    return x + 1


@keel.pipeline
def chain(n: int = 100) -> int:
    x = 0
    for _ in range(n):
        x = inc(x)
    return x
'''


@dataclass(frozen=True)
class Shape:
    """One pipeline shape: its name in the tables, Keel's pipeline, the anchor's mode, its step count."""

    key: str
    keel_pipeline: str
    anchor_mode: str
    steps: int

    @property
    def label(self) -> str:
        """How the shape reads in a table."""
        if self.key == "fanout":
            return f"fan-out of {self.steps:,} no-op steps"
        return f"chain of {self.steps:,} steps"

    def expected_sum(self) -> int:
        """What the anchor's ``result_sum`` must be: the sum of 0..N-1, or N after N increments."""
        return self.steps * (self.steps - 1) // 2 if self.key == "fanout" else self.steps


def shapes(fanout: int, chain: int) -> list[Shape]:
    """The fan-out and (when ``chain`` > 0) the chain."""
    out = [Shape("fanout", "many", "fanout", fanout)]
    if chain > 0:
        out.append(Shape("chain", "chain", "chain", chain))
    return out


def _timed(cmd: list[str], env: dict[str, str], cwd: Path, label: str) -> tuple[float, str]:
    """(seconds ``cmd`` took as a subprocess, start to exit; its stdout); a non-zero exit is a BenchError."""
    start = time.perf_counter()
    # A session of its own: on a timeout the whole group goes, with Prefect's temporary server or Keel's workers.
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise BenchError(f"{label}: did not finish in {TIMEOUT_S:.0f} s") from None
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise BenchError(f"{label} failed (exit {proc.returncode}):\n{(stderr or stdout)[-3000:]}")
    return seconds, stdout


_SUMMARY = re.compile(r"^(\S+) (succeeded|failed) run \S+: (.*) in (\d+) ms\s*$", re.MULTILINE)


def parse_keel_summary(stdout: str) -> tuple[dict[str, int], int]:
    """(step count per status, the run's own milliseconds) from ``keel run``'s last line.

    That line reads ``many succeeded run <id>: 1000 succeeded in 2345 ms`` (``1000 cached`` on a re-run).
    """
    matches = _SUMMARY.findall(stdout)
    if not matches:
        raise BenchError(f"keel run: no summary line (`PIPELINE succeeded run ID: N STATUS in MS ms`) in:\n"
                         f"{stdout[-1500:]}")
    _name, _status, counts_text, ms = matches[-1]
    counts: dict[str, int] = {}
    for part in counts_text.split(","):
        number, _, status = part.strip().partition(" ")
        counts[status] = int(number)
    return counts, int(ms)


def check_keel(counts: dict[str, int], shape: Shape, want: str) -> None:
    """Every step of ``shape`` has status ``want`` (``succeeded`` on the first run, ``cached`` on the re-run)."""
    if counts != {want: shape.steps}:
        raise BenchError(f"keel {shape.label}: expected {shape.steps} steps {want}, got {counts}")


def bench_keel(work: Path, shape: Shape) -> dict[str, float]:
    """First run and cached re-run of ``keel run`` (fresh ``KEEL_HOME``), seconds end to end and in-process."""
    pipeline_file = work / "pipelines.py"
    if not pipeline_file.exists():
        pipeline_file.write_text(PIPELINE_FILE)
    env = clean_env({"KEEL_HOME": str(work / f"keel-home-{shape.key}"), "COLUMNS": "200"})
    cmd = [sys.executable, "-m", "keel", "run", f"{pipeline_file}:{shape.keel_pipeline}", "-p", f"n={shape.steps}"]
    out: dict[str, float] = {}
    for run, want in (("first", "succeeded"), ("cached", "cached")):
        log(f"P9 keel {shape.label}: {run} run ...")
        seconds, stdout = _timed(cmd, env, work, f"keel run {shape.keel_pipeline} ({run})")
        counts, ms = parse_keel_summary(stdout)
        check_keel(counts, shape, want)
        out[f"{run}_s"], out[f"{run}_inner_s"] = seconds, ms / 1000
    return out


def prefect_env(home: Path) -> dict[str, str]:
    """The anchor's environment: no inherited ``PREFECT_*`` setting, a fresh home, no analytics calls.

    The temporary server's startup timeout is raised from 20 s: on a busy 2-core machine it can take longer to
    answer its first health check, which would fail the run rather than time it.
    """
    env = {k: v for k, v in clean_env().items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"})
    return env


def check_prefect(body: dict[str, Any], shape: Shape, cached: int) -> None:
    """The anchor ran every task, ``cached`` of them from its cache, and returned the right values."""
    want = {"tasks": shape.steps, "completed": shape.steps, "cached": cached, "result_sum": shape.expected_sum()}
    got = {key: body.get(key) for key in want}
    if got != want:
        raise BenchError(f"prefect {shape.label}: expected {want}, got {got}")


def _prefect_run(python: str, work: Path, home: Path, shape: Shape, cache: bool,
                 label: str) -> tuple[float, dict[str, Any]]:
    cmd = [python, str(PREFECT_ANCHOR), shape.anchor_mode, "--n", str(shape.steps)] + (["--cache"] if cache else [])
    log(f"P9 prefect {shape.label}: {label} ...")
    seconds, stdout = _timed(cmd, prefect_env(home), work, f"prefect {shape.label} ({label})")
    lines = stdout.strip().splitlines()
    try:
        return seconds, dict(json.loads(lines[-1]))
    except (IndexError, json.JSONDecodeError):
        raise BenchError(f"prefect {shape.label} ({label}): no JSON result in:\n{stdout[-1500:]}") from None


def bench_prefect(python: str, work: Path, shape: Shape) -> dict[str, float]:
    """No caching (fresh home), then ``cache_policy=INPUTS`` twice (another fresh home): seconds end to end."""
    out: dict[str, float] = {}
    runs = (("plain", False, "plain", 0), ("inputs_first", True, "cache_policy=INPUTS, first run", 0),
            ("cached", True, "cache_policy=INPUTS, cached re-run", shape.steps))
    for key, cache, label, cached in runs:
        home = work / f"prefect-home-{shape.key}-{'cache' if cache else 'plain'}"
        seconds, body = _prefect_run(python, work, home, shape, cache, label)
        check_prefect(body, shape, cached)
        out[f"{key}_s"], out[f"{key}_import_s"] = seconds, float(body["import_s"])
    return out


def report(rows: list[dict[str, Any]]) -> None:
    """The figures as plain text on stdout."""
    for row in rows:
        keel, label = row["keel"], row["shape"].label
        print(f"P9 keel {label}: {keel['first_s']:.2f} s first run, {keel['cached_s']:.2f} s cached re-run "
              f"(in-process {keel['first_inner_s']:.2f} s / {keel['cached_inner_s']:.2f} s)")
        prefect = row.get("prefect")
        if prefect:
            print(f"P9 prefect {label}: {prefect['plain_s']:.2f} s plain, {prefect['inputs_first_s']:.2f} s "
                  f"cache_policy=INPUTS first run, {prefect['cached_s']:.2f} s cached re-run "
                  f"(import {prefect['plain_import_s']:.2f} s)")
            print(f"P9 ratio (prefect / keel) {label}: {prefect['plain_s'] / keel['first_s']:.1f}x first run, "
                  f"{prefect['cached_s'] / keel['cached_s']:.1f}x cached re-run")
    fanout = rows[0]["keel"]
    print(f"P9 target (keel, fan-out): < 5 s first run ({'met' if fanout['first_s'] < 5 else 'MISSED'}), < 1 s "
          f"cached ({'met' if fanout['cached_s'] < 1 else 'MISSED'})")


def busy_note(loads: tuple[float, float], cores: int) -> str:
    """A warning when the 1-minute load average, at the start or the end, was above the core count."""
    if max(loads) <= cores:
        return ""
    return (f"Note: the machine was busy (1-minute load average {loads[0]:.1f} at the start, {loads[1]:.1f} at the "
            f"end, on {cores} cores: other work was running), which slows both sides, not necessarily equally; "
            "read these figures as upper bounds and re-run `make bench` on an idle machine.")


def write_results(rows: list[dict[str, Any]], versions: dict[str, str | None], loads: tuple[float, float]) -> None:
    """The "pipelines" section of RESULTS.md; ``loads`` are the 1-minute load averages at the start and the end."""
    today = dt.date.today().isoformat()
    lines = [
        "## Pipelines: 1,000 no-op steps and the cached re-run vs Prefect (P9)",
        "",
        "Each figure is one subprocess timed end to end (process start, imports, the whole pipeline, exit), one run "
        "each. Keel: `python -m keel run pipelines.py:many -p n=1000` with a fresh KEEL_HOME (local executor, "
        "default parallelism), then the same command again: every step cached. "
        f"Prefect {versions['prefect']}: one flow of N `noop.submit(i)` calls then `.result()` of each (default "
        "thread-pool task runner), on its default local setup (no API URL: a temporary API server over SQLite in a "
        "fresh PREFECT_HOME); \"plain\" runs without caching, then `cache_policy=INPUTS` runs twice in another fresh "
        "home, the second run finding every task cached. The chain: each step takes the previous output "
        "(`x = inc(x)`, +1), called directly in Prefect. Every run's step counts are checked (all run, then all "
        "cached), and Prefect's returned values.",
        "",
        "| benchmark | Keel | Prefect | ratio (Prefect / Keel) | target | date |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        keel, prefect, shape = row["keel"], row["prefect"], row["shape"]
        fanout = shape.key == "fanout"
        lines += [
            f"| P9 {shape.label}, end to end (Prefect without caching) | {keel['first_s']:.2f} s | "
            f"{prefect['plain_s']:.2f} s | {prefect['plain_s'] / keel['first_s']:.1f}x | "
            f"{'Keel < 5 s' if fanout else '(reported)'} | {today} |",
            f"| P9 {shape.label}, first run with caching (Prefect: cache_policy=INPUTS) | {keel['first_s']:.2f} s | "
            f"{prefect['inputs_first_s']:.2f} s | {prefect['inputs_first_s'] / keel['first_s']:.1f}x | (reported) "
            f"| {today} |",
            f"| P9 {shape.label}, fully cached re-run | {keel['cached_s']:.2f} s | {prefect['cached_s']:.2f} s | "
            f"{prefect['cached_s'] / keel['cached_s']:.1f}x | {'Keel < 1 s' if fanout else '(reported)'} | "
            f"{today} |",
        ]
    lines += ["", "In process (Keel: the run's own duration; Prefect: its import alone): " + "; ".join(
        f"{row['shape'].label}: Keel {row['keel']['first_inner_s']:.2f} s / {row['keel']['cached_inner_s']:.2f} s "
        f"cached, Prefect import {row['prefect']['plain_import_s']:.2f} s" for row in rows) + "."]
    note = busy_note(loads, os.cpu_count() or 1)
    lines += ([""] + [note] if note else []) + ["", f"Machine: {machine_note()}; 1-minute load average at the start: "
                                                    f"{loads[0]:.1f}, at the end: {loads[1]:.1f}"]
    write_section("pipelines", lines)


def _load() -> float:
    return os.getloadavg()[0]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the figures; write RESULTS.md unless ``--quick`` or ``--no-write``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Keel only, 20 steps, no RESULTS.md")
    parser.add_argument("--anchors-python", help="interpreter of the venv with prefect "
                                                 "(benchmarks/anchors-pipelines.txt)")
    parser.add_argument("--steps", type=int, default=1000, help="steps of the fan-out")
    parser.add_argument("--chain", type=int, default=100, help="steps of the chain (0: no chain)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.chain = 20, 20
    elif not args.anchors_python:
        print("bench_pipelines: --anchors-python is required without --quick (make bench sets it)", file=sys.stderr)
        return 2
    anchors = None if args.quick else os.path.abspath(args.anchors_python)  # not resolve(): keep the venv's link
    load_start = _load()
    WORK.mkdir(exist_ok=True)
    work = WORK / f"pipelines-{os.getpid()}"
    work.mkdir()
    rows: list[dict[str, Any]] = []
    try:
        for shape in shapes(args.steps, args.chain):
            row: dict[str, Any] = {"shape": shape, "keel": bench_keel(work, shape)}
            if anchors:
                row["prefect"] = bench_prefect(anchors, work, shape)
            rows.append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(rows)
    if anchors and not args.no_write:
        write_results(rows, {"prefect": package_version(anchors, "prefect")}, (load_start, _load()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

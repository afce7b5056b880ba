"""Data benchmark: (P8) ``keel data add`` vs ``dvc add`` on one big file and on many small files, and the no-op
re-add of each; (P7) ``keel data validate`` vs Great Expectations on the same 20 checks over one Parquet file.

Every figure is one subprocess timed end to end (start, imports, work, exit): ``dvc add`` in a fresh
``git init`` + ``dvc init`` repository, ``keel data add`` with a fresh ``KEEL_HOME``; the re-add runs the same command
again on the unchanged data. The baseline for a re-add is a stat of every file (``os.scandir`` walk, in process).
Great Expectations runs its pandas execution engine (read the Parquet file with pandas, validate a whole-dataframe
batch); Keel runs its CLI (DuckDB over the Parquet file). P7 runs the sides alternately, ``--repeat`` times each
(default 3) on the same file, after an ``os.sync()`` so that the writeback of the generated file does not land in a
timing, and reports the median run of each side. Generated data lives under ``benchmarks/.work/`` and is deleted
afterwards. ``--quick`` runs Keel alone on tiny sizes and writes nothing. Figures go to the "data" section of
``benchmarks/RESULTS.md``; ``--only p7`` rewrites its P7 part and keeps the P8 rows already there.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench_results import RESULTS, write_section
from bench_support import BenchError, clean_env, log, machine_note, package_version

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
COUNTRIES = ["US", "DE", "FR", "GB", "JP", "BR", "IN", "CA", "ES", "IT"]
STATUSES = ["new", "paid", "shipped", "delivered", "returned"]
EMAIL_RE = r"^[a-z0-9._]+@[a-z0-9.]+\.[a-z]{2,}$"
CODE_RE = r"^[A-Z0-9]{8}$"

# The 20 checks, once in Keel's YAML vocabulary and once as Great Expectations expectations (same order, same
# meaning: GE's ``mostly`` is 1 - Keel's ``max_fraction``; both regexes search, anchored here with ^...$).
SUITE: list[tuple[dict[str, object], tuple[str, dict[str, object]]]] = [
    ({"check": "not_null", "column": "id"}, ("ExpectColumnValuesToNotBeNull", {"column": "id"})),
    ({"check": "unique", "column": "id"}, ("ExpectColumnValuesToBeUnique", {"column": "id"})),
    ({"check": "not_null", "column": "user_id"}, ("ExpectColumnValuesToNotBeNull", {"column": "user_id"})),
    ({"check": "in_range", "column": "user_id", "min": 1, "max": 1_000_000},
     ("ExpectColumnValuesToBeBetween", {"column": "user_id", "min_value": 1, "max_value": 1_000_000})),
    ({"check": "not_null", "column": "amount"}, ("ExpectColumnValuesToNotBeNull", {"column": "amount"})),
    ({"check": "in_range", "column": "amount", "min": 0, "max": 10_000},
     ("ExpectColumnValuesToBeBetween", {"column": "amount", "min_value": 0, "max_value": 10_000})),
    ({"check": "in_range", "column": "quantity", "min": 1, "max": 100},
     ("ExpectColumnValuesToBeBetween", {"column": "quantity", "min_value": 1, "max_value": 100})),
    ({"check": "not_null", "column": "country"}, ("ExpectColumnValuesToNotBeNull", {"column": "country"})),
    ({"check": "in_set", "column": "country", "values": COUNTRIES},
     ("ExpectColumnValuesToBeInSet", {"column": "country", "value_set": COUNTRIES})),
    ({"check": "in_set", "column": "status", "values": STATUSES},
     ("ExpectColumnValuesToBeInSet", {"column": "status", "value_set": STATUSES})),
    ({"check": "not_null", "column": "email"}, ("ExpectColumnValuesToNotBeNull", {"column": "email"})),
    ({"check": "regex", "column": "email", "pattern": EMAIL_RE},
     ("ExpectColumnValuesToMatchRegex", {"column": "email", "regex": EMAIL_RE})),
    ({"check": "str_length", "column": "code", "min": 8, "max": 8},
     ("ExpectColumnValueLengthsToBeBetween", {"column": "code", "min_value": 8, "max_value": 8})),
    ({"check": "regex", "column": "code", "pattern": CODE_RE},
     ("ExpectColumnValuesToMatchRegex", {"column": "code", "regex": CODE_RE})),
    ({"check": "in_range", "column": "score", "min": 0, "max": 1},
     ("ExpectColumnValuesToBeBetween", {"column": "score", "min_value": 0, "max_value": 1})),
    ({"check": "not_null", "column": "score", "max_fraction": 0.01},
     ("ExpectColumnValuesToNotBeNull", {"column": "score", "mostly": 0.99})),
    ({"check": "column_exists", "column": "created_at"}, ("ExpectColumnToExist", {"column": "created_at"})),
    ({"check": "row_count", "min": 1, "max": 20_000_000},
     ("ExpectTableRowCountToBeBetween", {"min_value": 1, "max_value": 20_000_000})),
    ({"check": "str_length", "column": "country", "min": 2, "max": 2},
     ("ExpectColumnValueLengthsToBeBetween", {"column": "country", "min_value": 2, "max_value": 2})),
    ({"check": "dtype", "column": "amount", "dtype": "DOUBLE"},
     ("ExpectColumnValuesToBeOfType", {"column": "amount", "type_": "float64"})),
]

GE_CLIENT = """
import json, sys, time
t0 = time.perf_counter()
import great_expectations as gx
import pandas as pd
t1 = time.perf_counter()
frame = pd.read_parquet(sys.argv[1])
t2 = time.perf_counter()
context = gx.get_context(mode="ephemeral")
asset = context.data_sources.add_pandas("bench").add_dataframe_asset(name="orders")
batch = asset.add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": frame})
suite = context.suites.add(gx.ExpectationSuite(name="orders"))
for kind, kwargs in json.loads(sys.argv[2]):
    suite.add_expectation(getattr(gx.expectations, kind)(**kwargs))
result = batch.validate(suite)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "read_s": t2 - t1, "validate_s": t3 - t2, "checks": len(result.results),
                  "failed": [r.expectation_config.type for r in result.results if not r.success]}))
"""


@dataclass
class Sizes:
    """How much data each part generates."""

    big_mb: int
    small_files: int
    rows: int
    ge_rows: int
    repeat: int = 1
    p8_repeat: int = 1


def _timed(cmd: list[str], env: dict[str, str], cwd: Path, label: str, timeout_s: float = 7200.0) -> float:
    """Seconds ``cmd`` took as a subprocess, start to exit; a non-zero exit is a BenchError."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise BenchError(f"{label} failed (exit {proc.returncode}):\n{(proc.stderr or proc.stdout)[-2000:]}")
    return seconds


def _make_big(path: Path, megabytes: int) -> None:
    """A file of random bytes (incompressible, no dedup inside), written 16 MiB at a time."""
    block = os.urandom(16 << 20)
    with open(path, "wb") as fh:
        remaining = megabytes << 20
        while remaining > 0:
            chunk = block[: min(len(block), remaining)]
            fh.write(chunk)
            remaining -= len(chunk)
            block = block[1:] + block[:1]  # a different block each time, cheaply
    os.utime(path)


def _make_small(root: Path, count: int) -> None:
    """``count`` files of 1-4 KiB in folders of 1,000 (like an image or text-sample dataset)."""
    root.mkdir(parents=True)
    pool = os.urandom(8192)
    for i in range(count):
        folder = root / f"part{i // 1000:03d}"
        if i % 1000 == 0:
            folder.mkdir()
        size = 1024 + (i * 7919) % 3072
        (folder / f"sample{i:06d}.bin").write_bytes(i.to_bytes(8, "little") + pool[: size - 8])


def stat_walk_s(root: Path) -> float:
    """Seconds to stat every file under ``root`` (the floor for a no-op re-add)."""
    start = time.perf_counter()
    if not root.is_dir():
        root.stat()
        return time.perf_counter() - start
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    entry.stat(follow_symlinks=False)
    return time.perf_counter() - start


def _keel_add(target: Path, home: Path, name: str) -> tuple[float, float]:
    """(first add, no-op re-add) seconds of ``keel data add`` with a fresh ``KEEL_HOME``."""
    keel = str(Path(sys.executable).parent / "keel")
    env = clean_env({"KEEL_HOME": str(home), "COLUMNS": "120"})
    cmd = [keel, "data", "add", str(target), "--name", name]
    first = _timed(cmd, env, target.parent, f"keel data add {target.name}")
    again = _timed(cmd, env, target.parent, f"keel data add {target.name} (re-add)")
    return first, again


def _dvc_add(target: Path, dvc: str) -> tuple[float, float]:
    """(first add, no-op re-add) seconds of ``dvc add`` in a fresh git + DVC repository around ``target``."""
    env = clean_env({"DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
                     "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@localhost"})
    repo = target.parent
    subprocess.run(["git", "init", "-q"], cwd=repo, env=env, check=True)
    subprocess.run([dvc, "init", "-q"], cwd=repo, env=env, check=True, capture_output=True)
    first = _timed([dvc, "add", "-q", target.name], env, repo, f"dvc add {target.name}")
    again = _timed([dvc, "add", "-q", target.name], env, repo, f"dvc add {target.name} (re-add)")
    return first, again


def bench_add(work: Path, sizes: Sizes, dvc: str | None) -> list[dict[str, object]]:
    """P8 rows: one per data shape, Keel (and DVC) first add and re-add, and the stat-walk floor.

    Each shape runs ``sizes.p8_repeat`` rounds, the sides in turns (Keel first, then DVC first, ...): on a VM, the
    first process to need fresh memory after a quiet spell pays for the host to hand it back, so a fixed order would
    favour whichever side comes second. Each side's figures are its median round (by first add; of an even count of
    rounds, the slower of the middle two, so with the default two rounds each side is judged on its worse one)."""
    rows: list[dict[str, object]] = []
    shapes = [("big", f"one {sizes.big_mb:,} MiB file", lambda p: _make_big(p, sizes.big_mb)),
              ("small", f"{sizes.small_files:,} small files (1-4 KiB)", lambda p: _make_small(p, sizes.small_files))]
    for key, label, make in shapes:
        runs: dict[str, list[dict[str, float]]] = {"keel": [], "dvc": []}
        done: list[Path] = []
        for round_ in range(sizes.p8_repeat):
            sides = ["keel", "dvc"] if dvc else ["keel"]
            for side in sides if round_ % 2 == 0 else sides[::-1]:
                folder = work / f"{key}-{side}-{round_}"
                folder.mkdir()
                target = folder / ("data.bin" if key == "big" else "samples")
                log(f"P8 {label}, round {round_ + 1}/{sizes.p8_repeat}: generating for {side} ...")
                make(target)
                os.sync()  # the generated data's writeback would otherwise land in the timing
                log(f"P8 {label}: {side} add + re-add ...")
                if side == "keel":
                    add, readd = _keel_add(target, folder / "keel-home", f"bench-{key}")
                    runs["keel"].append({"total_s": add, "readd_s": readd, "stat_s": stat_walk_s(target)})
                else:
                    assert dvc is not None
                    add, readd = _dvc_add(target, dvc)
                    runs["dvc"].append({"total_s": add, "readd_s": readd})
                if key == "big":
                    shutil.rmtree(folder)  # a few inodes, many bytes: the disk needs the room back
                else:
                    done.append(folder)  # see below
        # Deleting 100,000 files slows the next inode allocations on ext4 for minutes (it skips recently freed
        # inodes one by one), which would land on the next side's timing: small files go once the shape is done.
        for folder in done:
            shutil.rmtree(folder)
        keel = median_run(runs["keel"])
        row: dict[str, object] = {"shape": label, "keel_add_s": keel["total_s"], "keel_readd_s": keel["readd_s"],
                                  "stat_s": keel["stat_s"], "keel_runs": keel["runs"],
                                  "keel_readd_runs": [r["readd_s"] for r in runs["keel"]]}
        if runs["dvc"]:
            ran = median_run(runs["dvc"])
            row.update(dvc_add_s=ran["total_s"], dvc_readd_s=ran["readd_s"], dvc_runs=ran["runs"],
                       dvc_readd_runs=[r["readd_s"] for r in runs["dvc"]])
        rows.append(row)
    return rows


def make_table(path: Path, rows: int) -> None:
    """A Parquet file of ``rows`` orders (ten columns) that passes all 20 checks; ~0.5% of scores are null."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    ids = np.arange(rows, dtype=np.int64)
    id_text = pc.cast(pa.array(ids), pa.string())
    alphabet = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", dtype=np.uint8)
    code_bytes = alphabet[rng.integers(0, len(alphabet), size=rows * 8)].tobytes()
    codes = pa.StringArray.from_buffers(rows, pa.py_buffer(np.arange(0, rows * 8 + 1, 8, dtype=np.int32)),
                                        pa.py_buffer(code_bytes))
    score = rng.random(rows)
    table = pa.table({
        "id": ids,
        "user_id": rng.integers(1, 1_000_001, size=rows),
        "amount": np.round(rng.random(rows) * 10_000, 2),
        "quantity": rng.integers(1, 101, size=rows),
        "country": pa.array(np.array(COUNTRIES)[rng.integers(0, len(COUNTRIES), size=rows)]),
        "status": pa.array(np.array(STATUSES)[rng.integers(0, len(STATUSES), size=rows)]),
        "email": pc.binary_join_element_wise("user", id_text, "@example.com", ""),
        "code": codes,
        "score": pa.array(score, mask=rng.random(rows) < 0.005),
        "created_at": pa.array(np.datetime64("2026-01-01") + rng.integers(0, 86_400 * 300, size=rows)
                               .astype("timedelta64[s]")),
    })
    pq.write_table(table, path, row_group_size=1 << 20)


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _keel_validate(data: Path, suite_path: Path, home: Path) -> dict[str, float]:
    keel = str(Path(sys.executable).parent / "keel")
    report = data.parent / "keel-report.json"
    env = clean_env({"KEEL_HOME": str(home), "COLUMNS": "160"})
    cpu = _children_cpu_s()
    total = _timed([keel, "data", "validate", str(data), "--suite", str(suite_path), "--json", str(report)], env,
                   data.parent, "keel data validate")
    cpu = _children_cpu_s() - cpu
    body = json.loads(report.read_text())
    checks = body["checks"]
    failed = [c["name"] for c in checks if not c["passed"]]
    if len(checks) != len(SUITE) or failed:
        raise BenchError(f"keel: expected {len(SUITE)} passing checks, got {len(checks)} with failures {failed}")
    return {"total_s": total, "validate_s": float(body["seconds"]), "cpu_s": cpu}


def _ge_validate(data: Path, python: str) -> dict[str, float]:
    spec = json.dumps([list(ge) for _, ge in SUITE])
    cpu = _children_cpu_s()
    start = time.perf_counter()
    proc = subprocess.run([python, "-c", GE_CLIENT, str(data), spec], capture_output=True, text=True,
                          env=clean_env(), timeout=7200)
    total = time.perf_counter() - start
    cpu = _children_cpu_s() - cpu
    if proc.returncode != 0:
        raise BenchError(f"great_expectations failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    body = json.loads(proc.stdout.strip().splitlines()[-1])
    if body["checks"] != len(SUITE) or body["failed"]:
        raise BenchError(f"GE: expected {len(SUITE)} passing checks, got {body['checks']}, failed {body['failed']}")
    return {"total_s": total, "validate_s": body["read_s"] + body["validate_s"], "import_s": body["import_s"],
            "cpu_s": cpu}


def yaml_suite() -> str:
    """Keel's side of :data:`SUITE` as a suite file."""
    import yaml

    return str(yaml.safe_dump({"name": "orders", "checks": [keel for keel, _ in SUITE]}, sort_keys=False))


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run whose end-to-end time is the median (the upper one of an even count), with every run's total."""
    ordered = sorted(runs, key=lambda r: r["total_s"])
    return {**ordered[len(ordered) // 2], "runs": [r["total_s"] for r in runs]}  # type: ignore[dict-item]


def bench_validate(work: Path, sizes: Sizes, ge_python: str | None) -> dict[str, object]:
    """P7: Keel (and GE) on the same Parquet file and the same 20 checks, ``sizes.repeat`` runs each."""
    suite_path = work / "suite.yaml"
    suite_path.write_text(yaml_suite())
    out: dict[str, object] = {"rows": sizes.rows, "ge_rows": sizes.ge_rows, "repeat": sizes.repeat}

    for rows in sorted({sizes.rows, sizes.ge_rows}):
        data = work / f"orders-{rows}.parquet"
        log(f"P7: generating {rows:,} rows ...")
        make_table(data, rows)
        os.sync()  # the file's writeback would otherwise overlap the first timed run
        both = ge_python is not None and rows == sizes.ge_rows
        if rows == sizes.rows or both:
            keel_runs: list[dict[str, float]] = []
            ge_runs: list[dict[str, float]] = []
            for run in range(sizes.repeat):  # alternate the sides so that a busy spell hits both alike
                log(f"P7: run {run + 1}/{sizes.repeat} on {rows:,} rows x {len(SUITE)} checks: keel data validate"
                    + (", great_expectations ..." if both else " ..."))
                keel_runs.append(_keel_validate(data, suite_path, work / "keel-home"))
                if both:
                    assert ge_python is not None
                    ge_runs.append(_ge_validate(data, ge_python))
            out["keel" if rows == sizes.rows else "keel_at_ge_rows"] = median_run(keel_runs)
            if ge_runs:
                out["ge"] = median_run(ge_runs)
        data.unlink()
    return out


def fit_disk(sizes: Sizes, free_bytes: int) -> tuple[Sizes, str]:
    """Scale the big file down when it (source + Keel's store + DVC's cache, 3x, plus 5 GiB) does not fit."""
    need = 3 * (sizes.big_mb << 20) + (5 << 30)
    if need <= free_bytes:
        return sizes, ""
    big_mb = max(16, (free_bytes - (5 << 30)) // 3 >> 20)
    note = f"scaled the big file down from {sizes.big_mb:,} MiB to {big_mb:,} MiB: not enough free disk"
    return Sizes(big_mb, sizes.small_files, sizes.rows, sizes.ge_rows, sizes.repeat, sizes.p8_repeat), note


def _ratio(incumbent: object, keel: object) -> float:
    return float(incumbent) / float(keel)  # type: ignore[arg-type]


def _runs(side: dict[str, object]) -> str:
    """``3 runs: 2.01, 2.10, 2.43 s`` from a :func:`median_run` result."""
    runs = side.get("runs") or [side["total_s"]]
    assert isinstance(runs, list)
    return f"{len(runs)} run{'s' if len(runs) > 1 else ''}: " + ", ".join(f"{r:.2f}" for r in sorted(runs)) + " s"


def _seconds(values: object) -> str:
    assert isinstance(values, list)
    return ", ".join(f"{v:.2f}" for v in values) + " s"


def _kept_p8(path: Path = RESULTS) -> list[str]:
    """The P8 part (intro and table) of the data section already in RESULTS.md, for a P7-only run."""
    text = path.read_text() if path.exists() else ""
    start, end = text.find("<!-- begin data -->"), text.find("<!-- end data -->")
    if start < 0 or end < 0:
        return []
    lines = text[start:end].splitlines()[2:]  # past the marker and the heading
    kept: list[str] = []
    for line in lines:
        if line.startswith("P7:"):
            break
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    while kept and not kept[0].strip():
        kept.pop(0)
    return kept if any(line.startswith("| P8") for line in kept) else []


def _kept_p8_notes(path: Path = RESULTS) -> list[str]:
    """The earlier run's P8 notes (its rounds, one line per shape), kept by a P7-only run."""
    text = path.read_text() if path.exists() else ""
    section = text[text.find("<!-- begin data -->"):text.find("<!-- end data -->")]
    return [line.removeprefix("Note: ").removesuffix(".") for line in section.splitlines()
            if line.startswith("Note: P8 ")]


def report(add_rows: list[dict[str, object]], validation: dict[str, object]) -> None:
    """The figures as plain text on stdout."""
    print(f"{'P8':4} {'shape':34} {'keel add s':>11} {'re-add s':>9} {'stat s':>8} {'dvc add s':>10} {'re-add s':>9}")
    for row in add_rows:
        dvc = (f"{row['dvc_add_s']:10.2f} {row['dvc_readd_s']:9.2f}" if "dvc_add_s" in row else "")
        print(f"{'P8':4} {row['shape']:34} {row['keel_add_s']:11.2f} {row['keel_readd_s']:9.2f} "
              f"{row['stat_s']:8.3f} {dvc}".rstrip())
        if "dvc_add_s" in row:
            print(f"P8 ratio (dvc / keel) {row['shape']}: add {_ratio(row['dvc_add_s'], row['keel_add_s']):.1f}x, "
                  f"re-add {_ratio(row['dvc_readd_s'], row['keel_readd_s']):.1f}x (target: >= 5x)")
    keel = validation.get("keel")
    if not isinstance(keel, dict):
        return
    print(f"P7   keel data validate {validation['rows']:,} rows x {len(SUITE)} checks: {keel['total_s']:.2f} s end to "
          f"end, {keel['validate_s']:.2f} s validating, {keel['cpu_s']:.2f} CPU s (median of {_runs(keel)})")
    ge = validation.get("ge")
    if isinstance(ge, dict):
        keel_same = validation.get("keel_at_ge_rows", keel)
        assert isinstance(keel_same, dict)
        print(f"P7   great_expectations {validation['ge_rows']:,} rows: {ge['total_s']:.2f} s end to end, "
              f"{ge['validate_s']:.2f} s read + validate, {ge['import_s']:.2f} s import, {ge['cpu_s']:.2f} CPU s "
              f"(median of {_runs(ge)})")
        print(f"P7 ratio (GE / keel, end to end): {_ratio(ge['total_s'], keel_same['total_s']):.1f}x "
              "(target: >= 10x)")


def _polars(versions: dict[str, str | None]) -> str:
    if versions.get("polars") is None:
        return ", without the `polars` extra"
    return (f"; with the `polars` extra, polars {versions['polars']} counts the two regex checks and code's string "
            "lengths beside DuckDB's scan")


def write_results(add_rows: list[dict[str, object]], validation: dict[str, object], versions: dict[str, str | None],
                  notes: list[str]) -> None:
    """The "data" section of RESULTS.md."""
    today = dt.date.today().isoformat()
    lines = ["## Data: add vs DVC (P8), validation vs Great Expectations (P7)", ""]
    kept = [] if add_rows else _kept_p8()
    p8_rounds = len(add_rows[0].get("keel_runs") or [0]) if add_rows else 0  # type: ignore[arg-type]
    lines += kept or [
        "Each figure is one subprocess timed end to end (process start, imports, work, exit). "
        f"P8: `keel data add` with a fresh KEEL_HOME vs `dvc add` (dvc {versions['dvc']}) in a fresh "
        "`git init` + `dvc init` repository; the re-add runs the same command again on unchanged data; "
        "\"stat\" is an in-process `os.scandir` walk stating every file, the floor a re-add approaches. "
        "The data was just written (then `sync`ed), so both sides read it from the page cache. Each shape ran "
        f"{p8_rounds} rounds, the sides taking turns to go first (on this VM, the first process to need fresh "
        "memory after a quiet spell waits for the host); each figure is the side's median round by first add (of two "
        "rounds, the slower one).",
        "",
        "| benchmark | Keel | DVC | ratio (DVC / Keel) | target | date |",
        "|---|---|---|---|---|---|",
    ]
    if kept:
        notes = ["the P8 rows are from an earlier run (their date); this run measured P7 only", *_kept_p8_notes(),
                 *notes]
    for row in add_rows:
        notes.append(f"P8 {row['shape']}: Keel add {_seconds(row['keel_runs'])}, re-add "
                     f"{_seconds(row['keel_readd_runs'])}; DVC add {_seconds(row['dvc_runs'])}, re-add "
                     f"{_seconds(row['dvc_readd_runs'])} (round by round)")
    for row in add_rows:
        lines.append(f"| P8 add {row['shape']} | {row['keel_add_s']:.2f} s | {row['dvc_add_s']:.2f} s | "
                     f"{_ratio(row['dvc_add_s'], row['keel_add_s']):.1f}x | >= 5x | {today} |")
        lines.append(f"| P8 no-op re-add, {row['shape']} (stat of every file: {row['stat_s']:.3f} s) | "
                     f"{row['keel_readd_s']:.2f} s | {row['dvc_readd_s']:.2f} s | "
                     f"{_ratio(row['dvc_readd_s'], row['keel_readd_s']):.1f}x | >= 5x, close to a stat | {today} |")
    keel, ge = validation["keel"], validation["ge"]
    assert isinstance(keel, dict) and isinstance(ge, dict)
    keel_same = validation.get("keel_at_ge_rows", keel)
    assert isinstance(keel_same, dict)
    lines += [
        "",
        f"P7: the same {len(SUITE)} checks (not null x6 with one `mostly` 0.99, unique, between x4, in set x2, regex "
        "x2, string length x2, column exists, row count, dtype) over one Parquet file of orders (ten columns, "
        f"all checks pass). Keel: `keel data validate FILE --suite suite.yaml --json` (DuckDB{_polars(versions)}). "
        "Great Expectations "
        f"{versions['great_expectations']} (pandas {versions['pandas']}): ephemeral context, `pd.read_parquet`, "
        "whole-dataframe batch, `batch.validate(suite)`, default result format. The sides ran "
        f"{validation.get('repeat', 1)} times each, alternately, on the same file (after an `os.sync()`); the figures "
        f"are each side's median run (Keel {_runs(keel_same)}; GE {_runs(ge)}).",
        "",
        "| benchmark | Keel | Great Expectations | ratio (GE / Keel) | target | date |",
        "|---|---|---|---|---|---|",
        f"| P7 validate {validation['ge_rows']:,} rows x {len(SUITE)} checks, end to end | "
        f"{keel_same['total_s']:.2f} s | {ge['total_s']:.2f} s | {_ratio(ge['total_s'], keel_same['total_s']):.1f}x "
        f"| >= 10x | {today} |",
        f"| P7' the same without imports (Keel: validation; GE: read + validate) | {keel_same['validate_s']:.2f} s | "
        f"{ge['validate_s']:.2f} s | {_ratio(ge['validate_s'], keel_same['validate_s']):.1f}x | (reported) | {today} |",
        f"| P7'' CPU seconds of that run (user + system, all threads) | {keel_same['cpu_s']:.2f} s | "
        f"{ge['cpu_s']:.2f} s | {_ratio(ge['cpu_s'], keel_same['cpu_s']):.1f}x | (reported) | {today} |",
    ]
    if validation["rows"] != validation["ge_rows"]:
        lines.append(f"| P7 Keel alone on {validation['rows']:,} rows, end to end | {keel['total_s']:.2f} s "
                     f"({keel['validate_s']:.2f} s validating) | (not run) | | | {today} |")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    start_load = validation.get("load_at_start")
    at_start = f"at the start of P7 {start_load}, " if start_load else ""
    lines += [""] + [f"Note: {note}." for note in notes] + [
        "", f"Machine: {machine_note()}; load average (1, 5, 15 min) {at_start}at the end of the run: {load} "
        "(other jobs share the cores)"]
    write_section("data", lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the figures; write RESULTS.md unless ``--quick`` or ``--no-write``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Keel only, tiny sizes, no RESULTS.md")
    parser.add_argument("--anchors-python", help="interpreter of the venv with dvc and great_expectations "
                                                 "(benchmarks/anchors-data.txt)")
    parser.add_argument("--big-mb", type=int, default=2048)
    parser.add_argument("--small-files", type=int, default=50_000)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--ge-rows", type=int, help="rows for Great Expectations if --rows exhausts its memory")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--only", choices=["p7", "p8"],
                        help="run one part; p7 rewrites the P7 rows and keeps the P8 rows, p8 writes nothing")
    parser.add_argument("--repeat", type=int, default=3, help="P7 runs per side (the median is reported)")
    parser.add_argument("--p8-repeat", type=int, default=2,
                        help="P8 rounds per shape, the sides taking turns to go first (the median is reported; of an "
                             "even count, the upper one)")
    args = parser.parse_args(argv)
    if args.quick:
        sizes = Sizes(8, 300, 20_000, 20_000, max(1, args.repeat), max(1, args.p8_repeat))
    elif not args.anchors_python:
        print("bench_data: --anchors-python is required without --quick (make bench sets it)", file=sys.stderr)
        return 2
    else:
        sizes = Sizes(args.big_mb, args.small_files, args.rows, args.ge_rows or args.rows, max(1, args.repeat),
                      max(1, args.p8_repeat))
    WORK.mkdir(exist_ok=True)
    sizes, note = fit_disk(sizes, shutil.disk_usage(WORK).free)
    notes = [note] if note else []
    if note:
        log(f"bench_data: {note}")
    if sizes.ge_rows != sizes.rows:
        notes.append(f"Great Expectations measured on {sizes.ge_rows:,} rows (pandas memory), Keel on both")
    anchors = None if args.quick else os.path.abspath(args.anchors_python)  # not resolve(): keep the venv's link
    dvc = str(Path(anchors).parent / "dvc") if anchors else None
    work = WORK / f"data-{os.getpid()}"
    work.mkdir()
    try:
        add_rows = bench_add(work, sizes, dvc) if args.only != "p7" else []
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        validation = bench_validate(work, sizes, anchors) if args.only != "p8" else {}
        if validation:
            validation["load_at_start"] = load
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(add_rows, validation)
    if anchors and not args.no_write and args.only != "p8":
        versions = {p: package_version(anchors, p) for p in ("dvc", "great_expectations", "pandas")}
        versions["polars"] = package_version(sys.executable, "polars")  # Keel's side: the `polars` extra
        write_results(add_rows, validation, versions, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Feature-store benchmark: (P4) point-in-time join vs Feast's file (dask) and duckdb offline stores; (P5) online
lookup of 100 entities x 10 features vs Feast's sqlite online store.

Both sides read the same generated Parquet files (``feature_data.py``): driver feature rows and entity rows, a
feature view with a 2-day ttl. Every job is a fresh subprocess, so its peak RSS is its own: Keel's runs this file
with the hidden ``--keel-worker`` subcommand in Keel's venv and a fresh ``KEEL_HOME``; Feast's runs
``feast_anchor.py`` in the venv of ``benchmarks/anchors-features.txt``. Each job is stopped at a time limit and at a
memory cap (the machine is shared), and reported as such. Correctness: Keel's join of the smaller size is checked
against a pandas ``merge_asof`` reference and against Feast duckdb's rows (and Feast file's, on the rows it keeps),
the online answers against the latest row per key; any difference fails the run. ``--quick`` runs Keel alone on
tiny sizes and writes nothing. Figures go to the "features" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench_results import write_section
from bench_support import BenchError, clean_env, log, machine_note, package_version, rss_mib
from feature_checks import check_online_sample, count_differences, latest_values, reference_join
from feature_data import TTL_DAYS, feature_names, generate

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
FEAST_ANCHOR = HERE / "feast_anchor.py"
VIEW = "driver_stats"
REDIS_URL = "redis://127.0.0.1:6379/15"  # flushed before and after: a database nothing else uses


@dataclass
class Sizes:
    """How much data each part generates, how long Feast's file store may take on the larger sizes, and the RSS
    at which any job is stopped."""

    pit: list[tuple[int, int, int]]  # (feature rows, entity rows, keys), smallest first
    pit_features: int
    online_rows: int
    online_keys: int
    online_features: int
    entities: int
    calls: int
    file_timeout_s: float
    mem_cap_mib: int


QUICK = Sizes([(20_000, 2_000, 500)], 5, 20_000, 2_000, 10, 100, 200, 300.0, 8192)
FULL = Sizes([(1_000_000, 100_000, 10_000), (10_000_000, 1_000_000, 100_000)], 5, 1_000_000, 100_000, 10, 100,
             2000, 300.0, 10240)


# --- the Keel worker (runs in a subprocess of Keel's venv) ---------------------------------------------------------

def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _keel_define(data: Path, n_features: int) -> Any:
    from datetime import timedelta

    import keel.features as kf

    driver = kf.Entity("driver", join_keys=["driver_id"])
    view = kf.FeatureView(VIEW, entities=[driver], source=str(data / "features.parquet"),
                          schema=[kf.Field(name, "float64") for name in feature_names(n_features)],
                          timestamp_field="event_timestamp", ttl=timedelta(days=TTL_DAYS))
    kf.apply([driver, view])
    return kf


def keel_pit(data: Path, n_features: int, out: Path | None) -> dict[str, Any]:
    """Time Keel's point-in-time join of every entity row (the worker's ``pit`` job)."""
    t0 = time.perf_counter()
    kf = _keel_define(data, n_features)
    historical = kf.get_historical_features  # its module loads here, like Feast's imports, outside the timing
    setup_s = time.perf_counter() - t0
    names = feature_names(n_features)
    t0 = time.perf_counter()
    df = historical(str(data / "entities.parquet"), features=[f"{VIEW}:{n}" for n in names])
    seconds = time.perf_counter() - t0
    result = {"seconds": seconds, "setup_seconds": setup_s, "rows_out": len(df), "peak_rss_mib": _peak_rss_mib(),
              "null_rows": int(df[names].isna().any(axis=1).sum())}
    if out is not None:  # entity rows keep their columns, so the rows can be matched with the other sides'
        df[["driver_id", "event_timestamp", *names]].to_parquet(out, index=False)
    return result


def _column(resp: dict[str, list[Any]], name: str) -> list[Any]:
    for key in (name, f"{VIEW}:{name}", f"{VIEW}__{name}"):
        if key in resp:
            return resp[key]
    raise BenchError(f"keel: online response has no column {name!r} (columns: {sorted(resp)})")


def keel_online(data: Path, n_entities: int, calls: int, n_features: int, seed: int,
                sample_out: Path | None) -> dict[str, Any]:
    """Materialize, then time ``get_online_features`` like ``feast_anchor.py online`` (same batches)."""
    import numpy as np
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    kf = _keel_define(data, n_features)
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    kf.materialize()
    materialize_s = time.perf_counter() - t0
    keys = np.unique(pq.read_table(data / "features.parquet", columns=["driver_id"]).column(0).to_numpy())
    rng = np.random.default_rng(seed)
    batches = [[{"driver_id": int(k)} for k in rng.choice(keys, size=n_entities, replace=False)]
               for _ in range(calls)]
    refs = [f"{VIEW}:{name}" for name in feature_names(n_features)]
    for rows in batches[: min(50, calls)]:
        kf.get_online_features(rows, features=refs).to_dict()
    samples: list[float] = []
    found = 0
    for rows in batches:
        t0 = time.perf_counter()
        resp = kf.get_online_features(rows, features=refs).to_dict()
        samples.append(time.perf_counter() - t0)
        found += sum(v is not None for v in _column(resp, "f0"))
    if sample_out is not None:
        first = kf.get_online_features([{"driver_id": int(k)} for k in keys[:n_entities]], features=refs).to_dict()
        sample = {"driver_id": [int(k) for k in keys[:n_entities]]}
        sample.update({name: _column(first, name) for name in feature_names(n_features)})
        sample_out.write_text(json.dumps(sample))
    ms = np.array(samples) * 1000
    return {"seconds": float(sum(samples)), "setup_seconds": setup_s, "materialize_seconds": materialize_s,
            "calls": calls, "entities": n_entities, "found_fraction": found / (calls * n_entities),
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean()), "peak_rss_mib": _peak_rss_mib()}


def worker_main(argv: list[str]) -> int:
    """``--keel-worker pit|online ...``: one Keel job; prints one JSON line."""
    parser = argparse.ArgumentParser(prog="bench_features.py --keel-worker")
    parser.add_argument("job", choices=["pit", "online"])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--features", type=int, required=True)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--entities", type=int, default=100)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sample-out", type=Path)
    args = parser.parse_args(argv)
    if args.job == "pit":
        result = keel_pit(args.data, args.features, args.out)
    else:
        result = keel_online(args.data, args.entities, args.calls, args.features, args.seed, args.sample_out)
    print(json.dumps(result))
    return 0


# --- running jobs ---------------------------------------------------------------------------------------------------



def run_job(cmd: list[str], env: dict[str, str], cwd: Path, label: str, timeout_s: float,
            mem_cap_mib: int) -> tuple[dict[str, Any] | None, str]:
    """(the job's JSON result, "") or (None, why it was stopped); a failing job is a BenchError."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        started = time.monotonic()
        stopped = ""
        while proc.poll() is None:
            if time.monotonic() - started > timeout_s:
                stopped = f"did not finish in {timeout_s:.0f} s"
            elif rss_mib(proc.pid) > mem_cap_mib:
                elapsed = time.monotonic() - started
                stopped = f"stopped at the {mem_cap_mib / 1024:g} GiB memory cap after {elapsed:.0f} s"
            if stopped:
                os.killpg(proc.pid, signal.SIGKILL)  # the group of the process we started
                proc.wait()
                log(f"{label}: {stopped}")
                return None, stopped
            time.sleep(0.2)
        out.seek(0)
        err.seek(0)
        lines = out.read().decode(errors="replace").strip().splitlines()
        if proc.returncode != 0 or not lines:
            tail = "\n".join(err.read().decode(errors="replace").splitlines()[-30:])
            raise BenchError(f"{label} failed (exit {proc.returncode}):\n{tail}")
    try:
        return dict(json.loads(lines[-1])), ""
    except json.JSONDecodeError as exc:
        raise BenchError(f"{label}: last output line is not JSON: {lines[-1]!r}") from exc


def keel_job(args: list[str], work: Path, label: str, sizes: Sizes, online_store: str | None = None) -> dict[str, Any]:
    """A Keel worker with a fresh ``KEEL_HOME``; a Keel job that is stopped fails the run."""
    home = Path(tempfile.mkdtemp(prefix="keel-home-", dir=work))
    extra = {"KEEL_HOME": str(home)}
    if online_store:
        extra["KEEL_ONLINE_STORE"] = online_store
    try:
        result, stopped = run_job([sys.executable, str(Path(__file__).resolve()), "--keel-worker", *args],
                                  clean_env(extra), work, label, 3600.0, sizes.mem_cap_mib)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if result is None:
        raise BenchError(f"{label}: {stopped}")
    return result


def feast_job(python: str, args: list[str], work: Path, label: str, timeout_s: float,
              mem_cap_mib: int) -> tuple[dict[str, Any] | None, str]:
    """``feast_anchor.py`` in Feast's venv."""
    return run_job([python, str(FEAST_ANCHOR), *args], clean_env({"FEAST_USAGE": "False"}), work, label, timeout_s,
                   mem_cap_mib)


# --- the benchmark --------------------------------------------------------------------------------------------------

def _size_label(frows: int, erows: int, keys: int) -> str:
    return f"{frows:,} feature rows x {erows:,} entity rows ({keys:,} keys)"


def bench_pit(work: Path, sizes: Sizes, feast_python: str | None) -> list[dict[str, Any]]:
    """P4 rows: Keel (and Feast file, duckdb) at each size; the smallest size is checked for correctness."""
    import pandas as pd

    names = feature_names(sizes.pit_features)
    rows: list[dict[str, Any]] = []
    for i, (frows, erows, keys) in enumerate(sizes.pit):
        label = _size_label(frows, erows, keys)
        data = work / f"pit-{frows}"
        log(f"P4 {label}: generating ...")
        generate(data, feature_rows=frows, entity_rows=erows, keys=keys, n_features=sizes.pit_features)
        check = i == 0
        row: dict[str, Any] = {"label": label, "feature_rows": frows, "entity_rows": erows, "keys": keys}
        base = ["pit", "--data", str(data), "--features", str(sizes.pit_features)]
        log(f"P4 {label}: keel ...")
        row["keel"] = keel_job(base + (["--out", str(data / "keel.parquet")] if check else []), work, "keel pit",
                               sizes)
        if row["keel"]["rows_out"] != erows:
            raise BenchError(f"keel pit: {row['keel']['rows_out']:,} rows out for {erows:,} entity rows")
        for store in ("duckdb", "file") if feast_python else ():
            assert feast_python is not None
            log(f"P4 {label}: feast {store} ...")
            timeout = sizes.file_timeout_s if store == "file" and i > 0 else 3600.0
            out = ["--out", str(data / f"feast-{store}.parquet")] if check else []
            result, stopped = feast_job(feast_python, base[:1] + ["--store", store] + base[1:] + out, work,
                                        f"feast pit {store}", timeout, sizes.mem_cap_mib)
            row[store] = result if result is not None else {"stopped": stopped}
        if check:
            keel_df = pd.read_parquet(data / "keel.parquet")
            compared, bad = count_differences(keel_df, reference_join(data, names), names)
            row["check"] = [f"{bad:,} of {compared:,} rows differ from a pandas merge_asof reference"]
            failures = bad
            for store in ("duckdb", "file"):
                if (data / f"feast-{store}.parquet").exists():
                    feast_df = pd.read_parquet(data / f"feast-{store}.parquet")
                    compared, bad = count_differences(keel_df, feast_df, names, inner=store == "file")
                    failures += bad
                    row["check"].append(f"{bad:,} of {compared:,} rows differ from Feast {store}"
                                        + (" (on the rows it keeps)" if store == "file" else ""))
            log("P4 check: " + "; ".join(row["check"]))
            if failures:
                raise BenchError("P4 correctness check failed: " + "; ".join(row["check"]))
        shutil.rmtree(data)
        rows.append(row)
    return rows


def _redis_ready(url: str) -> str:
    """Why Redis at ``url`` cannot be used, or "" when it answers (its database is then flushed)."""
    try:
        import redis
    except ImportError:
        return "the redis package is not installed"
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        client.flushdb()
        client.close()
    except redis.RedisError as exc:
        return f"Redis not reachable at {url}: {exc}"
    return ""


def bench_online(work: Path, sizes: Sizes, feast_python: str | None, redis_url: str | None) -> dict[str, Any]:
    """P5: Keel on SQLite (and Redis), Feast's sqlite online store, the same random batches of entities."""
    import numpy as np
    import pyarrow.parquet as pq

    names = feature_names(sizes.online_features)
    data = work / "online"
    log(f"P5: generating {sizes.online_rows:,} feature rows ({sizes.online_keys:,} keys) ...")
    # Rows from the last day: Keel's online store nulls features older than the ttl at read time (Feast's sqlite
    # store serves them however old), so stale data would time empty answers.
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1)
    generate(data, feature_rows=sizes.online_rows, entity_rows=1, keys=sizes.online_keys,
             n_features=sizes.online_features, days=1, seed=1, start=start)
    keys = np.unique(pq.read_table(data / "features.parquet", columns=["driver_id"]).column(0).to_numpy())
    truth = latest_values(data, [int(k) for k in keys[: sizes.entities]], names)
    common = ["online", "--data", str(data), "--features", str(sizes.online_features), "--entities",
              str(sizes.entities), "--calls", str(sizes.calls), "--seed", "1"]
    out: dict[str, Any] = {"keys": len(keys), "notes": []}
    sides: list[tuple[str, str | None]] = [("keel_sqlite", None)]
    if redis_url:
        why_not = _redis_ready(redis_url)
        if why_not:
            out["notes"].append(f"Keel on Redis not measured: {why_not}")
        else:
            sides.append(("keel_redis", redis_url))
    for side, store in sides:
        log(f"P5: {side} ...")
        sample = work / f"{side}-sample.json"
        out[side] = keel_job(common + ["--sample-out", str(sample)], work, f"keel online {side}", sizes, store)
        wrong = check_online_sample(sample, truth, names)
        if wrong:
            raise BenchError(f"P5 {side}: {wrong} of {sizes.entities} keys' online features differ from the latest "
                             "feature row of the key")
    if redis_url and "keel_redis" in out:
        _redis_ready(redis_url)  # leave the benchmark's database empty
    if feast_python:
        log("P5: feast sqlite ...")
        sample = work / "feast-sample.json"
        result, stopped = feast_job(feast_python, common + ["--sample-out", str(sample)], work, "feast online", 3600.0,
                                    sizes.mem_cap_mib)
        out["feast"] = result if result is not None else {"stopped": stopped}
        if result is not None:
            wrong = check_online_sample(sample, truth, names)
            out["notes"].append(f"Feast's answers for {sizes.entities} sampled keys: {wrong} differ from the latest "
                                "row per key")
    shutil.rmtree(data)
    return out


def _fig(side: dict[str, Any] | None) -> str:
    if side is None:
        return "(not run)"
    if "stopped" in side:
        return str(side["stopped"])
    return f"{side['seconds']:.2f} s, {side['peak_rss_mib']:,.0f} MiB"


def _ratio(feast: dict[str, Any] | None, keel: dict[str, Any]) -> str:
    if not feast or "seconds" not in feast:
        return "-"
    return f"{feast['seconds'] / keel['seconds']:.1f}x"


def _ms(side: dict[str, Any] | None) -> str:
    if side is None:
        return "(not run)"
    if "stopped" in side:
        return str(side["stopped"])
    return f"p50 {side['p50_ms']:.2f} ms, p99 {side['p99_ms']:.2f} ms"


def report(pit_rows: list[dict[str, Any]], online: dict[str, Any], sizes: Sizes) -> None:
    """The figures as plain text on stdout."""
    for row in pit_rows:
        keel = row["keel"]
        line = (f"P4 pit {row['label']}: keel {keel['seconds']:.2f} s join, {keel['peak_rss_mib']:,.0f} MiB peak, "
                f"{keel['null_rows']:,} rows without features")
        for store in ("file", "duckdb"):
            if store in row:
                line += f"; feast {store} {_fig(row[store])} (ratio {_ratio(row[store], keel)})"
        print(line)
        for check in row.get("check", []):
            print(f"P4 check: {check}")
    for side in ("keel_sqlite", "keel_redis", "feast"):
        if side in online:
            result = online[side]
            extra = (f", materialize {result['materialize_seconds']:.2f} s, found {result['found_fraction']:.1%}"
                     if "p50_ms" in result else "")
            print(f"P5 online {side.replace('_', ' ')} ({sizes.entities} entities x {sizes.online_features} "
                  f"features): {_ms(result)}{extra}")
    for note in online["notes"]:
        print(f"P5 note: {note}")


def write_results(pit_rows: list[dict[str, Any]], online: dict[str, Any], sizes: Sizes,
                  versions: dict[str, str | None], start_load: str) -> None:
    """The "features" section of RESULTS.md."""
    today = dt.date.today().isoformat()
    lines = [
        "## Features: point-in-time join (P4) and online lookup (P5) vs Feast",
        "",
        f"Written by `make bench` (`benchmarks/bench_features.py`) on {today}: Keel and Feast {versions['feast']} "
        f"(pandas {versions['pandas']}, dask {versions['dask']}, duckdb {versions['duckdb']}; "
        "`benchmarks/anchors-features.txt`) side by side on the same generated Parquet files (`feature_data.py`: "
        f"random driver ids and microsecond timestamps over 30 days, {sizes.pit_features} float64 features, a "
        f"feature view with a {TTL_DAYS}-day ttl). Each figure is one fresh subprocess; seconds are the join alone "
        "(Keel: `get_historical_features(entities.parquet)`; Feast: `get_historical_features(entity_df)"
        ".to_df()` with the entity rows already read by pandas), peak is the process's own max RSS. Feast's file "
        "store drops entity rows with no feature row within the ttl; Keel and Feast duckdb keep them with nulls.",
        "",
        "| benchmark | Keel | Feast (file) | Feast (duckdb) | ratio (Feast file / Keel; duckdb / Keel) | target "
        "| date |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, row in enumerate(pit_rows):
        keel = row["keel"]
        target = ">= 20x Feast file" if i == 0 else ">= 20x Feast file; Keel < 15 s and < 4 GiB"
        lines.append(f"| P4 PIT join {row['label']}, {sizes.pit_features} features | {_fig(keel)} | "
                     f"{_fig(row.get('file'))} | {_fig(row.get('duckdb'))} | {_ratio(row.get('file'), keel)}; "
                     f"{_ratio(row.get('duckdb'), keel)} | {target} | {today} |")
    lines += [
        "",
        f"P5: {online['keys']:,} keys materialized (latest row of each), then `get_online_features` for "
        f"{online['keel_sqlite']['entities']} random entities x {sizes.online_features} features, "
        f"`.to_dict()`, in process, {sizes.calls:,} calls after 50 warm-up calls, the same batches on every side. "
        "Feast: sqlite online store, materialized from its duckdb offline store. The feature rows span the last "
        "day before the run: Keel's online reads null a feature older than the view's ttl (Feast's sqlite store "
        "serves it however old), and every answer is checked against the latest row of its key.",
        "",
        "| benchmark | Keel | Feast (sqlite) | ratio p99 (Feast / Keel) | target | date |",
        "|---|---|---|---|---|---|",
    ]
    feast = online.get("feast")
    ratio = (f"{feast['p99_ms'] / online['keel_sqlite']['p99_ms']:.1f}x" if feast and "p99_ms" in feast else "-")
    lines.append(f"| P5 online, Keel on SQLite | {_ms(online['keel_sqlite'])} | {_ms(feast)} | {ratio} | "
                 f"Keel p99 < 2 ms | {today} |")
    if "keel_redis" in online:
        lines.append(f"| P5 online, Keel on Redis | {_ms(online['keel_redis'])} | - | - | (reported) | {today} |")
    notes = [f"{check}" for row in pit_rows for check in row.get("check", [])]
    for row in pit_rows:
        setups = [f"{side.replace('_', ' ')} {row[side]['setup_seconds']:.2f} s" for side in ("keel", "file", "duckdb")
                  if "setup_seconds" in row.get(side, {})]
        notes.append(f"P4 {row['feature_rows']:,} x {row['entity_rows']:,} setup (apply the definitions, outside "
                     f"the timing): " + ", ".join(setups))
    for side in ("keel_sqlite", "keel_redis", "feast"):
        result = online.get(side)
        if result and "materialize_seconds" in result:
            notes.append(f"{side.replace('_', ' ')}: materialize {result['materialize_seconds']:.2f} s, "
                         f"{result['found_fraction']:.1%} of looked-up entities found")
    notes += online["notes"]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines += [""] + [f"- {note}." for note in notes] + [
        "", f"Machine: {machine_note()}; load average (1, 5, 15 min) at the start of the run: {start_load}, at the "
        f"end: {load}. Other work on the machine adds noise; the ratio within one run is what counts."]
    write_section("features", lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the figures; write RESULTS.md unless ``--quick`` or ``--no-write``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--keel-worker"]:
        return worker_main(argv[1:])
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Keel only, tiny sizes, no RESULTS.md")
    parser.add_argument("--anchors-python", help="interpreter of the venv with Feast (benchmarks/anchors-features.txt)")
    parser.add_argument("--redis-url", help="Redis database Keel's online store may flush and fill "
                                            f"(default without --quick: {REDIS_URL})")
    parser.add_argument("--file-timeout", type=float, default=FULL.file_timeout_s,
                        help="seconds Feast's file store may take on the sizes after the first")
    parser.add_argument("--mem-cap-gib", type=float, default=FULL.mem_cap_mib / 1024,
                        help="stop any job whose RSS passes this (the machine is shared)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        sizes, redis_url = QUICK, args.redis_url
    elif not args.anchors_python:
        print("bench_features: --anchors-python is required without --quick (make bench sets it)", file=sys.stderr)
        return 2
    else:
        sizes, redis_url = replace(FULL, file_timeout_s=args.file_timeout), args.redis_url or REDIS_URL
    sizes = replace(sizes, mem_cap_mib=int(args.mem_cap_gib * 1024))
    feast_python = None if args.quick else os.path.abspath(args.anchors_python)  # keep the venv's link
    start_load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    WORK.mkdir(exist_ok=True)
    work = WORK / f"features-{os.getpid()}"
    work.mkdir()
    try:
        pit_rows = bench_pit(work, sizes, feast_python)
        online = bench_online(work, sizes, feast_python, redis_url)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(pit_rows, online, sizes)
    if feast_python and not args.no_write:
        versions = {p: package_version(feast_python, p) for p in ("feast", "pandas", "dask", "duckdb")}
        write_results(pit_rows, online, sizes, versions, start_load)
    return 0


if __name__ == "__main__":
    sys.exit(main())

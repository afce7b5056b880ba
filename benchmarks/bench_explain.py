"""Explanation benchmark (E1): ``keel.explain`` vs calling SHAP directly, on the same tree model and rows.

A RandomForestClassifier of 100 trees (depth 8) on 10 generated features is registered with Keel; then, alternating,
``keel.explain("models:/…/1", rows, log=False)`` (loads the model from the registry, checks the rows against the
signature, picks the explainer, explains) and bare ``shap.TreeExplainer(model)(rows)`` on the in-memory model each
explain the same 10,000 rows. The median of the repetitions is reported, with Keel's time including logging
(importance JSON, summary plot, version tags) as a note. Both answers must agree to 1e-9.
``--quick`` (20 trees, 1,000 rows, one repetition) checks the pipeline without writing ``RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_results import write_section
from bench_support import BenchError, log, machine_note, package_version

TARGET = 1.2


def _setup(home: Path, trees: int, rows: int) -> tuple[Any, Any]:
    os.environ["KEEL_HOME"] = str(home)
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier

    import keel

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, 10)), columns=[f"f{i}" for i in range(10)])
    label = (frame["f0"] + frame["f1"] * frame["f2"] + 0.3 * rng.normal(size=rows) > 0).astype(int)
    model = RandomForestClassifier(n_estimators=trees, max_depth=8, random_state=0, n_jobs=1).fit(frame, label)
    with keel.start_run():
        keel.log_model(model, "model", input_example=frame.head(5), registered_model_name="bench-explain")
    return model, frame


def _time(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def run(trees: int, rows: int, repeats: int) -> dict[str, Any]:
    """Time both sides ``repeats`` times (alternating) and check they agree."""
    import numpy as np
    import shap

    import keel

    with tempfile.TemporaryDirectory(prefix="keel-bench-explain-") as tmp:
        model, frame = _setup(Path(tmp) / "home", trees, rows)
        uri = "models:/bench-explain/1"
        keel_s, bare_s = [], []
        for _ in range(repeats):
            elapsed, bare = _time(lambda: shap.TreeExplainer(model)(frame))
            bare_s.append(elapsed)
            elapsed, ours = _time(lambda: keel.explain(uri, frame, log=False))
            keel_s.append(elapsed)
        gap = float(np.abs(ours.to_numpy() - np.asarray(bare.values)[:, :, 1]).max())
        if gap > 1e-9:
            raise BenchError(f"keel.explain and shap disagree by {gap:.3g}")
        logged_s, _ = _time(lambda: keel.explain(uri, frame))
    return {"keel_s": statistics.median(keel_s), "bare_s": statistics.median(bare_s), "logged_s": logged_s,
            "keel_all": keel_s, "bare_all": bare_s, "gap": gap}


def _lines(result: dict[str, Any], trees: int, rows: int, repeats: int) -> list[str]:
    ratio = result["keel_s"] / result["bare_s"]
    today = dt.date.today().isoformat()
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return [
        "## Explanations: keel.explain vs SHAP directly (E1)",
        "",
        f"Written by `make bench` (`benchmarks/bench_explain.py`) on {today}: Keel "
        f"{package_version(sys.executable, 'keel-mlops')}, shap {package_version(sys.executable, 'shap')}, "
        f"scikit-learn {package_version(sys.executable, 'scikit-learn')}, one process, median of {repeats} "
        "alternating repetitions.",
        "",
        "| benchmark | Keel | shap directly | ratio (Keel / shap) | target | met | date | machine |",
        "|---|---|---|---|---|---|---|---|",
        f"| E1 explain {rows:,} rows, RandomForest({trees}, depth 8), 10 features | {result['keel_s']:.2f} s | "
        f"{result['bare_s']:.2f} s | {ratio:.2f}x | <= {TARGET}x | {'yes' if ratio <= TARGET else 'no'} | {today} | "
        f"{machine_note()} |",
        "",
        "### Notes",
        "",
        f"- Keel's time includes loading the model from the registry and checking the rows against its signature; "
        f"SHAP's uses the model already in memory. Both explain the same rows with `TreeExplainer` (path-dependent); "
        f"the contributions agree to {result['gap']:.1g}.",
        f"- Every repetition (s): Keel {', '.join(f'{x:.2f}' for x in result['keel_all'])}; shap "
        f"{', '.join(f'{x:.2f}' for x in result['bare_all'])}.",
        f"- With logging (importance JSON, summary plot, version tags) `keel.explain` took {result['logged_s']:.2f} s.",
        f"- Load average (1/5/15 min) at the end: {load}; the 2-core machine was shared with other work, so absolute "
        "times are noisy; the ratio within one run is what counts.",
        "",
        "Reproduce: `make bench` (or `.venv/bin/python benchmarks/bench_explain.py`).",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 trees, 1,000 rows, one repetition; no RESULTS.md")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    trees, rows, repeats = (20, 1_000, 1) if args.quick else (args.trees, args.rows, args.repeats)
    log(f"explaining {rows:,} rows of a {trees}-tree forest, {repeats} repetition(s) each side")
    result = run(trees, rows, repeats)
    ratio = result["keel_s"] / result["bare_s"]
    print(f"E1 explain {rows:,} rows RandomForest({trees}): keel {result['keel_s']:.3f} s, shap "
          f"{result['bare_s']:.3f} s, ratio {ratio:.2f}x (target <= {TARGET}x), max difference {result['gap']:.1g}")
    if not args.quick:
        write_section("explain", _lines(result, trees, rows, repeats))


if __name__ == "__main__":
    main()

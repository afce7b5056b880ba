"""Model loading benchmark: ``keel.load_model`` + first prediction vs ``mlflow.pyfunc.load_model`` + first
prediction, on the same scikit-learn model directory (Keel writes MLflow-compatible ``MLmodel`` files).

Each repetition runs in a fresh process; the clock starts after the library and scikit-learn (the model's own
framework, which both need) are imported and stops after the first prediction. The library's import time, and
import + load + predict together ("cold"), are reported too. ``--quick`` runs Keel alone with two repetitions.
Figures go to the "registry" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_results import write_section
from bench_support import BenchError, clean_env, log, machine_note, package_version

KEEL_CLIENT = """
import json, sys, time
t0 = time.perf_counter()
import keel, pandas as pd
t1 = time.perf_counter()
import sklearn.linear_model  # the model's own framework: both need it, neither owns its import time
frame = pd.read_json(sys.argv[2], orient="split")
t2 = time.perf_counter()
model = keel.load_model(sys.argv[1])
pred = model.predict(frame.head(1))
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_predict_s": t3 - t2, "cold_s": (t1 - t0) + (t3 - t2),
                  "pred": [int(p) for p in pred]}))
"""

MLFLOW_CLIENT = """
import json, sys, time
t0 = time.perf_counter()
import mlflow.pyfunc, pandas as pd
t1 = time.perf_counter()
import sklearn.linear_model  # the model's own framework: both need it, neither owns its import time
frame = pd.read_json(sys.argv[2], orient="split")
t2 = time.perf_counter()
model = mlflow.pyfunc.load_model(sys.argv[1])
pred = model.predict(frame.head(1))
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_predict_s": t3 - t2, "cold_s": (t1 - t0) + (t3 - t2),
                  "pred": [int(p) for p in pred]}))
"""


def _prepare(work: Path) -> tuple[Path, Path, list[int]]:
    """Train a LogisticRegression on 20 features, save it with Keel, write one input row as JSON."""
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from keel.registry.model_files import save_model

    x, y = make_classification(n_samples=2000, n_features=20, random_state=0)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(20)])
    model = LogisticRegression(max_iter=500).fit(frame, y)
    model_dir = work / "model"
    save_model(model, model_dir, input_example=frame.head(3))
    data = work / "input.json"
    frame.head(1).to_json(data, orient="split")
    return model_dir, data, [int(p) for p in model.predict(frame.head(1))]


def _run(python: str, script: str, model_dir: Path, data: Path, repeats: int, env: dict[str, str]) -> list[dict]:
    samples = []
    for _ in range(repeats):
        out = subprocess.run([python, "-c", script, str(model_dir), str(data)], capture_output=True, text=True,
                             env=env, timeout=300)
        if out.returncode != 0:
            raise BenchError(f"{python} failed to load the model:\n{out.stderr[-2000:]}")
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return samples


def _median_ms(samples: list[dict], key: str) -> float:
    return statistics.median(s[key] for s in samples) * 1000


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; write RESULTS.md unless ``--quick`` or ``--no-write``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Keel only, two repetitions, no RESULTS.md")
    parser.add_argument("--anchors-python", help="interpreter of the venv with mlflow (benchmarks/anchors.txt)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    repeats = 2 if args.quick else args.repeats
    if not args.quick and not args.anchors_python:
        print("bench_registry: --anchors-python is required without --quick (make bench sets it)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="keel-bench-registry-") as tmp:
        model_dir, data, expected = _prepare(Path(tmp))
        env = clean_env({"MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true", "KEEL_HOME": str(Path(tmp) / "home")})
        log("keel: load_model + first prediction ...")
        keel = _run(sys.executable, KEEL_CLIENT, model_dir, data, repeats, env)
        rows = [("keel.load_model + first predict", _median_ms(keel, "load_predict_s"), _median_ms(keel, "import_s"),
                 _median_ms(keel, "cold_s"))]
        if any(s["pred"] != expected for s in keel):
            raise BenchError("keel predicted something else than the trained model")
        mlflow = None
        if not args.quick:
            log("mlflow: pyfunc.load_model + first prediction ...")
            mlflow = _run(args.anchors_python, MLFLOW_CLIENT, model_dir, data, repeats, env)
            if any(s["pred"] != expected for s in mlflow):
                raise BenchError("mlflow predicted something else than the trained model")
            rows.append(("mlflow.pyfunc.load_model + first predict", _median_ms(mlflow, "load_predict_s"),
                         _median_ms(mlflow, "import_s"), _median_ms(mlflow, "cold_s")))
    print(f"{'R1':4} {'what':45} {'load+predict ms':>16} {'import ms':>10} {'cold ms':>10}")
    for what, load_ms, import_ms, cold_ms in rows:
        print(f"{'R1':4} {what:45} {load_ms:16.1f} {import_ms:10.1f} {cold_ms:10.1f}")
    if mlflow is not None:
        ratio = rows[1][1] / rows[0][1]
        print(f"R1 ratio (mlflow / keel, load+predict): {ratio:.2f}x (target: >= 1, not slower)")
        if not args.no_write:
            version = package_version(args.anchors_python, "mlflow")
            _write(rows, ratio, version, repeats)
    return 0


def _write(rows: list[tuple[str, float, float, float]], ratio: float, mlflow_version: str | None, repeats: int) -> None:
    today = dt.date.today().isoformat()
    lines = [
        "## Registry: load a model and predict once (R1)",
        "",
        "Same scikit-learn LogisticRegression (20 features) directory, saved by Keel in MLflow's format; each "
        f"figure is the median of {repeats} fresh processes. R1 is timed from after the imports (the library and "
        "scikit-learn, which both need) until the first prediction; R1' is the library's import; R1'' is the "
        "library's import plus R1, what a fresh process pays.",
        "",
        "| benchmark | Keel | MLflow | ratio (MLflow / Keel) | target | date |",
        "|---|---|---|---|---|---|",
        f"| R1 load_model + first predict | {rows[0][1]:.1f} ms | {rows[1][1]:.1f} ms (mlflow {mlflow_version}) | "
        f"{ratio:.2f}x | not slower (>= 1x) | {today} |",
        f"| R1' import of the library | {rows[0][2]:.0f} ms | {rows[1][2]:.0f} ms | {rows[1][2] / rows[0][2]:.2f}x "
        f"| (reported) | {today} |",
        f"| R1'' import + load + first predict | {rows[0][3]:.0f} ms | {rows[1][3]:.0f} ms | "
        f"{rows[1][3] / rows[0][3]:.2f}x | (reported) | {today} |",
        "",
        f"Machine: {machine_note()}",
    ]
    write_section("registry", lines)


if __name__ == "__main__":
    sys.exit(main())

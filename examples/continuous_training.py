"""Continuous training as a Keel pipeline: ingest → validate (gate) → features → train with tuning → promote (gate).

When the gate passes, the ``champion`` alias moves and every ``keel serve models:/ct-model@champion`` hot-swaps to
the new version. Run it by hand, on a schedule, on each new dataset version, or when a drift alert fires::

    keel run examples/continuous_training.py:ct -p source=data/train.csv
    keel schedule add nightly --pipeline examples/continuous_training.py:ct --cron "0 3 * * *" -p source=...
    keel trigger add on-new-data --on dataset:ct-raw --pipeline examples/continuous_training.py:ct -p 'source=$ref'
    keel trigger add on-drift --on alert:drift --pipeline examples/continuous_training.py:ct -p source=...

Unchanged steps are cached: re-running on the same data skips everything; new data re-runs what depends on it.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

import keel
import keel.data
import keel.features as kf

MODEL = "ct-model"
DATASET = "ct-raw"


@keel.step
def ingest(source: str) -> str:
    """A file becomes (or stays) the next version of the dataset; a dataset ref (a trigger passes ``$ref`` of the new
    version) is used as it is. Returns NAME@vN."""
    if Path(source).exists() or "://" in source:
        return keel.data.add(source, DATASET, message="continuous training input").ref
    return keel.data.get_version(source).ref


@keel.step
def validate(ref: str, suite: str) -> str:
    """The data gate: a suite inferred from the first version; later versions must pass it (exit 1 = fail)."""
    if not Path(suite).exists():
        subprocess.run([sys.executable, "-m", "keel", "data", "profile", ref, "-o", suite], check=True,
                       capture_output=True)
    gate = subprocess.run([sys.executable, "-m", "keel", "data", "validate", ref, "--suite", suite],
                          capture_output=True, text=True)
    print(gate.stdout.strip().splitlines()[-1] if gate.stdout.strip() else gate.stderr)
    if gate.returncode != 0:
        raise RuntimeError(f"{ref} failed the validation gate ({suite}): {gate.stdout[-500:]}{gate.stderr[-500:]}")
    return ref


@keel.step
def features(ref: str, target: str) -> pd.DataFrame:
    """Feature view over the validated version; the training set is a point-in-time join (one label time per row)."""
    columns = [c for c in keel.data.load(ref).columns if c not in (target, "row_id", "event_timestamp")]
    row = kf.Entity("row", join_keys=["row_id"])
    view = kf.FeatureView("ct_features", entities=[row], source=ref,
                          schema=[kf.Field(c, "float64") for c in columns])
    kf.apply([row, view])
    labels = keel.data.load(ref)[["row_id", target]].assign(event_timestamp=datetime.now(UTC))
    return kf.get_historical_features(labels, [f"ct_features:{c}" for c in columns])


@keel.step
def train(frame: pd.DataFrame, target: str, n_trials: int) -> int:
    """Tune an SGD classifier's regularisation (every trial a child run) and register the best model."""
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = frame.drop(columns=[target, "row_id", "event_timestamp"]), frame[target]

    def objective(params: dict) -> float:
        model = make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss", alpha=params["alpha"], random_state=0))
        return float(cross_val_score(model, x, y, cv=3).mean())

    result = keel.tune(objective, {"alpha": {"log": (1e-5, 1e-1)}}, n_trials=n_trials, direction="maximize",
                       metric="cv_accuracy", seed=0, progress=False)
    best = make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss", alpha=result.best_params["alpha"],
                                                         random_state=0)).fit(x, y)
    with keel.start_run(run_id=result.parent_run_id):
        info = keel.log_model(best, "model", input_example=x.head(3), registered_model_name=MODEL)
    assert info.registered_model_version is not None
    return int(info.registered_model_version.version)


@keel.step
def promote(version: int, frame: pd.DataFrame, target: str) -> dict:
    """The promotion gate: accuracy >= 0.9 and at least as good as the current champion on the same data."""
    holdout = frame.drop(columns=["row_id", "event_timestamp"]).sample(frac=0.3, random_state=1)
    decision = keel.promote(MODEL, version, "champion", holdout, target, require=["accuracy >= 0.9"],
                            must_beat="champion")
    print(decision.summary())
    return {"version": version, "promoted": decision.promoted}


@keel.pipeline
def ct(source: str, target: str = "target", suite: str = "ct_suite.yaml", n_trials: int = 4) -> dict:
    """The continuous-training pipeline."""
    ref = validate(ingest(source), suite)
    frame = features(ref, target)
    return promote(train(frame, target, n_trials), frame, target)


def sample_data(path: Path, rows: slice | None = None) -> Path:
    """sklearn's breast cancer set as a CSV with ``row_id`` and an ``event_timestamp`` a day back (for examples)."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    frame.insert(0, "event_timestamp", datetime.now(UTC) - timedelta(days=1))
    frame.insert(0, "row_id", range(len(frame)))
    (frame.iloc[rows] if rows is not None else frame).to_csv(path, index=False)
    return path


if __name__ == "__main__":
    data = sample_data(Path(sys.argv[1] if len(sys.argv) > 1 else "ct_train.csv"))
    print(keel.run_pipeline(ct, {"source": str(data)}).status)

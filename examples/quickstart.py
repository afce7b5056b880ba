"""Keel quick start: train a small scikit-learn model and track it (run by `make demo`).

Everything lands in the embedded default store (./.keel: SQLite + a local artifact folder); nothing to configure.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import keel

EPOCHS = 20


def train(alpha: float, seed: int = 0) -> str:
    """One tracked training run; returns its run id."""
    data = load_breast_cancer(as_frame=True)
    x_train, x_val, y_train, y_val = train_test_split(data.data, data.target, test_size=0.25, random_state=seed)
    scaler = StandardScaler().fit(x_train)
    x_train_s, x_val_s = scaler.transform(x_train), scaler.transform(x_val)
    model = SGDClassifier(loss="log_loss", alpha=alpha, random_state=seed)
    with keel.start_run(run_name=f"sgd-alpha-{alpha:g}") as run:
        keel.log_params({"model": "SGDClassifier", "alpha": alpha, "epochs": EPOCHS, "seed": seed})
        keel.log_input(data.frame, context="training", name="breast_cancer")
        classes = np.unique(y_train)
        for epoch in range(EPOCHS):
            model.partial_fit(x_train_s, y_train, classes=classes)
            keel.log_metrics({
                "train_loss": log_loss(y_train, model.predict_proba(x_train_s)),
                "val_loss": log_loss(y_val, model.predict_proba(x_val_s)),
                "val_accuracy": accuracy_score(y_val, model.predict(x_val_s)),
            }, step=epoch)
        keel.log_dict({"confusion_matrix": confusion_matrix(y_val, model.predict(x_val_s)).tolist(),
                       "labels": [str(c) for c in data.target_names]}, "eval/confusion_matrix.json")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.pkl"
            path.write_bytes(pickle.dumps({"scaler": scaler, "model": model}))
            keel.log_artifact(path, "model")
        return run.run_id


def main() -> None:
    keel.set_experiment("quickstart")
    run_ids = [train(alpha) for alpha in (1e-4, 1e-3, 1e-2)]
    best = keel.search_runs("quickstart", order_by=["metrics.val_accuracy DESC"], max_results=1,
                            output_format="list")[0]
    print(f"\nlogged {len(run_ids)} runs; best: {best.info.run_name} "
          f"(val_accuracy {best.metrics['val_accuracy'].value:.3f})\n")
    subprocess.run([sys.executable, "-m", "keel", "runs", "list", "--experiment", "quickstart",
                    "--order-by", "metrics.val_accuracy DESC"], check=True)
    home = keel.tracking.context.get_backend().settings.home.absolute()
    print(f"\nWhere to look: metadata in {home / 'keel.db'}, artifacts in {home / 'artifacts'}")
    print(f"  keel runs show {best.info.run_id}")
    print("  keel server   # then point MLFLOW_TRACKING_URI=http://127.0.0.1:5000 at it")


if __name__ == "__main__":
    main()

"""Keel quick start (`make demo`): version and validate data, build the training set through the feature store, train,
track, register, evaluate and promote a small scikit-learn model, explain its top features, then deploy it as a
canary with a shadow, serve it (also from entity keys with online features), read the prediction log, score a file
in batch and bundle it; finally run the lifecycle as a cached pipeline, watch its served model drift, let the drift
alert start retraining, and write the champion's model card.

Everything lands in the embedded default store (./.keel: SQLite + a local artifact folder); nothing to configure.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, confusion_matrix, log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import keel
import keel.data
import keel.features as kf

EPOCHS = 20
MODEL_NAME = "breast-cancer"
NOW = datetime.now(UTC).replace(microsecond=0)
# feature names are identifiers: "mean radius" -> "mean_radius"
FEATURES = [c.replace(" ", "_") for c in load_breast_cancer().feature_names]
REFS = [f"measurements:{name}" for name in FEATURES]


def measurements() -> pd.DataFrame:
    """Each patient's measurements, taken a day before the diagnosis (the label), keyed by patient_id."""
    data = load_breast_cancer(as_frame=True).data
    data.columns = FEATURES
    data.insert(0, "event_timestamp", [NOW - timedelta(days=1, minutes=i) for i in range(len(data))])
    data.insert(0, "patient_id", range(len(data)))
    return data


def snapshot_and_validate() -> keel.data.DatasetVersion:
    """The raw measurements (a CSV export) are ingested in batches into a Parquet dataset version, which is profiled
    into a check suite and validated (a CI gate)."""
    home = keel.tracking.context.get_backend().settings.home
    (home / "raw").mkdir(parents=True, exist_ok=True)
    measurements().to_csv(home / "raw" / "measurements.csv", index=False)
    keel_cli("data", "ingest", str(home / "raw" / "measurements.csv"), "-o", str(home / "measurements.parquet"),
             "--name", "breast-cancer-data")
    version = keel.data.get_version("breast-cancer-data")
    print(f"dataset {version.name}@v{version.number}: {version.row_count} rows, id {version.id}")
    keel_cli("data", "checkout", f"{version.name}@v{version.number}", "-o", str(home / "restored"))  # verified
    keel_cli("data", "profile", f"{version.name}@v{version.number}", "-o", str(home / "suite.yaml"))
    keel_cli("data", "validate", f"{version.name}@v{version.number}", "--suite", str(home / "suite.yaml"),
             "--html", str(home / "validation.html"))
    return version


def feature_store() -> tuple[pd.DataFrame, keel.data.DatasetVersion]:
    """Define the features over the dataset (`keel features apply` shows the diff), then build the training set by a
    point-in-time join of each diagnosis with the measurements known at that time; it is saved as a dataset
    version linked to the feature view."""
    home = keel.tracking.context.get_backend().settings.home
    fields = ", ".join(f'Field("{name}", "float64")' for name in FEATURES)
    (home / "features.py").write_text(textwrap.dedent(f"""
        from keel.features import Entity, FeatureView, Field
        patient = Entity("patient", join_keys=["patient_id"])
        measurements = FeatureView("measurements", entities=[patient], source="breast-cancer-data",
                                   schema=[{fields}])
        """))
    keel_cli("features", "apply", str(home / "features.py"))
    target = load_breast_cancer().target
    labels = pd.DataFrame({"patient_id": range(len(target)), "event_timestamp": NOW, "target": target})
    result = kf.get_training_set(labels, REFS, save_as="breast-cancer-training")
    print(f"training set {result.dataset_version.ref}: {len(result.frame)} rows x {len(FEATURES)} features from "
          f"the feature store")
    return result.frame, result.dataset_version


def train(alpha: float, frame: pd.DataFrame, inputs: list[keel.data.DatasetVersion], seed: int = 0) -> int:
    """One tracked training run that logs and registers its model; returns the registered version. The run links
    to its training set and to the validated dataset version the features came from."""
    x_train, x_val, y_train, y_val = train_test_split(frame[FEATURES], frame["target"], test_size=0.25,
                                                      random_state=seed)
    scaler = StandardScaler().fit(x_train)
    x_train_s, x_val_s = scaler.transform(x_train), scaler.transform(x_val)
    model = SGDClassifier(loss="log_loss", alpha=alpha, random_state=seed)
    with keel.start_run(run_name=f"sgd-alpha-{alpha:g}"):
        keel.log_params({"model": "SGDClassifier", "alpha": alpha, "epochs": EPOCHS, "seed": seed})
        for dataset in inputs:
            keel.log_input(dataset, context="training")  # the run links to each dataset version
        classes = np.unique(y_train)
        for epoch in range(EPOCHS):
            model.partial_fit(x_train_s, y_train, classes=classes)
            keel.log_metrics({
                "train_loss": log_loss(y_train, model.predict_proba(x_train_s)),
                "val_loss": log_loss(y_val, model.predict_proba(x_val_s)),
                "val_accuracy": accuracy_score(y_val, model.predict(x_val_s)),
            }, step=epoch)
        keel.log_dict({"confusion_matrix": confusion_matrix(y_val, model.predict(x_val_s)).tolist(),
                       "labels": ["malignant", "benign"]}, "eval/confusion_matrix.json")
        pipeline = make_pipeline(scaler, model)
        info = keel.log_model(pipeline, "model", input_example=x_val.head(5), registered_model_name=MODEL_NAME,
                              features=REFS)  # so `keel serve` can take patient_id and fetch the rest
        assert info.registered_model_version is not None
        keel.set_tag("registered_version", info.registered_model_version.version)
        return info.registered_model_version.version


def holdout() -> pd.DataFrame:
    """The validation split (features and target) as the gate's evaluation data."""
    data = measurements()[FEATURES].assign(target=load_breast_cancer().target)
    _, frame = train_test_split(data, test_size=0.25, random_state=0)
    return frame


def main() -> None:
    keel.set_experiment("quickstart")
    data = snapshot_and_validate()
    frame, training_set = feature_store()
    versions = [train(alpha, frame, [training_set, data]) for alpha in (1e-4, 1e-3, 1e-2)]
    best = keel.search_runs("quickstart", order_by=["metrics.val_accuracy DESC"], max_results=1,
                            output_format="list")[0]
    print(f"\nlogged {len(versions)} runs and registered versions {versions}; best: {best.info.run_name} "
          f"(val_accuracy {best.metrics['val_accuracy'].value:.3f})\n")
    subprocess.run([sys.executable, "-m", "keel", "runs", "list", "--experiment", "quickstart",
                    "--order-by", "metrics.val_accuracy DESC"], check=True)

    # The registry: every run registered a version; the best one becomes `champion` only through the gate.
    best_version = int(best.tags["registered_version"])
    decision = keel.promote(MODEL_NAME, best_version, "champion", holdout(), "target",
                            require=["accuracy >= 0.9", "roc_auc >= 0.95"], must_beat="champion")
    print("\n" + decision.summary())
    champion = keel.load_model(f"models:/{MODEL_NAME}@champion")
    sample = holdout().drop(columns=["target"]).head(3)
    predicted = [int(p) for p in champion.predict(sample)]
    print(f"models:/{MODEL_NAME}@champion predicts {predicted} for three held-out rows\n")
    explain_champion()
    keel_cli("models", "versions", MODEL_NAME)
    others = [v for v in versions if v != best_version]
    deploy_and_serve(others[0], others[1], holdout().drop(columns=["target"]))
    serve_with_online_features()
    score_in_batch()
    continuous_training()
    home = keel.tracking.context.get_backend().settings.home.absolute()
    keel_cli("models", "bundle", f"{MODEL_NAME}@champion", "-o", str(home / "bundle"), "--force")
    keel_cli("remote", "add", "origin", str(home.parent / ".keel-remote"))  # any fsspec URL: s3://bucket/prefix …
    keel_cli("data", "push", "breast-cancer-data", "--remote", "origin")
    keel_cli("lineage", "breast-cancer-data@v1")  # data → runs → model versions → champion → deployment
    write_model_card(home)
    print(f"\nWhere to look: metadata in {home / 'keel.db'}, artifacts in {home / 'artifacts'}")
    print(f"  keel runs show {best.info.run_id}")
    print(f"  keel models show {MODEL_NAME}@champion")
    print("  keel deploy show cancer-prod --history")
    print("  keel server   # then point MLFLOW_TRACKING_URI=http://127.0.0.1:5000 at it")
    print("  keel serve --deployment cancer-prod --port 8080   # /v2/models/cancer-prod/infer, /invocations")
    print("\nThe web UI: `keel ui` (starts `keel server` and opens a browser), then")
    print(f"  http://127.0.0.1:5000/ui/models/{MODEL_NAME}")
    print(f"  http://127.0.0.1:5000/ui/runs/{best.info.run_id}")
    print("  http://127.0.0.1:5000/ui/deployments/cancer-prod")


def explain_champion() -> None:
    """SHAP contributions of the champion on the held-out rows: its top features (logged to the model version)."""
    try:
        contributions = keel.explain(f"models:/{MODEL_NAME}@champion", holdout().drop(columns=["target"]))
    except keel.InvalidInput as exc:  # SHAP is an extra: pip install 'keel-mlops[explain]'
        print(f"(no explanations: {exc})")
        return
    top = list(contributions.attrs["importance"].items())[:5]
    print(f"champion's top 5 features (mean |SHAP| on the {contributions.attrs['output']}, "
          f"{contributions.attrs['explainer']} explainer):")
    for feature, importance in top:
        print(f"  {feature:<24} {importance:.3f}")
    print()


def write_model_card(home: Path) -> None:
    """The champion's model card, generated from what Keel recorded: data, validation, metrics, features, lineage."""
    version = keel.tracking.context.get_backend().registry.get_model_version_by_alias(MODEL_NAME, "champion")
    card = home / "champion_card.md"
    keel_cli("models", "card", f"{MODEL_NAME}/{version.version}", "-o", str(card))  # prints where it went


def keel_cli(*args: str) -> None:
    """Run one `keel` command, as a user would type it."""
    subprocess.run([sys.executable, "-m", "keel", *args], check=True)


def deploy_and_serve(challenger: int, shadow: int, rows: pd.DataFrame) -> None:
    """A canary deployment (champion 90 %, a challenger 10 %, a shadow mirrored), served by `keel serve --deployment`
    with micro-batching; then the prediction log shows who answered what."""
    keel_cli("deploy", "create", "cancer-prod", "--route", f"{MODEL_NAME}@champion=90",
             "--route", f"{MODEL_NAME}/{challenger}=10", "--shadow", f"{MODEL_NAME}/{shadow}",
             "--max-batch-size", "32", "--max-wait-ms", "2")
    answered = serve(["--deployment", "cancer-prod"], rows.head(40))
    print(f"\nkeel serve --deployment cancer-prod: /invocations -> {answered[:8]}... answered by versions "
          f"{dict(sorted(Counter(v for v, _ in answered).items()))}")
    log = keel.predictions("cancer-prod")
    summary = log.groupby(["model_version", "shadow"]).size().rename("rows").reset_index()
    print(f"prediction log ({len(log)} rows; the shadow's answers are logged, never returned):\n"
          f"{summary.to_string(index=False)}")
    keel_cli("deploy", "update", "cancer-prod", "--canary", f"{MODEL_NAME}/{challenger}=50")
    keel_cli("deploy", "rollback", "cancer-prod")
    keel_cli("deploy", "show", "cancer-prod", "--history")


def continuous_training() -> None:
    """The lifecycle as a Keel pipeline (examples/continuous_training.py), run twice to show the cache; then a
    monitor watches its served champion, shifted inputs drift, the alert fires and the retraining pipeline runs."""
    import sys as _sys
    from pathlib import Path

    _sys.path.insert(0, str(Path(__file__).parent))
    from continuous_training import sample_data

    home = keel.tracking.context.get_backend().settings.home.absolute()
    flow = f"{Path(__file__).parent.absolute() / 'continuous_training.py'}:ct"
    data, newer = sample_data(home / "ct_train.csv"), sample_data(home / "ct_newer.csv", slice(0, 500))
    suite = f"suite={home / 'ct_suite.yaml'}"
    keel_cli("run", flow, "-p", f"source={data}", "-p", suite)
    keel_cli("run", flow, "-p", f"source={data}", "-p", suite)  # nothing changed: every step is cached
    keel_cli("monitor", "create", "ct-drift", "-d", "ct-model", "-r", "ct-raw@v1", "--window", "10s")
    keel_cli("alerts", "add-rule", "ct-drift-alert", "-m", "ct-drift", "--when", "share_drifted_features > 0.3",
             "--channel", "trigger", "--channel", "log")
    keel_cli("trigger", "add", "retrain-on-drift", "--on", "alert:ct-drift-alert", "--pipeline", flow,
             "-p", f"source={newer}", "-p", suite)
    frame = pd.read_csv(data).drop(columns=["row_id", "event_timestamp", "target"])
    shifted = frame.sample(80, random_state=0) * 1.8  # the world changed: every measurement is larger
    answered = serve(["models:/ct-model@champion"], shifted)
    time.sleep(10 - time.time() % 10 + 0.5)  # let the 10 s window holding that traffic close
    print(f"\nkeel serve models:/ct-model@champion answered {len(answered)} shifted requests")
    keel_cli("monitor", "run", "ct-drift")
    keel_cli("scheduler", "--once")  # the alert's trigger event starts the retraining pipeline
    keel_cli("pipelines", "runs", "--pipeline", "ct")


def serve_with_online_features() -> None:
    """Materialize the latest measurements into the online store, then send `keel serve` only patient ids: the
    champion declared its features, so the server fetches them before predicting."""
    keel_cli("features", "materialize")
    keel_cli("features", "skew", "measurements", "--sample", "50")
    ids = holdout().index[:5]
    answered = serve([f"models:/{MODEL_NAME}@champion"], pd.DataFrame({"patient_id": ids}))
    expected = keel.load_model(f"models:/{MODEL_NAME}@champion").predict(holdout().loc[ids, FEATURES])
    print(f"keel serve with online features: patient_id {list(ids)} -> {[p for _, p in answered]} "
          f"({'same as' if [p for _, p in answered] == [int(e) for e in expected] else 'DIFFERENT from'} the "
          "model on the stored features)")


def serve(args: list[str], rows: pd.DataFrame) -> list[tuple[str, int]]:
    """Start `keel serve ARGS`, send ``rows`` one request each over MLflow's /invocations, stop the server;
    returns (answering version, prediction) per request."""
    import socket

    import httpx

    with socket.socket() as sock:  # a free port on loopback
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "keel", "serve", *args, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    answers = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        with httpx.Client(timeout=10) as client:
            for _, row in rows.iterrows():
                body = {"dataframe_split": {"columns": list(rows.columns), "data": [row.tolist()]}}
                response = client.post(f"{url}/invocations", json=body)
                response.raise_for_status()
                answers.append((response.headers["x-keel-model-version"], int(response.json()["predictions"][0])))
    finally:
        server.terminate()  # a clean stop flushes the prediction log
        server.wait(30)
    return answers


def score_in_batch() -> None:
    """Batch scoring: `keel predict` streams a file through the champion into Parquet (resumable)."""
    home = keel.tracking.context.get_backend().settings.home
    source = home / "holdout.csv"
    holdout().drop(columns=["target"]).to_csv(source, index=False)
    keel_cli("predict", f"models:/{MODEL_NAME}@champion", "--input", str(source), "--output",
             str(home / "scored"), "--chunk-rows", "50", "--overwrite")
    scored = pd.read_parquet(home / "scored")
    print(f"batch scoring: {len(scored)} rows -> {home / 'scored'}; predicted classes "
          f"{ {int(k): int(v) for k, v in scored['prediction'].value_counts().sort_index().items()} }")


if __name__ == "__main__":
    main()

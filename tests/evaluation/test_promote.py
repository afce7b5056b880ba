"""evaluate() and promote() on both transports: the gate accepts a better model and refuses a worse one."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sqlalchemy import select

import keel
from keel.errors import InvalidInput, NotFound
from keel.evaluation import evaluate, promote
from keel.tracking.context import get_backend


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    data = load_breast_cancer(as_frame=True)
    return data.frame


def _register(frame: pd.DataFrame) -> str:
    """Register a weak model (version 1) and a strong one (version 2) under a fresh name."""
    x, y = frame.drop(columns=["target"]), frame["target"]
    weak = DummyClassifier(strategy="most_frequent").fit(x, y)
    strong = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    name = f"cancer-{uuid.uuid4().hex[:6]}"
    with keel.start_run():
        keel.log_model(weak, "weak", input_example=x.head(3), registered_model_name=name)
        keel.log_model(strong, "strong", input_example=x.head(3), registered_model_name=name)
    return name


def _alias(name: str, alias: str) -> int:
    return int(get_backend().registry.get_model_version_by_alias(name, alias).version)


def _tags(name: str, version: int) -> dict[str, str]:
    return dict(get_backend().registry.get_model_version(name, version).tags)


def _lineage(name: str, db_url: str) -> list[tuple[str, str, str, str, str]]:
    from keel.store import open_database
    from keel.store.tables import lineage_edges

    le = lineage_edges.c
    with open_database(db_url).read() as conn:
        rows = conn.execute(select(le.src_kind, le.src_id, le.relation, le.dst_kind, le.dst_id)
                            .where(le.dst_kind == "alias", le.dst_id.like(f"{name}@%"))).all()
    return sorted(tuple(r) for r in rows)


def test_gate_promotes_the_better_model_and_refuses_the_worse(sdk: str, cancer: pd.DataFrame,
                                                              request: pytest.FixtureRequest) -> None:
    name = _register(cancer)
    accepted = promote(name, 2, "champion", cancer, "target", require=["accuracy >= 0.8"], must_beat="champion")
    assert accepted.promoted and accepted.verdict == "promoted" and accepted.failures == []
    assert accepted.candidate_metrics["accuracy"] > 0.95 and accepted.incumbent_version is None
    assert any("points at no version" in note for note in accepted.notes)
    assert _alias(name, "champion") == 2
    tags = _tags(name, 2)
    assert tags["keel.promotion.champion.verdict"] == "promoted"
    assert tags["keel.promotion.champion.by"] == accepted.user
    assert json.loads(tags["keel.promotion.champion.metrics"])["accuracy"] == accepted.candidate_metrics["accuracy"]

    refused = promote(name, 1, "champion", cancer, "target", require=["accuracy >= 0.8"], must_beat="champion")
    assert not refused.promoted and refused.verdict == "refused"
    assert _alias(name, "champion") == 2
    assert refused.incumbent_version == 2 and refused.incumbent_metrics is not None
    assert refused.comparison is not None and not refused.comparison.passed
    assert refused.failures[0].startswith("accuracy >= 0.8: 0.6")
    assert "incumbent 'champion' = version 2" in refused.failures[1]
    assert "FAIL accuracy >= 0.8" in refused.summary()
    tags = _tags(name, 1)
    assert tags["keel.promotion.champion.verdict"] == "refused"
    assert tags["keel.promotion.champion.incumbent"] == f"{name}/2"
    conditions = json.loads(tags["keel.promotion.champion.conditions"])
    assert conditions == [{"condition": "accuracy >= 0.8", "metric": "accuracy",
                           "value": refused.candidate_metrics["accuracy"], "passed": False}]
    assert refused.to_dict()["verdict"] == "refused"

    # The decision is a lineage edge in the store that holds the registry (the server's, over HTTP).
    db_url = get_backend().settings.resolved_db_url
    if sdk == "http":
        db_url = f"sqlite:///{request.getfixturevalue('live_server').home / 'keel.db'}"
    assert accepted.lineage_recorded and refused.lineage_recorded
    assert _lineage(name, db_url) == [
        ("model_version", f"{name}/1", "promotion_refused", "alias", f"{name}@champion"),
        ("model_version", f"{name}/2", "promoted_to", "alias", f"{name}@champion"),
    ]


def test_must_beat_alone_refuses_a_worse_model(sdk: str, cancer: pd.DataFrame) -> None:
    name = _register(cancer)
    keel.set_registered_model_alias(name, "champion", 2)
    decision = promote(name, 1, "challenger", cancer, "target", must_beat="champion")
    assert not decision.promoted and decision.primary_metric == "accuracy"
    with pytest.raises(NotFound):
        get_backend().registry.get_model_version_by_alias(name, "challenger")
    again = promote(name, 2, "challenger", cancer, "target", must_beat="champion")
    assert again.promoted and _alias(name, "challenger") == 2
    assert any("compared with itself" in note for note in again.notes)


def test_bad_conditions_and_arguments_are_invalid_input(sdk: str, cancer: pd.DataFrame) -> None:
    name = _register(cancer)
    with pytest.raises(InvalidInput, match="unknown metric 'bleu'"):
        promote(name, 2, "champion", cancer, "target", require=["bleu > 0.3"])
    with pytest.raises(InvalidInput, match="unknown metric 'rmse'"):
        promote(name, 2, "champion", cancer, "target", require=["rmse < 3"])
    with pytest.raises(InvalidInput, match="cannot be parsed"):
        promote(name, 2, "champion", cancer, "target", require=["accuracy is high"])
    with pytest.raises(InvalidInput, match="no column 'label'"):
        promote(name, 2, "champion", cancer, "label")
    with pytest.raises(NotFound):
        promote(name, 9, "champion", cancer, "target")
    with pytest.raises(NotFound):
        get_backend().registry.get_model_version_by_alias(name, "champion")


def test_evaluate_logs_metrics_and_artifacts_to_a_run(sdk: str, cancer: pd.DataFrame) -> None:
    name = _register(cancer)
    frame = cancer.assign(size=pd.cut(cancer["mean radius"], [0, 12, 16, 100], labels=["s", "m", "l"]))
    result = evaluate(f"models:/{name}/2", frame.drop(columns=["target"]), cancer["target"].to_numpy(),
                      slices=["size"])
    run = keel.get_run(result.run_id)
    assert run.info.run_name == f"evaluate models:/{name}/2"
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"):
        assert run.metrics[key].value == pytest.approx(result.metrics[key])
    assert run.tags["keel.evaluation.task"] == "classification"
    assert run.tags["keel.evaluation.plots"] == "png"  # matplotlib is in the dev extras
    png = get_backend().artifacts.get_bytes(f"{run.info.artifact_uri}/evaluation/roc_curve.png")
    assert png.startswith(b"\x89PNG") and len(png) > 1_000
    artifacts = get_backend().artifacts
    confusion = json.loads(artifacts.get_bytes(f"{run.info.artifact_uri}/evaluation/confusion_matrix.json"))
    assert confusion["labels"] == [0, 1] and sum(map(sum, confusion["matrix"])) == len(cancer)
    slices = json.loads(artifacts.get_bytes(f"{run.info.artifact_uri}/evaluation/slice_metrics.json"))
    assert set(slices["size"]) == {"s", "m", "l"}
    assert f"evaluation/roc_curve.{result.plot_format}" in result.artifacts
    assert any(i.context == "evaluation" for i in run.inputs)


def test_evaluate_regression_in_the_active_run_from_a_csv(sdk: str, tmp_path: Path) -> None:
    data = load_diabetes(as_frame=True).frame
    path = tmp_path / "diabetes.csv"
    data.to_csv(path, index=False)
    x = data.drop(columns=["target"])
    with keel.start_run() as run:
        info = keel.log_model(LinearRegression().fit(x, data["target"]), "reg", input_example=x.head(2))
        result = evaluate(info.model_uri, path, "target", task="regression")
        assert result.run_id == run.run_id
        assert keel.get_run(run.run_id).metrics["rmse"].value == pytest.approx(result.metrics["rmse"])
    assert result.confusion_matrix is None and result.metrics["r2"] > 0.4
    assert f"evaluation/residuals.{result.plot_format}" in result.artifacts
    with pytest.raises(InvalidInput, match="task 'ranking'"):
        evaluate(info.model_uri, path, "target", task="ranking")
    with pytest.raises(NotFound, match="does not exist"):
        evaluate(info.model_uri, tmp_path / "missing.csv", "target")

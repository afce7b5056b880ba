"""keel.explain: SHAP contributions add up to the model output (tree and linear), importance is logged, and a model
SHAP cannot explain (or a missing SHAP) is a clear error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import keel
from keel.errors import InvalidInput
from keel.evaluation import explain
from keel.tracking.context import get_backend

pytest.importorskip("shap")


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.normal(size=(300, 5)), columns=["a", "b", "c", "d", "e"])
    return frame, (frame["a"] - frame["c"] + 0.3 * rng.normal(size=300) > 0).astype(int)


def _register(model: object, frame: pd.DataFrame, name: str) -> str:
    with keel.start_run():
        keel.log_model(model, "model", input_example=frame.head(5), registered_model_name=name)
    return f"models:/{name}/1"


def _outputs(result: pd.DataFrame) -> np.ndarray:
    return np.asarray(result.attrs["base_values"]) + result.to_numpy().sum(axis=1)


def test_tree_contributions_add_up_to_probability(keel_home: Path, data: tuple[pd.DataFrame, pd.Series]) -> None:
    frame, target = data
    model = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0).fit(frame, target)
    uri = _register(model, frame, "forest")
    result = explain(uri, frame.assign(target=target))  # the target column is not a model input: dropped
    assert list(result.columns) == ["a", "b", "c", "d", "e"] and len(result) == 300
    assert result.attrs["explainer"] == "tree" and result.attrs["output"] == "probability of class 1"
    np.testing.assert_allclose(_outputs(result), model.predict_proba(frame)[:, 1], atol=1e-8)
    importance = result.attrs["importance"]
    assert set(list(importance)[:2]) == {"a", "c"}  # the features the label depends on
    tags = get_backend().registry.get_model_version("forest", 1).tags
    assert list(json.loads(tags["keel.explain.importance"]))[:2] == list(importance)[:2]
    run = get_backend().tracking.get_run(result.attrs["run_id"])
    assert run.tags["keel.explain.explainer"] == "tree" and run.tags["keel.explain.model_uri"] == uri
    artifacts = get_backend().artifacts
    assert artifacts.exists(f"{run.info.artifact_uri}/explain/summary.png")
    logged = json.loads(artifacts.get_bytes(f"{run.info.artifact_uri}/explain/importance.json"))
    assert logged["importance"]["a"] == pytest.approx(importance["a"])


def test_tree_regressor_and_max_rows(keel_home: Path, data: tuple[pd.DataFrame, pd.Series]) -> None:
    frame, _ = data
    y = 2 * frame["a"] + frame["b"] ** 2
    model = GradientBoostingRegressor(n_estimators=20, random_state=0).fit(frame, y)
    result = explain(_register(model, frame, "gbr"), frame, max_rows=50, log=False)
    assert len(result) == 50 and result.attrs["output"] == "prediction"
    np.testing.assert_allclose(_outputs(result), model.predict(frame.loc[result.index]), atol=1e-6)


def test_linear_pipeline_contributions_add_up_to_log_odds(keel_home: Path,
                                                          data: tuple[pd.DataFrame, pd.Series]) -> None:
    frame, target = data
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, target)
    result = explain(_register(model, frame, "linear"), frame, log=False)
    assert result.attrs["explainer"] == "linear"
    np.testing.assert_allclose(_outputs(result), model.decision_function(frame), atol=1e-8)
    ridge = Ridge().fit(frame, frame["a"] * 3 - frame["e"])
    plain = explain(_register(ridge, frame, "ridge"), frame.head(40), background=frame, log=False)
    np.testing.assert_allclose(_outputs(plain), ridge.predict(frame.head(40)), atol=1e-8)


class Scorer:
    """A python-function model with a numeric output: explained by the sampled permutation explainer."""

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return 2 * x["a"].to_numpy() - x["b"].to_numpy() * x["c"].to_numpy()


def test_other_models_use_the_permutation_explainer_within_a_time_budget(
        keel_home: Path, data: tuple[pd.DataFrame, pd.Series]) -> None:
    frame, _ = data
    uri = _register(Scorer(), frame, "scorer")
    result = explain(uri, frame.head(30), background=frame, time_budget_s=0, log=False)
    assert result.attrs["explainer"] == "permutation"
    assert len(result) == 25 and result.attrs["notes"] == ["time budget reached: explained 25 of 30 rows"]
    np.testing.assert_allclose(_outputs(result), Scorer().predict(frame.head(25)), atol=1e-8)
    assert result["d"].abs().max() == pytest.approx(0.0, abs=1e-9)  # the model ignores d


class Labeller:
    """A python-function model answering words: nothing numeric for SHAP to explain."""

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return np.where(x["a"] > 0, "yes", "no")


class Doubler:
    """A python-function model on tensors."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x).sum(axis=1) * 2


def test_models_shap_cannot_explain_are_clear_errors(keel_home: Path, data: tuple[pd.DataFrame, pd.Series]) -> None:
    frame, _ = data
    with pytest.raises(InvalidInput, match="not numbers .* no predict_proba") as words:
        explain(_register(Labeller(), frame, "words"), frame.head(3), background=frame.head(10), log=False)
    assert words.value.field == "model"
    with keel.start_run():
        keel.log_model(Doubler(), "m", input_example=frame.head(3).to_numpy(), registered_model_name="tensors")
    with pytest.raises(InvalidInput, match="takes tensors"):
        explain("models:/tensors/1", frame.head(3), log=False)


def test_bad_data_and_missing_shap(keel_home: Path, data: tuple[pd.DataFrame, pd.Series],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    frame, target = data
    uri = _register(LogisticRegression().fit(frame, target), frame, "lr")
    with pytest.raises(InvalidInput) as missing:
        explain(uri, frame.drop(columns=["b"]), log=False)
    assert missing.value.field == "b"
    with pytest.raises(InvalidInput, match="max_rows"):
        explain(uri, frame, max_rows=0)
    monkeypatch.setitem(sys.modules, "shap", None)  # as if the extra were not installed
    with pytest.raises(InvalidInput, match=r"keel-mlops\[explain\]"):
        explain(uri, frame, log=False)

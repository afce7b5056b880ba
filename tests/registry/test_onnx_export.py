"""export_onnx / load_onnx_flavor on both transports: parity, the new flavor of the same version, clear errors."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge

import keel
from keel.errors import InvalidInput, NotFound
from keel.registry.onnx_export import export_onnx, load_onnx_flavor
from keel.tracking.context import get_backend


class MeanModel:
    """A python-function model: predicts the mean it was built with."""

    def __init__(self, mean: float) -> None:
        self.mean = mean

    def predict(self, data: Any) -> np.ndarray[Any, Any]:
        return np.full(len(data), self.mean)


@pytest.fixture(scope="module")
def iris() -> tuple[LogisticRegression, pd.DataFrame]:
    data = load_iris(as_frame=True)
    return LogisticRegression(max_iter=500).fit(data.data, data.target), data.data


@pytest.fixture(scope="module")
def diabetes() -> tuple[Ridge, pd.DataFrame]:
    data = load_diabetes(as_frame=True)
    return Ridge(alpha=0.5).fit(data.data, data.target), data.data


def _register(model: Any, frame: pd.DataFrame | None, alias: str | None = "champion") -> str:
    name = f"onnx-{uuid.uuid4().hex[:8]}"
    with keel.start_run():
        keel.log_model(model, "model", input_example=None if frame is None else frame.head(5),
                       registered_model_name=name)
    if alias:
        keel.set_registered_model_alias(name, alias, 1)
    return name


def test_export_classifier_adds_onnx_flavor_to_same_version(
        sdk: str, iris: tuple[LogisticRegression, pd.DataFrame]) -> None:
    model, frame = iris
    name = _register(model, frame)
    result = export_onnx(f"models:/{name}@champion")
    assert (result.name, result.version) == (name, 1)
    assert 0.0 <= result.max_abs_diff < 1e-4 and result.opset > 0
    assert result.onnx_path.endswith("/model.onnx")
    loaded = keel.load_model(f"models:/{name}/1")
    flavors = loaded.mlmodel["flavors"]
    assert {"sklearn", "python_function", "onnx"} <= set(flavors)
    assert flavors["onnx"]["model_path"] == "model.onnx" and flavors["onnx"]["opset"] == result.opset
    assert flavors["onnx"]["keel_parity_max_abs_diff"] == pytest.approx(result.max_abs_diff)
    assert loaded.flavor.name == "sklearn"
    assert np.array_equal(loaded.predict(frame), model.predict(frame))


def test_export_sets_version_tags(sdk: str, iris: tuple[LogisticRegression, pd.DataFrame]) -> None:
    model, frame = iris
    name = _register(model, frame)
    result = export_onnx(f"models:/{name}@champion")
    tags = get_backend().registry.get_model_version(name, 1).tags
    assert tags["keel.onnx.opset"] == str(result.opset)
    assert float(tags["keel.onnx.max_abs_diff"]) == pytest.approx(result.max_abs_diff)


def test_onnx_flavor_predicts_native_labels(sdk: str, iris: tuple[LogisticRegression, pd.DataFrame]) -> None:
    model, frame = iris
    name = _register(model, frame)
    export_onnx(f"models:/{name}@champion", target_opset=17)
    onnx_model = load_onnx_flavor(f"models:/{name}@champion")
    assert onnx_model.flavor.name == "onnx"
    assert np.array_equal(onnx_model.predict(frame), model.predict(frame))
    with pytest.raises(InvalidInput, match="petal width"):
        onnx_model.predict(frame.drop(columns=["petal width (cm)"]))


def test_export_regressor_by_version_number(sdk: str, diabetes: tuple[Ridge, pd.DataFrame]) -> None:
    model, frame = diabetes
    name = _register(model, frame, alias=None)
    result = export_onnx(f"models:/{name}/1")
    assert result.version == 1 and result.max_abs_diff < 1e-2
    predicted = np.asarray(load_onnx_flavor(f"models:/{name}/1").predict(frame)).ravel()
    assert np.allclose(predicted, model.predict(frame), rtol=1e-4)


def test_export_refuses_when_parity_exceeds_tolerance(
        sdk: str, iris: tuple[LogisticRegression, pd.DataFrame]) -> None:
    model, frame = iris
    name = _register(model, frame)
    with pytest.raises(InvalidInput, match="differ by"):
        export_onnx(f"models:/{name}@champion", tolerance=0.0)
    assert "onnx" not in keel.load_model(f"models:/{name}@champion").mlmodel["flavors"]
    assert "keel.onnx.opset" not in get_backend().registry.get_model_version(name, 1).tags
    with pytest.raises(NotFound, match="no onnx flavor"):
        load_onnx_flavor(f"models:/{name}@champion")


def test_export_python_function_model_names_type(sdk: str) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    name = _register(MeanModel(2.0), frame)
    with pytest.raises(InvalidInput, match=r"MeanModel \(pyfunc flavor\).*supported: scikit-learn"):
        export_onnx(f"models:/{name}@champion")


def test_export_unknown_alias_or_model_is_not_found(
        sdk: str, iris: tuple[LogisticRegression, pd.DataFrame]) -> None:
    model, frame = iris
    name = _register(model, frame)
    with pytest.raises(NotFound):
        export_onnx(f"models:/{name}@nobody")
    with pytest.raises(NotFound):
        export_onnx(f"models:/{name}/9")
    with pytest.raises(NotFound):
        export_onnx(f"models:/missing-{uuid.uuid4().hex[:8]}@champion")


def test_export_needs_registered_version_and_example(
        sdk: str, iris: tuple[LogisticRegression, pd.DataFrame]) -> None:
    model, frame = iris
    with keel.start_run() as run:
        keel.log_model(model, "model", input_example=frame.head(3))
    with pytest.raises(InvalidInput, match="registered versions"):
        export_onnx(f"runs:/{run.run_id}/model")
    name = _register(model, None)
    with pytest.raises(InvalidInput, match="no input example"):
        export_onnx(f"models:/{name}@champion")


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
def test_export_boosters_with_onnxmltools(keel_home: object, framework: str) -> None:
    pytest.importorskip("onnxmltools")
    module = pytest.importorskip(framework)
    data = load_iris(as_frame=True)
    classifier = module.XGBClassifier if framework == "xgboost" else module.LGBMClassifier
    kwargs = {"verbose": -1} if framework == "lightgbm" else {}
    model = classifier(n_estimators=10, **kwargs).fit(data.data, data.target)
    name = _register(model, data.data)
    result = export_onnx(f"models:/{name}@champion")
    assert result.max_abs_diff < 1e-4
    labels = load_onnx_flavor(f"models:/{name}@champion").predict(data.data)
    assert np.array_equal(np.asarray(labels).ravel(), model.predict(data.data))

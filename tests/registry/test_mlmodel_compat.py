"""MLmodel compatibility with the real MLflow client, both ways."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from keel.errors import InvalidInput, NotFound
from keel.registry.flavors import FrameworkVersionWarning, SklearnFlavor
from keel.registry.model_files import load_model, save_model
from keel.registry.signature import Signature

mlflow = pytest.importorskip("mlflow")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")


@pytest.fixture(autouse=True)
def _allow_pickles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")


def _fitted() -> tuple[Any, pd.DataFrame]:
    from sklearn.datasets import load_iris
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    frame, target = load_iris(return_X_y=True, as_frame=True)
    return make_pipeline(StandardScaler(), SVC()).fit(frame, target), frame


def test_mlflow_pyfunc_loads_a_keel_sklearn_model(tmp_path: Path) -> None:
    import mlflow.pyfunc
    import mlflow.sklearn
    from mlflow.models import Model

    model, frame = _fitted()
    info = save_model(model, tmp_path / "model", input_example=frame.head(3))
    pyfunc = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    np.testing.assert_array_equal(np.asarray(pyfunc.predict(frame)), model.predict(frame))
    assert type(mlflow.sklearn.load_model(str(tmp_path / "model"))) is type(model)
    meta = Model.load(str(tmp_path / "model" / "MLmodel"))
    assert info.signature is not None and meta.signature.to_dict() == info.signature.to_dict()
    example = meta.load_input_example(str(tmp_path / "model"))
    assert isinstance(example, pd.DataFrame) and example.equals(frame.head(3))


@pytest.mark.parametrize("serialization_format", ["cloudpickle", "skops"])
def test_keel_loads_an_mlflow_sklearn_model(serialization_format: str, tmp_path: Path) -> None:
    import mlflow.sklearn

    if serialization_format == "skops":
        pytest.importorskip("skops")
    model, frame = _fitted()
    mlflow.sklearn.save_model(model, str(tmp_path / "model"), serialization_format=serialization_format,
                              input_example=frame.head(3), pip_requirements=["scikit-learn"])
    loaded = load_model(tmp_path / "model")
    assert loaded.flavor.name == "sklearn"
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    assert loaded.signature is not None and loaded.signature.inputs.names == list(frame.columns)
    with pytest.raises(InvalidInput) as caught:
        loaded.predict(frame.drop(columns=["sepal width (cm)"]))
    assert caught.value.field == "sepal width (cm)"


def test_keel_loads_an_mlflow_sklearn_model_with_default_serialization(tmp_path: Path) -> None:
    import mlflow.sklearn

    model, frame = _fitted()
    mlflow.sklearn.save_model(model, str(tmp_path / "model"), pip_requirements=["scikit-learn"])
    np.testing.assert_array_equal(load_model(tmp_path / "model").predict(frame), model.predict(frame))


def test_mlflow_pyfunc_loads_keel_skops_and_xgboost_models(tmp_path: Path) -> None:
    import mlflow.pyfunc

    pytest.importorskip("skops")
    xgboost = pytest.importorskip("xgboost")
    model, frame = _fitted()
    save_model(model, tmp_path / "skops", flavor=SklearnFlavor("skops"))
    booster = xgboost.XGBRegressor(n_estimators=4).fit(frame, frame["petal width (cm)"])
    save_model(booster, tmp_path / "xgb", input_example=frame.head(2))
    skops_model = mlflow.pyfunc.load_model(str(tmp_path / "skops"))
    np.testing.assert_array_equal(np.asarray(skops_model.predict(frame)), model.predict(frame))
    xgb_model = mlflow.pyfunc.load_model(str(tmp_path / "xgb"))
    np.testing.assert_allclose(np.asarray(xgb_model.predict(frame)), booster.predict(frame), rtol=1e-6)


class Doubler:
    def predict(self, data: pd.DataFrame) -> np.ndarray:
        return np.asarray(data, dtype=float).sum(axis=1) * 2


def test_mlflow_pyfunc_loads_a_keel_python_function_model(tmp_path: Path) -> None:
    import mlflow.pyfunc

    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    save_model(Doubler(), tmp_path / "model", input_example=frame)
    assert mlflow.pyfunc.load_model(str(tmp_path / "model")).predict(frame).tolist() == [8.0, 12.0]


def test_keel_loads_an_mlflow_python_model(tmp_path: Path) -> None:
    import mlflow.pyfunc
    from mlflow.pyfunc import PythonModel

    class AddOne(PythonModel):
        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
            return model_input["x"] + 1

    frame = pd.DataFrame({"x": [1.0, 2.0]})
    mlflow.pyfunc.save_model(str(tmp_path / "model"), python_model=AddOne(), input_example=frame,
                            pip_requirements=["pandas"])
    loaded = load_model(tmp_path / "model")
    assert loaded.flavor.name == "mlflow_pyfunc"
    assert list(loaded.predict(frame)) == [2.0, 3.0]


def test_sklearn_version_mismatch_warns_or_fails_when_strict(tmp_path: Path) -> None:
    model, frame = _fitted()
    save_model(model, tmp_path / "model")
    mlmodel = (tmp_path / "model" / "MLmodel").read_text()
    (tmp_path / "model" / "MLmodel").write_text(mlmodel.replace("sklearn_version:", "sklearn_version: 0.24.2 #"))
    with pytest.warns(FrameworkVersionWarning, match="0.24.2"):
        load_model(tmp_path / "model")
    with pytest.raises(InvalidInput) as caught:
        load_model(tmp_path / "model", strict=True)
    assert caught.value.field == "scikit-learn_version"
    with warnings.catch_warnings():
        warnings.simplefilter("error", FrameworkVersionWarning)
        save_model(model, tmp_path / "fresh")
        load_model(tmp_path / "fresh")


def test_load_model_reports_missing_and_foreign_directories(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        load_model(tmp_path / "nowhere")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "MLmodel").write_text("flavors:\n  spark: {}\n")
    with pytest.raises(InvalidInput) as caught:
        load_model(tmp_path / "odd")
    assert "spark" in caught.value.message


def test_explicit_signature_is_stored_verbatim(tmp_path: Path) -> None:
    model, frame = _fitted()
    signature = Signature.from_dict({"inputs": '[{"type": "double", "name": "sepal length (cm)", "required": '
                                               'true}]', "outputs": None, "params": None})
    info = save_model(model, tmp_path / "model", signature=signature, input_example=frame.head(2))
    assert info.signature == signature
    assert load_model(tmp_path / "model").signature == signature

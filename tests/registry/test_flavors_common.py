"""One round-trip test over every flavor (scikit-learn's common-test idea), plus the missing-framework test."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from keel.errors import AlreadyExists, InvalidInput
from keel.registry.flavors import FLAVORS, Flavor, SklearnFlavor, flavor_for
from keel.registry.model_files import load_model, save_model


def _iris() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_iris

    frame, target = load_iris(return_X_y=True, as_frame=True)
    return frame, target.to_numpy()


def _regression() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    features = rng.normal(size=(60, 4)).astype(np.float32)
    return features, features @ np.array([1.5, -2.0, 0.5, 3.0], dtype=np.float32) + 0.25


class ScaledMean:
    """A user-written python-function model defined in this (non-installed) test module."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        return np.asarray(data, dtype=float).mean(axis=1) * self.factor


try:
    import torch
except ImportError:  # the torch cases skip
    torch = None  # type: ignore[assignment]
else:

    class VarArgsNet(torch.nn.Module):
        """``*inputs`` in ``forward``: TorchScript cannot compile it, so the flavor falls back to the state dict."""

        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)

        def forward(self, *inputs: Any) -> Any:
            return self.linear(inputs[0])


@dataclass
class Case:
    """A fitted model of one flavor, data to predict on, and the flavor expected to be chosen."""

    flavor: str
    model: Any
    data: Any
    chosen: Flavor | None = None


def _sklearn() -> Case:
    from sklearn.linear_model import LogisticRegression

    frame, target = _iris()
    return Case("sklearn", LogisticRegression(max_iter=500).fit(frame, target), frame)


def _sklearn_skops() -> Case:
    pytest.importorskip("skops")
    from sklearn.ensemble import RandomForestRegressor

    features, target = _regression()
    model = RandomForestRegressor(n_estimators=5, random_state=0).fit(features, target)
    return Case("sklearn", model, features, SklearnFlavor("skops", trusted_types=["sklearn.tree._tree.Tree"]))


def _xgboost() -> Case:
    xgboost = pytest.importorskip("xgboost")
    frame, target = _iris()
    return Case("xgboost", xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(frame, target), frame)


def _xgboost_booster() -> Case:
    xgboost = pytest.importorskip("xgboost")
    features, target = _regression()
    booster = xgboost.train({"max_depth": 2}, xgboost.DMatrix(features, label=target), num_boost_round=5)
    return Case("xgboost", booster, features)


def _lightgbm() -> Case:
    lightgbm = pytest.importorskip("lightgbm")
    frame, target = _iris()
    model = lightgbm.LGBMClassifier(n_estimators=5, min_child_samples=5, verbose=-1).fit(frame, target)
    return Case("lightgbm", model, frame)


def _torch_script() -> Case:
    pytest.importorskip("torch")
    torch.manual_seed(0)
    features, _ = _regression()
    return Case("torch", torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)),
                features)


def _torch_state_dict() -> Case:
    pytest.importorskip("torch")
    features, _ = _regression()
    torch.manual_seed(1)
    return Case("torch", VarArgsNet(), features)


def _onnx() -> Case:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LinearRegression

    features, target = _regression()
    fitted = LinearRegression().fit(features, target)
    graph = skl2onnx.convert_sklearn(fitted, initial_types=[("x", FloatTensorType([None, 4]))], target_opset=17)
    return Case("onnx", graph, features)


def _pyfunc() -> Case:
    frame, _ = _iris()
    return Case("pyfunc", ScaledMean(2.5), frame)


CASES: dict[str, Callable[[], Case]] = {
    "sklearn": _sklearn, "sklearn-skops": _sklearn_skops, "xgboost": _xgboost, "xgboost-booster": _xgboost_booster,
    "lightgbm": _lightgbm, "torch-script": _torch_script, "torch-state-dict": _torch_state_dict, "onnx": _onnx,
    "pyfunc": _pyfunc,
}


def _reference(case: Case) -> np.ndarray:
    """Predictions from the in-memory model, straight through the flavor (no save)."""
    flavor = case.chosen or FLAVORS[case.flavor]
    return np.asarray(flavor.predict(case.model, case.data))


def test_every_flavor_has_a_round_trip_case() -> None:
    assert set(FLAVORS) <= {key.split("-")[0] for key in CASES}


@pytest.mark.parametrize("key", list(CASES))
def test_flavor_round_trip(key: str, tmp_path: Path) -> None:
    case = CASES[key]()
    expected = _reference(case)
    example = case.data[:5]
    info = save_model(case.model, tmp_path / "model", flavor=case.chosen, input_example=example)

    assert info.flavor == case.flavor
    assert flavor_for(case.model).name == case.flavor
    mlmodel = yaml.safe_load((tmp_path / "model" / "MLmodel").read_text())
    assert case.flavor in mlmodel["flavors"] and "python_function" in mlmodel["flavors"]
    assert mlmodel["keel"]["flavor"] == case.flavor
    requirements = (tmp_path / "model" / "requirements.txt").read_text().split()
    assert requirements and all("==" in line for line in requirements)

    loaded = load_model(tmp_path / "model")
    assert loaded.flavor.name == case.flavor
    assert loaded.signature is not None and loaded.signature.outputs is not None
    np.testing.assert_allclose(np.asarray(loaded.predict(case.data)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(loaded.predict(loaded.input_example())), expected[:5], rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("flavor", list(FLAVORS.values()), ids=list(FLAVORS))
def test_flavor_without_framework_names_the_extra(flavor: Flavor, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for module in {flavor.module, "onnxruntime" if flavor.name == "onnx" else flavor.module}:
        monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(InvalidInput) as caught:
        flavor.load(tmp_path, {"data": "missing"})
    assert f"pip install 'keel-mlops[{flavor.extra}]'" in caught.value.message
    assert caught.value.field == "flavor"


def test_pyfunc_code_travels_with_the_model(tmp_path: Path) -> None:
    save_model(ScaledMean(4.0), tmp_path / "model", input_example=pd.DataFrame({"a": [1.0], "b": [3.0]}))
    script = textwrap.dedent(f"""
        import importlib.util
        assert importlib.util.find_spec("test_flavors_common") is None
        from keel.registry.model_files import load_model
        print(load_model({str(tmp_path / 'model')!r}).predict({{"a": [1.0, 2.0], "b": [3.0, 4.0]}}).tolist())
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[8.0, 12.0]"


def test_save_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "keep.txt").write_text("x")
    with pytest.raises(AlreadyExists):
        save_model(ScaledMean(1.0), tmp_path / "model")
    assert [p.name for p in (tmp_path / "model").iterdir()] == ["keep.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model.tmp")]


def test_predict_names_the_missing_column(tmp_path: Path) -> None:
    case = _sklearn()
    save_model(case.model, tmp_path / "model", input_example=case.data.head(3))
    loaded = load_model(tmp_path / "model")
    with pytest.raises(InvalidInput) as caught:
        loaded.predict(case.data.drop(columns=["petal width (cm)"]))
    assert caught.value.field == "petal width (cm)"


def test_skops_refuses_untrusted_types_unless_listed(tmp_path: Path) -> None:
    pytest.importorskip("skops")
    case = _sklearn_skops()
    with pytest.raises(InvalidInput) as caught:
        save_model(case.model, tmp_path / "model", flavor=SklearnFlavor("skops"))
    assert caught.value.field == "trusted_types" and "sklearn.tree._tree.Tree" in caught.value.message
    assert not (tmp_path / "model").exists()


def test_code_paths_are_copied_and_importable_on_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    source = tmp_path / "src"
    source.mkdir()
    (source / "keel_code_path_demo.py").write_text("def triple(x):\n    return x * 3\n")
    monkeypatch.syspath_prepend(str(source))
    import keel_code_path_demo

    features, target = _regression()
    model = make_pipeline(FunctionTransformer(keel_code_path_demo.triple), LinearRegression()).fit(features, target)
    save_model(model, tmp_path / "model", code_paths=[source / "keel_code_path_demo.py"])
    assert (tmp_path / "model" / "code" / "keel_code_path_demo.py").is_file()
    script = textwrap.dedent(f"""
        import importlib.util
        assert importlib.util.find_spec("keel_code_path_demo") is None
        import numpy as np
        from keel.registry.model_files import load_model
        print(repr(float(load_model({str(tmp_path / 'model')!r}).predict(np.array([[1.0, 2.0, 3.0, 4.0]]))[0])))
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path / "model", capture_output=True, text=True,
                            check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    expected = model.predict(np.array([[1.0, 2.0, 3.0, 4.0]]))[0]
    assert float(result.stdout.strip()) == pytest.approx(expected, rel=1e-9)


def test_flavor_lookup_and_registration() -> None:
    from keel.registry.flavors import PyfuncFlavor, get_flavor, register_flavor

    with pytest.raises(InvalidInput) as unknown:
        get_flavor("spark")
    assert "sklearn" in unknown.value.message
    with pytest.raises(InvalidInput):
        flavor_for(object())

    class Tagged(PyfuncFlavor):
        name = "tagged"

        def can_handle(self, model: Any) -> bool:
            return isinstance(model, ScaledMean)

    try:
        register_flavor(Tagged())
        assert list(FLAVORS)[-2:] == ["tagged", "pyfunc"]
        assert flavor_for(ScaledMean(1.0)).name == "tagged"
    finally:
        FLAVORS.pop("tagged")
    assert flavor_for(ScaledMean(1.0)).name == "pyfunc"


def test_save_without_a_predictable_example_keeps_the_input_schema(tmp_path: Path) -> None:
    class Broken:
        def predict(self, data: Any) -> Any:
            raise RuntimeError("boom")

    with pytest.warns(UserWarning, match="boom"):
        info = save_model(Broken(), tmp_path / "model", input_example=pd.DataFrame({"a": [1.0]}))
    assert info.signature is not None and info.signature.outputs is None
    assert info.signature.inputs.names == ["a"]

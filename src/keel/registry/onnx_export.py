"""ONNX export: convert a registered version, check parity, and store the graph as a new flavor of that version.

``export_onnx("models:/iris@champion")`` loads the version, converts the native model (scikit-learn estimators and
pipelines with skl2onnx; XGBoost and LightGBM with onnxmltools) to a graph taking one float tensor of the
signature's columns, runs both on the stored input example, and refuses when they disagree: class labels must be
equal, and probabilities or regression outputs within a tolerance. Otherwise ``model.onnx`` is written next to the
native files, the version's ``MLmodel`` gains an ``onnx`` section (MLflow's keys plus the parity result), and the
version is tagged ``keel.onnx.max_abs_diff`` and ``keel.onnx.opset``. The native flavor stays the one
``keel.load_model`` uses; :func:`load_onnx_flavor` loads the ONNX one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from keel.errors import InvalidInput, KeelError, NotFound
from keel.registry.entities import ModelVersion
from keel.registry.flavors import OnnxFlavor
from keel.registry.flavors.base import import_framework, pinned
from keel.registry.fluent import download_model_dir, load_model, resolve_model_uri
from keel.registry.model_files import MLMODEL, LoadedModel, read_mlmodel
from keel.registry.signature import Signature, TensorSpec, enforce
from keel.registry.uris import parse_model_uri
from keel.tracking.context import Backend, get_backend

__all__ = ["DEFAULT_TOLERANCE", "OnnxExportResult", "export_onnx", "load_onnx_flavor"]

#: Largest accepted difference between native and ONNX probabilities (regression outputs: relative above 1).
DEFAULT_TOLERANCE = 1e-4
_FILE = "model.onnx"
_INPUT = "input"
_PROVIDERS = ["CPUExecutionProvider"]
_SUPPORTED = "scikit-learn estimators and pipelines (skl2onnx), XGBoost and LightGBM models (onnxmltools)"
_HOW = "log the model with input_example=... (a DataFrame or 2-D array of numeric features) and register it again"


@dataclass(frozen=True)
class OnnxExportResult:
    """What :func:`export_onnx` stored: which version, how close ONNX came to native, and where the graph is."""

    name: str
    version: int
    max_abs_diff: float
    opset: int
    onnx_path: str


def export_onnx(model_uri: str, *, target_opset: int | None = None,
                tolerance: float = DEFAULT_TOLERANCE) -> OnnxExportResult:
    """Convert ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` to ONNX and store it as a flavor of that version.

    Raises :class:`InvalidInput` when the model's framework cannot be converted, when it has no usable input
    example, or when ONNX and native predictions differ (labels, or more than ``tolerance``; regression outputs
    larger than 1 are compared relative to their size, since ONNX computes in float32).
    """
    backend = get_backend()
    version = _registered_version(backend, model_uri)
    exact = f"models:/{version.name}/{version.version}"
    location = resolve_model_uri(exact, backend)
    loaded = load_model(exact)
    example = _example(loaded, model_uri)
    features = _features(loaded.signature, example, model_uri)
    graph, converter = _convert(loaded, features.shape[1], target_opset)
    diff = _parity(loaded, _run(graph, features), example, tolerance, model_uri)
    opset = _opset(graph)
    section = _section(graph, converter, opset, diff, tolerance)
    _put(backend, location, _FILE, graph.SerializeToString())
    _put(backend, location, MLMODEL, _with_flavor(loaded.mlmodel, section))
    backend.registry.set_model_version_tag(version.name, version.version, "keel.onnx.max_abs_diff", repr(diff))
    backend.registry.set_model_version_tag(version.name, version.version, "keel.onnx.opset", str(opset))
    return OnnxExportResult(version.name, int(version.version), diff, opset, f"{location}/{_FILE}")


def load_onnx_flavor(model_uri: str) -> LoadedModel:
    """Load the ``onnx`` flavor of a model (any model URI) as a :class:`LoadedModel` run by onnxruntime."""
    backend = get_backend()
    location = resolve_model_uri(model_uri, backend)
    root = Path(location) if Path(location).is_dir() else download_model_dir(backend, location, model_uri)
    mlmodel = read_mlmodel(root)
    config = (mlmodel["flavors"] or {}).get("onnx")
    if not config:
        raise NotFound(f"model {model_uri!r} has no onnx flavor; export it first with "
                       f"keel.registry.onnx_export.export_onnx({model_uri!r}) or keel models export-onnx")
    flavor = OnnxFlavor()
    raw = mlmodel.get("signature")
    signature = Signature.from_dict(raw) if raw and raw.get("inputs") else None
    return LoadedModel(flavor, flavor.load(root, dict(config)), signature, dict(mlmodel.get("metadata") or {}),
                       root, mlmodel)


# ------------------------------------------------------------------------------------------------- the version


def _registered_version(backend: Backend, model_uri: str) -> ModelVersion:
    parsed = parse_model_uri(model_uri)
    if parsed.kind == "alias":
        version: ModelVersion = backend.registry.get_model_version_by_alias(parsed.name, parsed.alias)
        return version
    if parsed.kind == "version":
        version = backend.registry.get_model_version(parsed.name, parsed.version)
        return version
    raise InvalidInput(f"model URI {model_uri!r}: ONNX export works on registered versions; use "
                       "models:/NAME@ALIAS or models:/NAME/VERSION (register the model first)", field="model_uri")


def _example(loaded: LoadedModel, model_uri: str) -> Any:
    example = loaded.input_example()
    if example is None:
        raise InvalidInput(f"model {model_uri!r} stores no input example to check ONNX parity on; {_HOW}",
                           field="input_example")
    if isinstance(example, dict):
        raise InvalidInput(f"model {model_uri!r} takes several named tensors; ONNX export supports one table or "
                           "2-D array of numeric features", field="input_example")
    return enforce(loaded.signature, example)


def _features(signature: Signature | None, example: Any, model_uri: str) -> np.ndarray[Any, Any]:
    """The example as the float32 matrix the graph takes (columns in the signature's order)."""
    if isinstance(example, pd.DataFrame):
        text = list(example.select_dtypes(exclude=["number", "bool"]).columns)
        if text:
            raise InvalidInput(f"model {model_uri!r}: ONNX export takes numeric features only; non-numeric "
                               f"columns: {text}", field="input_example")
    matrix = np.asarray(example, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] != _width(signature, matrix):
        raise InvalidInput(f"model {model_uri!r}: ONNX export needs a 2-D input example matching the signature; "
                           f"got shape {matrix.shape}; {_HOW}", field="input_example")
    return matrix


def _width(signature: Signature | None, matrix: np.ndarray[Any, Any]) -> int:
    """The number of features the signature declares (the example's width when there is no signature)."""
    if signature is None or matrix.ndim != 2:
        return int(matrix.shape[-1])
    specs = signature.inputs.specs
    if isinstance(specs[0], TensorSpec):
        return int(specs[0].shape[-1]) if specs[0].shape and specs[0].shape[-1] > 0 else int(matrix.shape[1])
    return len(specs)


# -------------------------------------------------------------------------------------------------- conversion


def _convert(loaded: LoadedModel, n_features: int, target_opset: int | None) -> tuple[Any, str]:
    """The ONNX ``ModelProto`` and the converter (``skl2onnx==x.y``) that made it."""
    converter = _CONVERTERS.get(loaded.flavor.name)
    if converter is None:
        raise InvalidInput(f"cannot export a {_type_name(loaded.model)} ({loaded.flavor.name} flavor) to ONNX; "
                           f"supported: {_SUPPORTED}", field="model_uri")
    convert, package = converter
    try:
        return convert(loaded.model, n_features, target_opset), pinned(package)
    except KeelError:
        raise
    except Exception as exc:  # converters raise many types for models they do not know
        raise InvalidInput(f"cannot convert a {_type_name(loaded.model)} to ONNX with {package}: {exc}; "
                           f"supported: {_SUPPORTED}", field="model_uri") from exc


def _from_sklearn(model: Any, n_features: int, target_opset: int | None) -> Any:
    skl2onnx = import_framework("skl2onnx", "onnx")
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.base import is_classifier

    options = {"zipmap": False} if is_classifier(model) else None
    return skl2onnx.convert_sklearn(model, initial_types=[(_INPUT, FloatTensorType([None, n_features]))],
                                    target_opset=target_opset, options=options)


def _from_xgboost(model: Any, n_features: int, target_opset: int | None) -> Any:
    onnxmltools = import_framework("onnxmltools", "onnx")
    from onnxmltools.convert.common.data_types import FloatTensorType

    return onnxmltools.convert_xgboost(_unnamed(model), initial_types=[(_INPUT, FloatTensorType([None, n_features]))],
                                       target_opset=target_opset)


def _unnamed(model: Any) -> Any:
    """A copy whose booster forgets its feature names (onnxmltools reads only ``f0, f1, ...``)."""
    clone = copy.deepcopy(model)
    booster = clone.get_booster() if hasattr(clone, "get_booster") else clone
    booster.feature_names = None
    return clone


def _from_lightgbm(model: Any, n_features: int, target_opset: int | None) -> Any:
    onnxmltools = import_framework("onnxmltools", "onnx")
    from onnxmltools.convert.common.data_types import FloatTensorType

    booster = getattr(model, "booster", model)  # a loaded classifier wraps its booster
    return onnxmltools.convert_lightgbm(booster, initial_types=[(_INPUT, FloatTensorType([None, n_features]))],
                                        target_opset=target_opset, zipmap=False)


_CONVERTERS: dict[str, tuple[Callable[[Any, int, int | None], Any], str]] = {
    "sklearn": (_from_sklearn, "skl2onnx"),
    "xgboost": (_from_xgboost, "onnxmltools"),
    "lightgbm": (_from_lightgbm, "onnxmltools"),
}


def _type_name(model: Any) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def _opset(graph: Any) -> int:
    """The default-domain (``ai.onnx``) opset the graph imports; the highest one when it uses only ML operators."""
    versions = {o.domain: int(o.version) for o in graph.opset_import}
    return versions.get("", versions.get("ai.onnx", max(versions.values(), default=0)))


# ------------------------------------------------------------------------------------------------------ parity


def _parity(loaded: LoadedModel, outputs: list[Any], example: Any, tolerance: float, model_uri: str) -> float:
    """Max absolute difference between native and ONNX outputs on the example; raise when they disagree."""
    native = np.asarray(loaded.predict(example))
    if len(outputs) == 1:
        diff = _max_abs(native, outputs[0], model_uri)
        allowed = tolerance * max(1.0, float(np.max(np.abs(native.astype(np.float64)), initial=0.0)))
        return _within(diff, allowed, "regression outputs", model_uri)
    _same_labels(native, outputs[0], model_uri)
    proba = getattr(loaded.model, "predict_proba", None)
    if not callable(proba):
        return 0.0
    diff = _max_abs(np.asarray(proba(example)), outputs[1], model_uri)
    return _within(diff, tolerance, "class probabilities", model_uri)


def _run(graph: Any, features: np.ndarray[Any, Any]) -> list[Any]:
    runtime = import_framework("onnxruntime", "onnx")
    session = runtime.InferenceSession(graph.SerializeToString(), providers=_PROVIDERS)
    return list(session.run(None, {session.get_inputs()[0].name: features}))


def _max_abs(native: np.ndarray[Any, Any], onnx: Any, model_uri: str) -> float:
    expected, actual = native.astype(np.float64).ravel(), np.asarray(onnx, dtype=np.float64).ravel()
    if expected.shape != actual.shape:
        raise InvalidInput(f"model {model_uri!r}: ONNX output has {actual.size} values where the native model "
                           f"gives {expected.size}; the model cannot be exported faithfully", field="model_uri")
    return float(np.max(np.abs(expected - actual), initial=0.0))


def _same_labels(native: np.ndarray[Any, Any], onnx: Any, model_uri: str) -> None:
    expected, actual = native.ravel(), np.asarray(onnx).ravel()
    wrong = expected.size if expected.shape != actual.shape else int(np.sum(expected != actual))
    if wrong:
        raise InvalidInput(f"model {model_uri!r}: ONNX predicts a different class than the native model on "
                           f"{wrong} of {expected.size} example rows; not exported", field="model_uri")


def _within(diff: float, allowed: float, what: str, model_uri: str) -> float:
    if not np.isfinite(diff) or diff > allowed:
        raise InvalidInput(f"model {model_uri!r}: ONNX and native {what} differ by {diff:.3g} (max abs) on the "
                           f"input example, more than the tolerance {allowed:.3g}; not exported", field="tolerance")
    return diff


# ------------------------------------------------------------------------------------------------------- store


def _section(graph: Any, converter: str, opset: int, diff: float, tolerance: float) -> dict[str, Any]:
    """The ``onnx`` flavor section: MLflow's keys (``data``, ``onnx_version``, ``providers``) plus Keel's."""
    onnx = import_framework("onnx", "onnx")
    return {"code": None, "data": _FILE, "model_path": _FILE, "onnx_version": onnx.__version__, "opset": opset,
            "providers": list(_PROVIDERS), "converter": converter, "input_name": graph.graph.input[0].name,
            "keel_parity_max_abs_diff": diff, "keel_parity_tolerance": tolerance}


def _with_flavor(mlmodel: dict[str, Any], section: dict[str, Any]) -> bytes:
    updated = {**mlmodel, "flavors": {**mlmodel["flavors"], "onnx": section}}
    return yaml.safe_dump(updated, default_flow_style=False, sort_keys=True).encode()


def _put(backend: Backend, location: str, name: str, data: bytes) -> None:
    """Write one file of the model directory: in the artifact store, or in place for a local directory."""
    if Path(location).is_dir():
        (Path(location) / name).write_bytes(data)
    else:
        backend.artifacts.put_bytes(f"{location}/{name}", data)

"""Model directories: save a model with its flavor, signature, example and environment; load it back.

A saved model is a directory laid out as MLflow lays it out::

    MLmodel                   YAML: flavors (the framework's section + python_function), signature, keel metadata
    model.pkl | model.json …  the flavor's files
    requirements.txt          pinned pip requirements
    python_env.yaml           python version + build dependencies, as MLflow writes it
    conda.yaml                the same for conda
    input_example.json        MLflow's split format ({"columns": [...], "data": [...]}) or {"inputs": ...}
    serving_input_example.json
    code/                     files given as code_paths, put on sys.path when loading

scikit-learn models get MLflow's own ``sklearn`` and ``python_function`` sections, so ``mlflow.pyfunc.load_model``
loads them without Keel; other flavors point MLflow's ``python_function`` loader at this module. In the other
direction :func:`load_model` reads directories written by ``mlflow.sklearn.save_model`` and, when MLflow is
installed, delegates other MLflow python-function models to it.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import shutil
import sys
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from keel.errors import AlreadyExists, InvalidInput, NotFound
from keel.registry.flavors import Flavor, flavor_for, get_flavor
from keel.registry.flavors.base import import_framework, pinned
from keel.registry.signature import Signature, TensorSpec, enforce, infer_schema

__all__ = ["MLMODEL", "LoadedModel", "ModelInfo", "load_model", "read_mlmodel", "save_model"]

MLMODEL = "MLmodel"
_EXAMPLE = "input_example.json"
_SERVING_EXAMPLE = "serving_input_example.json"
_CODE = "code"


@dataclass(frozen=True)
class ModelInfo:
    """What :func:`save_model` wrote."""

    path: Path
    flavor: str
    model_uuid: str
    signature: Signature | None
    requirements: list[str]
    utc_time_created: str
    mlmodel: dict[str, Any] = field(repr=False)


@dataclass
class LoadedModel:
    """A model read from a directory: ``predict`` checks the input against the signature, then calls the flavor."""

    flavor: Flavor
    model: Any
    signature: Signature | None
    metadata: dict[str, Any]
    path: Path
    mlmodel: dict[str, Any] = field(repr=False)

    def predict(self, data: Any) -> Any:
        """Enforce the signature on ``data`` (raising :class:`InvalidInput` naming a bad column) and predict."""
        return self.flavor.predict(self.model, enforce(self.signature, data))

    def input_example(self) -> Any:
        """The stored input example (a DataFrame, array or dict of arrays, typed as the signature says), or ``None``.

        JSON keeps no dtypes, so tensors are cast back to the signature's (a float32 example reads as float64).
        """
        example = read_input_example(self.path, self.mlmodel)
        if example is None or self.signature is None or not self.signature.inputs.is_tensor:
            return example
        specs = [s for s in self.signature.inputs.specs if isinstance(s, TensorSpec)]
        if isinstance(example, dict):
            return {s.name: np.asarray(example[s.name]).astype(s.dtype) for s in specs if s.name in example}
        return np.asarray(example).astype(specs[0].dtype)


# ------------------------------------------------------------------------------------------------------------ save


def save_model(model: Any, path: str | Path, *, flavor: str | Flavor | None = None, input_example: Any = None,
               signature: Signature | None = None, pip_requirements: Sequence[str] | None = None,
               code_paths: Sequence[str | Path] | None = None, metadata: dict[str, Any] | None = None) -> ModelInfo:
    """Save ``model`` into the new directory ``path`` and describe it in an MLflow-compatible ``MLmodel``.

    The flavor is picked from the model's type unless given (by name or as a configured :class:`Flavor`). Without a
    ``signature``, one is inferred from ``input_example`` (inputs, and outputs from predicting on it).
    """
    target = Path(path)
    if target.exists() and any(target.iterdir()):
        raise AlreadyExists(f"model directory {str(target)!r} exists and is not empty; choose a new path",
                            field="path")
    chosen = _resolve_flavor(model, flavor)
    example = _normalise_example(input_example)
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        info = _write(model, staging, target, chosen, example, signature, pip_requirements, code_paths, metadata)
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return info


def _resolve_flavor(model: Any, flavor: str | Flavor | None) -> Flavor:
    if flavor is None:
        return flavor_for(model)
    chosen = get_flavor(flavor) if isinstance(flavor, str) else flavor
    if not chosen.can_handle(model):
        raise InvalidInput(f"the {chosen.name} flavor cannot save a {type(model).__qualname__}", field="flavor")
    return chosen


def _write(model: Any, staging: Path, target: Path, flavor: Flavor, example: Any, signature: Signature | None,
           pip_requirements: Sequence[str] | None, code_paths: Sequence[str | Path] | None,
           metadata: dict[str, Any] | None) -> ModelInfo:
    config = flavor.save(model, staging)
    code = _copy_code(code_paths, staging)
    config.setdefault("code", code)
    if signature is None and example is not None:
        signature = _infer(flavor, staging, config, example)
    requirements = _requirements(flavor, config, pip_requirements)
    _write_environment(staging, requirements)
    created = str(datetime.now(UTC).replace(tzinfo=None))
    mlmodel = _mlmodel(flavor, config, code, signature, created, metadata)
    if example is not None:
        mlmodel["saved_input_example_info"] = _write_example(staging, example)
    mlmodel["model_size_bytes"] = sum(f.stat().st_size for f in staging.rglob("*") if f.is_file())
    (staging / MLMODEL).write_text(yaml.safe_dump(mlmodel, default_flow_style=False, sort_keys=True))
    return ModelInfo(target, flavor.name, mlmodel["model_uuid"], signature, requirements, created, mlmodel)


def _mlmodel(flavor: Flavor, config: dict[str, Any], code: str | None, signature: Signature | None,
             created: str, metadata: dict[str, Any] | None) -> dict[str, Any]:
    python_function = {
        **flavor.python_function(config),
        "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
        "python_version": platform.python_version(),
    }
    if code:
        python_function["code"] = code
    return {
        "flavors": {"python_function": python_function, flavor.name: _plain(config)},
        "keel": {"flavor": flavor.name, "keel_version": _keel_version()},
        "metadata": metadata,
        "mlflow_version": None,
        "model_uuid": uuid.uuid4().hex,
        "signature": signature.to_dict() if signature is not None else None,
        "utc_time_created": created,
    }


def _infer(flavor: Flavor, staging: Path, config: dict[str, Any], example: Any) -> Signature:
    inputs = infer_schema(example)
    try:
        output = flavor.predict(flavor.load(staging, config), example)
        return Signature(inputs, infer_schema(np.asarray(output) if isinstance(output, list) else output))
    except Exception as exc:  # a model that cannot predict on its example still saves, without output schema
        warnings.warn(f"could not infer the output signature by predicting on the input example: {exc}",
                      UserWarning, stacklevel=4)
        return Signature(inputs)


def _copy_code(code_paths: Sequence[str | Path] | None, staging: Path) -> str | None:
    if not code_paths:
        return None
    for source in map(Path, code_paths):
        if not source.exists():
            raise NotFound(f"code path {str(source)!r} does not exist", field="code_paths")
        destination = staging / _CODE / source.name
        destination.parent.mkdir(exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, destination)
    return _CODE


def _requirements(flavor: Flavor, config: dict[str, Any], extra: Sequence[str] | None) -> list[str]:
    wanted = [*flavor.requirements(), *(extra or [])]
    if flavor.python_function(config)["loader_module"].startswith("keel."):
        wanted.insert(0, pinned("keel-mlops"))
    return list(dict.fromkeys(wanted))


def _write_environment(staging: Path, requirements: list[str]) -> None:
    (staging / "requirements.txt").write_text("\n".join(requirements) + "\n")
    python_env = {"python": platform.python_version(),
                  "build_dependencies": [pinned("pip"), pinned("setuptools"), "wheel"],
                  "dependencies": ["-r requirements.txt"]}
    (staging / "python_env.yaml").write_text(yaml.safe_dump(python_env, sort_keys=False))
    conda = {"channels": ["conda-forge"], "name": "keel-env",
             "dependencies": [f"python={platform.python_version()}", "pip", {"pip": requirements}]}
    (staging / "conda.yaml").write_text(yaml.safe_dump(conda, sort_keys=False))


def _normalise_example(example: Any) -> Any:
    if isinstance(example, pd.Series):
        return example.to_frame()
    if isinstance(example, list) and example and all(isinstance(row, dict) for row in example):
        return pd.DataFrame(example)
    if isinstance(example, list | tuple):
        return np.asarray(example)
    return example


def _write_example(staging: Path, example: Any) -> dict[str, Any]:
    if isinstance(example, pd.DataFrame):
        split = json.loads(example.to_json(orient="split", index=False, date_format="iso"))
        (staging / _EXAMPLE).write_text(json.dumps(split))
        (staging / _SERVING_EXAMPLE).write_text(json.dumps({"dataframe_split": split}, indent=2))
        return {"artifact_path": _EXAMPLE, "serving_input_path": _SERVING_EXAMPLE, "type": "dataframe",
                "pandas_orient": "split"}
    if isinstance(example, dict):
        inputs: Any = {k: np.asarray(v).tolist() for k, v in example.items()}
    elif isinstance(example, np.ndarray):
        inputs = example.tolist()
    else:
        raise InvalidInput(f"cannot store an input example of type {type(example).__name__}",
                           field="input_example")
    (staging / _EXAMPLE).write_text(json.dumps({"inputs": inputs}))
    (staging / _SERVING_EXAMPLE).write_text(json.dumps({"inputs": inputs}, indent=2))
    return {"artifact_path": _EXAMPLE, "serving_input_path": _SERVING_EXAMPLE, "type": "ndarray",
            "format": "tf-serving"}


# ------------------------------------------------------------------------------------------------------------ load


def read_mlmodel(path: str | Path) -> dict[str, Any]:
    """The parsed ``MLmodel`` file of a model directory."""
    file = Path(path) / MLMODEL
    if not file.is_file():
        raise NotFound(f"no model at {str(path)!r}: {MLMODEL} file not found", field="path")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{file} is not valid YAML: {exc}", field="path") from exc
    if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
        raise InvalidInput(f"{file} has no flavors section", field="path")
    return data


def load_model(path: str | Path, *, strict: bool = False) -> LoadedModel:
    """Load a model directory written by Keel or by MLflow (sklearn, or any python-function model via MLflow).

    ``strict=True`` makes a framework version mismatch an error instead of a warning.
    """
    root = Path(path)
    mlmodel = read_mlmodel(root)
    flavor, config = _flavor_of(mlmodel)
    code = config.get("code") or mlmodel["flavors"].get("python_function", {}).get("code")
    if code and str(root / code) not in sys.path:
        sys.path.insert(0, str(root / code))
    loaded = flavor.load(root, config, strict=strict)
    raw_signature = mlmodel.get("signature")
    signature = Signature.from_dict(raw_signature) if raw_signature and raw_signature.get("inputs") else None
    return LoadedModel(flavor, loaded, signature, dict(mlmodel.get("metadata") or {}), root, mlmodel)


def _flavor_of(mlmodel: dict[str, Any]) -> tuple[Flavor, dict[str, Any]]:
    flavors: dict[str, Any] = mlmodel["flavors"]
    keel = mlmodel.get("keel") or {}
    if keel.get("flavor"):
        return get_flavor(str(keel["flavor"])), dict(flavors.get(keel["flavor"]) or {})
    if "sklearn" in flavors:
        return get_flavor("sklearn"), dict(flavors["sklearn"] or {})
    if "python_function" in flavors:
        return MlflowPyfunc(), {}
    raise InvalidInput(f"cannot load a model with flavors {sorted(flavors)}; Keel reads its own models, "
                       "MLflow sklearn models and (with mlflow installed) MLflow python_function models",
                       field="flavor")


class MlflowPyfunc(Flavor):
    """Loads a foreign MLflow ``python_function`` model by delegating to ``mlflow.pyfunc`` (never saves)."""

    name = "mlflow_pyfunc"
    extra = "mlflow"
    module = "mlflow.pyfunc"
    packages = ("mlflow-skinny",)

    def can_handle(self, model: Any) -> bool:
        """Never chosen for saving."""
        return False

    def save(self, model: Any, path: Path) -> dict[str, Any]:
        """Not supported: save with a Keel flavor instead."""
        raise InvalidInput("mlflow_pyfunc is for loading MLflow models only", field="flavor")

    def load(self, path: Path, config: dict[str, Any], *, strict: bool = False) -> Any:
        """``mlflow.pyfunc.load_model(path)``."""
        pyfunc = import_framework(self.module, self.extra)
        return pyfunc.load_model(str(path))


def read_input_example(path: Path, mlmodel: dict[str, Any]) -> Any:
    """Read back the input example a model directory stores, or ``None``."""
    info = mlmodel.get("saved_input_example_info") or {}
    file = path / str(info.get("artifact_path", _EXAMPLE))
    if not info or not file.is_file():
        return None
    data = json.loads(file.read_text())
    if info.get("type") == "dataframe":
        return pd.DataFrame(data["data"], columns=data["columns"])
    inputs = data.get("inputs", data)
    return {k: np.asarray(v) for k, v in inputs.items()} if isinstance(inputs, dict) else np.asarray(inputs)


def _plain(config: dict[str, Any]) -> dict[str, Any]:
    """The config as plain YAML-safe types (JSON round trip)."""
    return dict(json.loads(json.dumps(config, default=str)))


def _keel_version() -> str | None:
    try:
        return importlib.metadata.version("keel-mlops")
    except importlib.metadata.PackageNotFoundError:
        return None


def _load_pyfunc(data_path: str) -> LoadedModel:
    """MLflow's ``python_function`` loader hook: ``mlflow.pyfunc.load_model`` calls this for Keel models."""
    return load_model(Path(data_path))

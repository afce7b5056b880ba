"""The model SDK: ``keel.log_model``, ``keel.load_model``, ``keel.register_model`` and aliases.

Models are saved as MLflow-compatible directories (:mod:`keel.registry.model_files`) into the run's artifacts,
registered as numbered versions, and loaded back from ``runs:/``, ``models:/name/version`` or
``models:/name@alias`` URIs over either transport (local store or ``keel server``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keel.errors import AlreadyExists, InvalidInput, NotFound
from keel.registry.entities import ModelVersion
from keel.registry.model_files import LoadedModel, save_model
from keel.registry.model_files import load_model as load_model_dir
from keel.registry.signature import Signature
from keel.registry.uris import parse_model_uri
from keel.tracking.context import Backend, get_backend
from keel.tracking.fluent import active_run, start_run

__all__ = ["LoggedModelInfo", "download_model_dir", "load_model", "log_model", "register_model", "resolve_model_uri",
           "set_registered_model_alias"]

_MLFLOW_ARTIFACTS = "mlflow-artifacts:/"


@dataclass(frozen=True)
class LoggedModelInfo:
    """What :func:`log_model` stored: where, with which flavor and signature, and the registered version."""

    model_uri: str
    run_id: str
    artifact_path: str
    flavor: str
    signature: Signature | None
    registered_model_version: ModelVersion | None = None


def log_model(model: Any, name: str, input_example: Any = None, signature: Signature | None = None,
              registered_model_name: str | None = None, *, flavor: str | None = None,
              pip_requirements: list[str] | None = None, code_paths: list[str] | None = None,
              features: list[str] | None = None) -> LoggedModelInfo:
    """Save ``model`` into the active run's artifacts under ``name``, and register it if asked.

    ``features`` (``["view:feature", ...]``, in the model's input column order) declares what the model reads from
    the feature store: ``keel serve`` then accepts entity keys and fetches them, and an apply that would remove or
    retype one of them is refused while a registered version declares it.
    """
    from keel.features.model_features import FEATURES_KEY, check_feature_refs

    declared = check_feature_refs(features) if features is not None else None
    run = active_run() or start_run()
    backend = get_backend()
    with tempfile.TemporaryDirectory(prefix="keel-model-") as tmp:
        info = save_model(model, Path(tmp) / "model", flavor=flavor, input_example=input_example,
                          signature=signature, pip_requirements=pip_requirements, code_paths=code_paths,
                          metadata={FEATURES_KEY: declared} if declared else None)
        target = f"{run.info.artifact_uri}/{name.strip('/')}"
        backend.artifacts.put_dir(target, info.path)
    uri = f"runs:/{run.run_id}/{name.strip('/')}"
    version = None
    if registered_model_name:
        sig = json.dumps(info.signature.to_dict()) if info.signature is not None else None
        tags = {FEATURES_KEY: json.dumps(declared)} if declared else None
        version = register_model(uri, registered_model_name, signature=sig, tags=tags)
    return LoggedModelInfo(uri, run.run_id, name, info.flavor, info.signature, version)


def register_model(model_uri: str, name: str, *, signature: str | None = None,
                   tags: dict[str, str] | None = None) -> ModelVersion:
    """Register ``model_uri`` as the next version of ``name`` (created if missing)."""
    parsed = parse_model_uri(model_uri)
    registry = get_backend().registry
    with contextlib.suppress(AlreadyExists):
        registry.create_registered_model(name)
    version: ModelVersion = registry.create_model_version(name, model_uri, run_id=parsed.run_id, tags=tags,
                                                          signature=signature)
    return version


def set_registered_model_alias(name: str, alias: str, version: int | str) -> None:
    """Point ``alias`` (e.g. ``champion``) at a version."""
    get_backend().registry.set_registered_model_alias(name, alias, version)


def resolve_model_uri(model_uri: str, backend: Backend | None = None) -> str:
    """The logical artifact path (or local directory) a model URI points at."""
    parsed = parse_model_uri(model_uri)
    if parsed.kind == "path":
        if not Path(model_uri).is_dir():
            raise NotFound(f"model {model_uri!r}: no such directory (or use runs:/ or models:/ URIs)")
        return model_uri
    backend = backend or get_backend()
    if parsed.kind == "runs":
        run = backend.tracking.get_run(parsed.run_id or "")
        return f"{run.info.artifact_uri}/{parsed.path}"
    if parsed.kind == "logged":
        raise InvalidInput(f"model URI {model_uri!r}: load MLflow logged models through a registered version "
                           "(models:/<name>/<version>)", field="model_uri")
    registry = backend.registry
    if parsed.kind == "alias":
        mv = registry.get_model_version_by_alias(parsed.name, parsed.alias)
    else:
        mv = registry.get_model_version(parsed.name, parsed.version)
    source = str(registry.get_model_version_download_uri(mv.name, mv.version))
    if source.startswith(_MLFLOW_ARTIFACTS):
        return source[len(_MLFLOW_ARTIFACTS):]
    if source.startswith("runs:/"):
        return resolve_model_uri(source, backend)
    return source


def load_model(model_uri: str, *, strict: bool = False) -> LoadedModel:
    """Load a model from ``runs:/``, ``models:/name/version``, ``models:/name@alias`` or a local directory."""
    if parse_model_uri(model_uri).kind == "path":  # a local directory needs no store
        return load_model_dir(resolve_model_uri(model_uri, None), strict=strict)
    backend = get_backend()
    location = resolve_model_uri(model_uri, backend)
    if Path(location).is_dir():
        return load_model_dir(location, strict=strict)
    return load_model_dir(download_model_dir(backend, location, model_uri), strict=strict)


def download_model_dir(backend: Backend, location: str, model_uri: str) -> Path:
    """Fetch the model's files into the cache: one folder per location and ``MLmodel`` content, so a changed model
    (an ONNX export adds a flavor in place) gets a new folder while a process still loading the old one keeps it.

    A copy arrives by one atomic rename, so a folder with an ``MLmodel`` is complete. Another process (a second
    ``keel serve`` worker) may finish the same download first: its copy is used and this one dropped, never
    deleted from under a reader. Older copies of the location are removed once they are a few minutes old.
    """
    root = Path(backend.settings.home) / "cache" / "models"
    root.mkdir(parents=True, exist_ok=True)
    key = hashlib.blake2b(location.encode(), digest_size=10).hexdigest()
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=root))
    try:
        backend.artifacts.get_dir(location, staging)
        if not (staging / "MLmodel").is_file():
            raise NotFound(f"model {model_uri!r}: no MLmodel file at {location}")
        content = hashlib.blake2b((staging / "MLmodel").read_bytes(), digest_size=6).hexdigest()
        target = root / f"{key}-{content}"
        if not (target / "MLmodel").is_file():
            try:
                os.replace(staging, target)
            except OSError:
                if not (target / "MLmodel").is_file():  # not another process's finished copy: a stray folder
                    shutil.rmtree(target, ignore_errors=True)
                    os.replace(staging, target)
        _drop_old_copies(root, key, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


_OLD_COPY_S = 600.0


def _drop_old_copies(root: Path, key: str, keep: Path) -> None:
    """Remove the location's other cached copies that are older than any load still reading them could be."""
    cutoff = time.time() - _OLD_COPY_S
    for folder in root.glob(f"{key}*"):
        if folder != keep and folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)

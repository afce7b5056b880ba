"""Pipeline parameters (from the call or ``-p KEY=VALUE``, then ``keel.yaml``, then defaults) and loading a pipeline
from ``FILE.py:NAME``."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import sys
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from keel.errors import InvalidInput, NotFound
from keel.pipelines.steps import Pipeline

__all__ = ["bind_params", "load_pipeline", "parse_cli_params"]


def parse_cli_params(items: Sequence[str]) -> dict[str, str]:
    """``["lr=0.1", "name=x"]`` as a dict of strings; InvalidInput naming a malformed one."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"parameter {item!r} is not KEY=VALUE", field="params")
        out[key.strip()] = value
    return out


def bind_params(pipeline: Pipeline, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter of the pipeline: given (strings are parsed by the annotation), else ``keel.yaml``'s
    ``pipelines: {NAME: {params: {...}}}``, else the default; InvalidInput naming a missing or unknown one."""
    accepted = pipeline.signature.parameters
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise InvalidInput(f"pipeline {pipeline.name!r} has no parameter {unknown[0]!r}; it takes "
                           f"{', '.join(accepted) or 'none'}", field=unknown[0])
    configured = _yaml_params(pipeline.name)
    hints = _hints(pipeline)
    bound: dict[str, Any] = {}
    for name, param in accepted.items():
        if name in given:
            value = given[name]
            bound[name] = _parse(value, hints.get(name), name) if isinstance(value, str) else value
        elif name in configured:
            bound[name] = configured[name]
        elif param.default is not inspect.Parameter.empty:
            bound[name] = param.default
        else:
            raise InvalidInput(f"pipeline {pipeline.name!r} needs parameter {name!r}: pass -p {name}=VALUE (or set it "
                               f"in keel.yaml under pipelines: {pipeline.name}: params:)", field=name)
    return bound


def _hints(pipeline: Pipeline) -> dict[str, Any]:
    try:
        return typing.get_type_hints(pipeline.fn)
    except Exception:  # unresolvable annotations: parse values as JSON or keep them as text
        return {}


def _parse(text: str, hint: Any, name: str) -> Any:
    try:
        if hint is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if hint in (int, float):
            return hint(text)
        if hint is str:
            return text
        try:
            return json.loads(text)
        except ValueError:
            return text
    except ValueError as exc:
        kind = getattr(hint, "__name__", str(hint))
        raise InvalidInput(f"parameter {name}={text!r} is not a valid {kind} ({exc})", field=name) from exc


def _yaml_params(pipeline: str) -> dict[str, Any]:
    from keel.config import config_file

    section = (config_file().get("pipelines") or {}).get(pipeline) or {}
    params = section.get("params") if isinstance(section, dict) else None
    return dict(params) if isinstance(params, dict) else {}


def load_pipeline(ref: str) -> Pipeline:
    """Import ``FILE.py`` (as a module named after its path, so worker processes resolve its functions) and return
    its pipeline ``NAME``; ``FILE.py`` alone works when the file defines exactly one pipeline."""
    file_part, _, name = ref.partition(":")
    path = Path(file_part)
    if not path.is_file():
        raise NotFound(f"pipeline file {file_part!r} does not exist; give FILE.py:PIPELINE", field="pipeline")
    # named after the file's path and content: an edited file loads afresh, an unchanged one is reused
    identity = str(path.resolve()).encode() + b"\0" + path.read_bytes()
    module_name = f"keel_pipeline_{path.stem}_{hashlib.blake2b(identity, digest_size=6).hexdigest()}"
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, path.resolve())
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        sys.path.insert(0, str(path.resolve().parent))
        try:
            spec.loader.exec_module(module)
        except SyntaxError as exc:
            del sys.modules[module_name]
            raise InvalidInput(f"{path}: line {exc.lineno}: {exc.msg}", field="pipeline") from exc
        except Exception:
            del sys.modules[module_name]
            raise
    found = {n: v for n, v in vars(module).items() if isinstance(v, Pipeline)}
    if not name:
        if len(found) != 1:
            raise InvalidInput(f"{path} defines {len(found)} pipelines ({', '.join(found) or 'none'}); give "
                               f"{file_part}:NAME", field="pipeline")
        return next(iter(found.values()))
    if name not in found:
        raise NotFound(f"{path} has no pipeline {name!r} (a function decorated with @keel.pipeline); it has "
                       f"{', '.join(found) or 'none'}", field="pipeline")
    return found[name]

"""Pointer files: ``NAME.keel.yaml`` beside the data, so a git commit pins the dataset version it was made with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from keel.artifacts import check_path
from keel.artifacts.storage import local_errors
from keel.data.entities import POINTER_SUFFIX, DatasetVersion, check_dataset_name, is_pointer
from keel.errors import InvalidInput, NotFound

__all__ = ["Pointer", "is_pointer", "read_pointer", "write_pointer"]

_FIELDS = ("name", "version", "number", "hash", "path")


@dataclass(frozen=True)
class Pointer:
    """What a pointer file says: dataset name, version id and number, manifest hash, data path (relative)."""

    name: str
    version: str
    number: int
    hash: str
    path: str


def pointer_path(data_path: Path, name: str) -> Path:
    """Where the pointer for ``data_path`` goes: ``NAME.keel.yaml`` in the directory holding the data."""
    return data_path.absolute().parent / f"{name}{POINTER_SUFFIX}"


def write_pointer(data_path: Path, version: DatasetVersion) -> Path:
    """Write (or refresh) the pointer file for ``version`` beside ``data_path``; return its path."""
    target = pointer_path(data_path, version.name)
    body = {"name": version.name, "version": version.id, "number": version.number,
            "hash": version.manifest_digest, "path": version.path}
    text = "# Keel dataset pointer: commit this file; `keel data checkout` it to restore the data.\n"
    with local_errors(target):
        target.write_text(text + yaml.safe_dump(body, sort_keys=False))
    return target


def read_pointer(path: Path) -> Pointer:
    """Parse a pointer file; NotFound if missing, InvalidInput naming the field that is wrong."""
    if not path.is_file():
        raise NotFound(f"pointer file {str(path)!r} does not exist", field="pointer")
    with local_errors(path):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"{path}: not a text file ({exc.reason} at byte {exc.start}); restore it from git",
                               field="pointer") from exc
    try:
        body = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML {_yaml_problem(exc)}; fix that line or restore the file from git",
                           field="pointer") from exc
    if not isinstance(body, dict) or any(key not in body for key in _FIELDS):
        raise InvalidInput(f"{path}: a pointer needs the fields {', '.join(_FIELDS)}", field="pointer")
    try:
        return Pointer(check_dataset_name(str(body["name"])), str(body["version"]), int(body["number"]),
                       str(body["hash"]), check_path(str(body["path"])))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{path}: field 'number' must be an integer ({exc})", field="pointer") from exc


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one phrase: ``at line L, column C: <problem>`` (1-based, as editors count)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"at line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return "(" + where + " ".join(str(problem).split()) + ")"

"""What the run page shows: params, metrics, tags, inputs, output model versions and the artifact tree."""

from __future__ import annotations

import mimetypes
import posixpath
from dataclasses import dataclass
from typing import Any

from keel.errors import InvalidInput
from keel.registry.repository import RegistryRepository
from keel.tracking.entities import Run
from keel.tracking.repository import TrackingRepository

__all__ = ["PREVIEW_LIMIT", "Preview", "artifact_children", "artifact_preview", "run_details"]

PREVIEW_LIMIT = 2 * 1024 * 1024
TEXT_TYPES = {".txt", ".log", ".md", ".csv", ".tsv", ".yaml", ".yml", ".py", ".toml", ".cfg", ".ini", ".json",
              ".jsonl", ".xml", ".mlmodel", ".mlproject", ""}
IMAGE_TYPES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}
_SYSTEM_TAG_PREFIXES = ("mlflow.", "keel.")


def run_details(tracking: TrackingRepository, registry: RegistryRepository, run_id: str) -> dict[str, Any]:
    """Everything the run page renders, as plain data."""
    run = tracking.get_run(run_id)
    experiment = tracking.get_experiment(run.info.experiment_id)
    versions, _ = registry.search_model_versions(f"run_id = '{_quote(run_id)}'", max_results=100)
    return {"run": run, "experiment": experiment,
            "params": sorted(run.params.items()),
            "metrics": sorted(run.metrics.values(), key=lambda m: m.key),
            "tags": sorted((k, v) for k, v in run.tags.items() if not k.startswith(_SYSTEM_TAG_PREFIXES)),
            "system_tags": sorted((k, v) for k, v in run.tags.items() if k.startswith(_SYSTEM_TAG_PREFIXES)),
            "inputs": [_input(d) for d in run.inputs],
            "outputs": [{"name": v.name, "version": v.version, "aliases": v.aliases} for v in versions],
            "parent": run.tags.get("mlflow.parentRunId"),
            "duration": _duration(run)}


def _quote(value: str) -> str:
    return value.replace("'", "''")


def _duration(run: Run) -> float | None:
    if run.info.end_time and run.info.start_time:
        return (run.info.end_time - run.info.start_time) / 1000
    return None


def _input(dataset: Any) -> dict[str, Any]:
    name = dataset.name
    dataset_name = name.split("@", 1)[0]
    return {"name": name, "dataset": dataset_name, "digest": dataset.digest, "source": dataset.source or "",
            "source_type": dataset.source_type or "", "context": dataset.context or ""}


def _root(run: Run, path: str) -> str:
    clean = posixpath.normpath("/" + (path or "")).lstrip("/")
    if clean.startswith("..") or ".." in clean.split("/"):
        raise InvalidInput(f"path: {path!r} leaves the run's artifacts; give a path inside them", field="path")
    return posixpath.join(run.info.artifact_uri, clean) if clean else run.info.artifact_uri


def artifact_children(tracking: TrackingRepository, artifacts: Any, run_id: str,
                      path: str = "") -> list[dict[str, Any]]:
    """The files and folders directly under ``path`` in the run's artifacts."""
    run = tracking.get_run(run_id)
    base = run.info.artifact_uri.rstrip("/") + "/"
    out = []
    for info in artifacts.list(_root(run, path)):
        rel = info.path.removeprefix(base) if info.path.startswith(base) else posixpath.basename(info.path)
        out.append({"path": rel, "name": posixpath.basename(rel.rstrip("/")), "is_dir": info.is_dir,
                    "size": None if info.is_dir else info.file_size})
    return sorted(out, key=lambda e: (not e["is_dir"], e["name"]))


@dataclass(frozen=True)
class Preview:
    """How a file previews inline: ``kind`` is text/json/image/html/none, with its bytes and media type."""

    kind: str
    media_type: str
    data: bytes
    size: int


def artifact_preview(tracking: TrackingRepository, artifacts: Any, run_id: str, path: str) -> Preview:
    """The file's content for an inline preview (``kind="none"`` above :data:`PREVIEW_LIMIT` or for binaries)."""
    run = tracking.get_run(run_id)
    full = _root(run, path)
    info = artifacts.stat(full)
    if info.is_dir:
        raise InvalidInput(f"path: {path!r} is a folder; pick a file to preview", field="path")
    ext = posixpath.splitext(path)[1].lower()
    media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    kind = ("json" if ext in {".json", ".jsonl"} else "html" if ext in {".html", ".htm"} else
            "image" if ext in IMAGE_TYPES else "text" if ext in TEXT_TYPES or media_type.startswith("text/") else
            "none")
    if kind == "none" or (info.file_size or 0) > PREVIEW_LIMIT:
        return Preview("none", media_type, b"", info.file_size or 0)
    data = artifacts.get_bytes(full)
    if kind in {"text", "json"} and b"\x00" in data[:4096]:
        return Preview("none", media_type, b"", len(data))
    return Preview(kind, media_type, data, len(data))

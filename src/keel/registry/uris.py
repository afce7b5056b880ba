"""Model URIs, parsed without I/O: ``runs:/<run>/<path>``, ``models:/<name>/<version>``, ``models:/<name>@<alias>``,
``models:/m-<id>`` (an MLflow 3 logged model) and local directories."""

from __future__ import annotations

import re
from dataclasses import dataclass

from keel.errors import InvalidInput

__all__ = ["ModelUri", "parse_model_uri"]

_RUN = re.compile(r"^runs:/(?P<run>[a-zA-Z0-9][\w\-]{0,255})/(?P<path>.+)$")
_ALIAS = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[A-Za-z][\w\-]*)$")
_VERSION = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>[1-9]\d*)$")
_LOGGED = re.compile(r"^models:/(?P<model_id>m-[0-9a-f]{32})$")
_HELP = "use runs:/<run_id>/<path>, models:/<name>/<version>, models:/<name>@<alias> or a local directory"


@dataclass(frozen=True, slots=True)
class ModelUri:
    """A parsed model URI; ``kind`` is one of runs, version, alias, logged, path."""

    kind: str
    run_id: str | None = None
    path: str | None = None
    name: str | None = None
    version: int | None = None
    alias: str | None = None
    model_id: str | None = None


def parse_model_uri(uri: str) -> ModelUri:
    """Parse a model URI or raise :class:`InvalidInput` saying which forms exist."""
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidInput(f"model URI: empty; {_HELP}", field="model_uri")
    if uri.startswith("runs:"):
        m = _RUN.match(uri)
        if m is None:
            raise InvalidInput(f"model URI {uri!r}: expected runs:/<run_id>/<path>", field="model_uri")
        return ModelUri("runs", run_id=m["run"], path=m["path"].strip("/"))
    if uri.startswith("models:"):
        for pattern, kind in ((_ALIAS, "alias"), (_VERSION, "version"), (_LOGGED, "logged")):
            m = pattern.match(uri)
            if m is not None:
                groups = m.groupdict()
                version = int(groups["version"]) if "version" in groups else None
                return ModelUri(kind, name=groups.get("name"), version=version, alias=groups.get("alias"),
                                model_id=groups.get("model_id"))
        raise InvalidInput(f"model URI {uri!r}: expected models:/<name>/<version> or models:/<name>@<alias>",
                           field="model_uri")
    if "://" in uri or uri.startswith(("mlflow-artifacts:", "s3:", "gs:")):
        raise InvalidInput(f"model URI {uri!r}: unsupported scheme; {_HELP}", field="model_uri")
    return ModelUri("path", path=uri)

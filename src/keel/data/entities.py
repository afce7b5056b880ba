"""Dataset versions as values, and the ``NAME@vN`` / ``NAME@<id>`` / ``NAME`` reference grammar."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from keel.errors import InvalidInput

__all__ = ["POINTER_SUFFIX", "TABLE_SUFFIXES", "VERSION_COLUMNS", "DatasetVersion", "check_dataset_name",
           "is_pointer", "parse_ref", "version_from_row"]

POINTER_SUFFIX = ".keel.yaml"  # NAME.keel.yaml: the pointer file `keel data add` writes beside the data

TABLE_SUFFIXES: Mapping[str, str] = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv",
                                      ".jsonl": "jsonl", ".ndjson": "jsonl"}
"""File suffix -> tabular format: a snapshot whose files all share one of these formats is a table. Kept here, free
of pyarrow, so that recognising a table costs no import."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")  # NAME.keel.yaml must fit a file name
_NUMBER = re.compile(r"v(\d+)")
_ID = re.compile(r"[0-9a-f]{4,32}")


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable version of a dataset: its files (by manifest digest), provenance and, for tables, stats."""

    id: str
    name: str
    number: int
    parent_id: str | None
    message: str
    author: str
    created_at: int
    kind: str
    path: str
    source: str | None
    manifest_digest: str
    file_count: int
    size_bytes: int
    row_count: int | None = None
    schema: list[dict[str, Any]] | None = None
    stats: dict[str, dict[str, Any]] | None = None

    @property
    def ref(self) -> str:
        """``NAME@vN``."""
        return f"{self.name}@v{self.number}"


VERSION_COLUMNS = tuple(f.name for f in fields(DatasetVersion))
"""The ``dataset_versions`` columns a :class:`DatasetVersion` is read from (same names, same order)."""


def version_from_row(row: Mapping[Any, Any]) -> DatasetVersion:
    """A version from its ``dataset_versions`` row (schema and stats stored as JSON text)."""
    values = {name: row[name] for name in VERSION_COLUMNS}
    for name in ("schema", "stats"):
        values[name] = json.loads(values[name]) if values[name] else None
    return DatasetVersion(**values)


def check_dataset_name(name: str) -> str:
    """Return ``name`` if it is a valid dataset name, else raise InvalidInput naming the rule."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(f"dataset name {name!r} is invalid: use letters, digits, '.', '_' or '-' (at most 200, "
                           "not starting with a symbol)", field="name")
    return name


def is_pointer(ref: str) -> bool:
    """Whether ``ref`` names a pointer file rather than a ``NAME@v`` reference."""
    return ref.endswith(POINTER_SUFFIX)


def parse_ref(ref: str) -> tuple[str, int | None, str | None]:
    """``NAME`` → (name, None, None), latest; ``NAME@v3`` → (name, 3, None); ``NAME@<hex id>`` → (name, None, id)."""
    name, sep, selector = ref.partition("@") if isinstance(ref, str) else ("", "", "")
    check_dataset_name(name)
    if not sep:
        return name, None, None
    if match := _NUMBER.fullmatch(selector):
        return name, int(match.group(1)), None
    if _ID.fullmatch(selector):
        return name, None, selector
    raise InvalidInput(f"dataset reference {ref!r}: after '@' give a version number like 'v3' or a version id",
                       field="ref")

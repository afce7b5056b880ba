"""What changed between two dataset versions, as values: files, schema, row count and column statistics.

Pure comparisons over what a version already records (its manifest, schema and stats); the row-level diff by key
reads the data and lives in :mod:`keel.data.changed_rows`, and :func:`keel.data.diff_run.diff` puts them together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["DatasetDiff", "FileChanges", "RowChanges", "SchemaChanges", "StatDelta", "diff_files", "diff_schema",
           "diff_stats"]

STAT_KEYS = ("null_count", "min", "max", "mean", "distinct_estimate")


@dataclass(frozen=True)
class FileChanges:
    """Relative paths added, removed, and present in both with different content."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SchemaChanges:
    """Columns added and removed (``(name, type)``), and columns whose type changed (``(name, old, new)``)."""

    added: list[tuple[str, str]] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)
    type_changed: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class StatDelta:
    """One recorded statistic of one column that differs; ``delta`` is ``new - old`` when both are numbers."""

    column: str
    stat: str
    old: Any
    new: Any
    delta: float | None


@dataclass(frozen=True)
class RowChanges:
    """Rows by key: how many were added, removed, or kept their key with other values; up to 5 example keys each."""

    key: str
    added: int
    removed: int
    changed: int
    added_examples: list[Any] = field(default_factory=list)
    removed_examples: list[Any] = field(default_factory=list)
    changed_examples: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class DatasetDiff:
    """From version ``old`` to version ``new`` (refs ``NAME@vN``). Table parts are ``None`` unless both are tables."""

    old: str
    new: str
    files: FileChanges
    old_rows: int | None = None
    new_rows: int | None = None
    schema: SchemaChanges | None = None
    stats: list[StatDelta] = field(default_factory=list)
    rows: RowChanges | None = None

    @property
    def identical(self) -> bool:
        """Whether both versions hold the same bytes."""
        f = self.files
        return not (f.added or f.removed or f.changed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def diff_files(old: Mapping[str, tuple[str, int]], new: Mapping[str, tuple[str, int]]) -> FileChanges:
    """Compare two manifests (relative path → (digest, size))."""
    return FileChanges(added=sorted(new.keys() - old.keys()), removed=sorted(old.keys() - new.keys()),
                       changed=sorted(p for p in old.keys() & new.keys() if old[p][0] != new[p][0]))


def diff_schema(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> SchemaChanges:
    """Compare two recorded schemas (lists of ``{"name", "type"}``), keeping the new schema's column order."""
    before, after = {c["name"]: str(c["type"]) for c in old}, {c["name"]: str(c["type"]) for c in new}
    return SchemaChanges(added=[(n, t) for n, t in after.items() if n not in before],
                         removed=[(n, t) for n, t in before.items() if n not in after],
                         type_changed=[(n, before[n], t) for n, t in after.items() if n in before and before[n] != t])


def diff_stats(old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]) -> list[StatDelta]:
    """Every recorded statistic that differs, for columns present in both versions (new column order)."""
    deltas = []
    for column, after in new.items():
        before = old.get(column)
        if before is None:
            continue
        for stat in STAT_KEYS:
            a, b = before.get(stat), after.get(stat)
            if a != b:
                deltas.append(StatDelta(column, stat, a, b, _delta(a, b)))
    return deltas


def _delta(old: Any, new: Any) -> float | None:
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (old, new))
    return float(new - old) if numbers else None

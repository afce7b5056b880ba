"""Facts learned about a source's content, kept across processes: whether its event times are unique per entity key.

When they are, the point-in-time join compares plain BIGINT times instead of a HUGEINT (time, row order) key, which
is a third faster. A fact is keyed by the content's identity (a dataset version id, or every file's path, size and
modification time), so changed content is simply unknown again and the join takes the exact, slower path.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path

__all__ = ["file_identity", "lookup_unique_times", "remember_unique_times"]

_lock = threading.Lock()


def _path() -> Path:
    from keel.tracking.context import get_backend

    return Path(get_backend().settings.home) / "state" / "feature_sources.json"


def _key(identity: str, keys: Sequence[str], timestamp_field: str) -> str:
    return f"{identity}|{','.join(keys)}|{timestamp_field}"


def file_identity(paths: Sequence[str]) -> str | None:
    """``files:`` + each local file's path, size and mtime; None when one is not a local file."""
    parts = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            return None
        parts.append(f"{path}:{st.st_size}:{st.st_mtime_ns}")
    return "files:" + ";".join(parts)


def lookup_unique_times(identity: str | None, keys: Sequence[str], timestamp_field: str) -> bool:
    """True only when this exact content is known to have no two rows with the same key and time."""
    if identity is None:
        return False
    try:
        facts = json.loads(_path().read_text())
    except (OSError, ValueError):
        return False
    return facts.get(_key(identity, keys, timestamp_field)) is True


def remember_unique_times(identity: str | None, keys: Sequence[str], timestamp_field: str, unique: bool) -> None:
    """Record the fact (atomic rewrite of a small JSON file; the newest 1,000 facts are kept)."""
    if identity is None:
        return
    path = _path()
    with _lock:
        try:
            facts = json.loads(path.read_text())
        except (OSError, ValueError):
            facts = {}
        facts.pop(_key(identity, keys, timestamp_field), None)
        facts[_key(identity, keys, timestamp_field)] = unique
        facts = dict(list(facts.items())[-1000:])
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps(facts))
        tmp.replace(path)

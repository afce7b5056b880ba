"""The dataset-version store on SQLite and PostgreSQL: numbering, parents, lookups by number and id prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from keel.data.versions_sql import SqlDatasetStore
from keel.errors import NotFound
from keel.store import open_database


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> SqlDatasetStore:
    url = f"sqlite:///{tmp_path / 'keel.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    return SqlDatasetStore(open_database(url), "p1")


def _fields(name: str, digest: str) -> dict[str, Any]:
    return {"name": name, "message": "m", "author": "ann", "kind": "file", "path": "a.csv", "source": None,
            "manifest_digest": digest, "file_count": 1, "size_bytes": 10, "row_count": 2,
            "schema": [{"name": "a", "type": "int64", "nullable": True}], "stats": {"a": {"min": 1}}}


def test_versions_are_numbered_and_chained(store: SqlDatasetStore) -> None:
    assert store.latest("d") is None
    v1 = store.create(_fields("d", "a" * 64))
    v2 = store.create(_fields("d", "b" * 64))
    other = store.create(_fields("e", "c" * 64))
    assert (v1.number, v2.number, other.number) == (1, 2, 1)
    assert v2.parent_id == v1.id and v1.parent_id is None
    assert [v.number for v in store.list("d")] == [2, 1]
    assert store.get("d") == v2 and store.get("d", 1) == v1 and store.get("d", version_id=v1.id[:5]) == v1
    assert store.get("d", 1).stats == {"a": {"min": 1}}
    with pytest.raises(NotFound):
        store.get("d", version_id=other.id)
    assert SqlDatasetStore(store.db, "another-project").latest("d") is None

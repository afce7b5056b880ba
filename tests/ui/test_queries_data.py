"""The Data page's queries over a store filled through the SDK: datasets, versions with validation verdicts, the
diff between two versions and the stored validation reports."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import keel.data
from keel.artifacts import BlobStore
from keel.errors import NotFound
from keel.local_store import local_database
from keel.tracking.context import get_backend
from keel.ui import queries_data as q


def test_datasets_versions_diff_and_reports(keel_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pd.DataFrame({"id": [1, 2, 3], "x": [1.0, 2.0, 3.0]}).to_parquet(path, index=False)
    v1 = keel.data.add(path, "tbl", message="first")
    pd.DataFrame({"id": [1, 2, 3, 4], "x": [1.0, 2.0, 3.0, 9.0], "y": ["a", "b", "c", "d"]}).to_parquet(path,
                                                                                                     index=False)
    v2 = keel.data.add(path, "tbl", message="second")
    keel.data.add(path, "other")
    result = keel.data.validate(path, keel.data.Suite.model_validate({"name": "s", "checks": [
        {"check": "not_null", "column": "x"}]}))
    keel.data.record_validation(v2, result.to_json(), result.success)
    db, project = local_database("tests read")
    blobs = BlobStore(get_backend().settings.resolved_artifact_root)

    listed = {d["name"]: d for d in q.list_datasets(db, project)}
    assert set(listed) == {"tbl", "other"}
    assert listed["tbl"]["versions"] == 2 and listed["tbl"]["latest"]["number"] == 2
    assert listed["tbl"]["latest"]["validation"] == "passed" and listed["other"]["latest"]["validation"] is None

    detail = q.dataset_detail(db, project, "tbl")
    assert [v["number"] for v in detail["versions"]] == [2, 1]
    assert [v["validation"] for v in detail["versions"]] == ["passed", None]
    assert [c["name"] for c in detail["columns"]] == ["id", "x", "y"] and detail["latest"]["row_count"] == 4

    diff = q.dataset_diff(db, project, blobs, "tbl", v1.number, v2.number)
    assert diff["old"] == "tbl@v1" and diff["new"] == "tbl@v2" and not diff["identical"]
    assert (diff["old_rows"], diff["new_rows"]) == (3, 4)
    assert [c[0] for c in diff["schema"]["added"]] == ["y"]
    assert any(s["column"] == "x" and s["stat"] == "max" for s in diff["stats"])
    assert q.dataset_diff(db, project, blobs, "tbl", 2, 2)["identical"]

    reports = q.validation_reports(db, project, blobs, "tbl", 2)
    assert len(reports) == 1 and reports[0]["passed"] and reports[0]["checks"][0]["check"] == "not_null"
    assert q.validation_reports(db, project, blobs, "tbl", 1) == []
    with pytest.raises(NotFound, match="nope"):
        q.dataset_detail(db, project, "nope")
    with pytest.raises(NotFound, match="v7"):
        q.dataset_diff(db, project, blobs, "tbl", 1, 7)

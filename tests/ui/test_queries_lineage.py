"""The Lineage page's query: the graph around an object as cytoscape elements, each node linked to its page,
with the monitors watching a deployment attached."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import keel
import keel.data
from keel.errors import InvalidInput, NotFound
from keel.local_store import local_database
from keel.monitoring import monitors as m
from keel.registry.sql import SqlRegistryStore
from keel.serving.deployment import Deployment, Route
from keel.serving.deployment_sql import SqlDeploymentStore
from keel.ui import queries_lineage as q


def test_graph_from_data_to_monitor(keel_home: Path, tmp_path: Path) -> None:
    pd.DataFrame({"x": [1.0, 2.0]}).to_parquet(tmp_path / "d.parquet", index=False)
    version = keel.data.add(tmp_path / "d.parquet", "d")
    with keel.start_run() as run:
        keel.log_input(version, context="training")
    db, project = local_database("tests read")
    registry = SqlRegistryStore(db, project)
    registry.create_registered_model("m")
    registry.create_model_version("m", "s", run_id=run.info.run_id)
    registry.record_promotion("m", 1, "champion", True, 1)
    SqlDeploymentStore(db, project).create_deployment(Deployment("prod", (Route("m", 1),)))
    m.create_monitor("watch", "prod", "d@v1", window="1h")

    graph = q.lineage_graph(db, project, "m/1")
    assert graph["root"] == {"kind": "model_version", "id": "m/1", "key": "model_version:m/1"}
    nodes = {e["data"]["id"]: e["data"] for e in graph["elements"] if "source" not in e["data"]}
    edges = {(e["data"]["source"], e["data"]["label"], e["data"]["target"]) for e in graph["elements"]
             if "source" in e["data"]}
    assert nodes["model_version:m/1"]["root"] and nodes["model_version:m/1"]["href"] == "/ui/models/m/versions/1"
    assert nodes[f"run:{run.info.run_id}"]["href"] == f"/ui/runs/{run.info.run_id}"
    data = nodes[f"dataset_version:{version.id}"]
    assert data["label"] == "d@v1" and data["href"] == "/ui/data/d?version=1"
    assert nodes["deployment_revision:prod#1"]["href"] == "/ui/deployments/prod"
    assert nodes["monitor:watch"]["href"] == "/ui/monitoring/watch"
    assert (f"dataset_version:{version.id}", "input_to", f"run:{run.info.run_id}") in edges
    assert ("model_version:m/1", "served_by", "deployment_revision:prod#1") in edges
    assert ("deployment:prod", "watched_by", "monitor:watch") in edges

    by_ref = q.lineage_graph(db, project, "d@v1")
    assert by_ref["root"]["id"] == version.id  # data -> run -> model -> deployment -> monitor, walked down
    assert {"monitor:watch", "model_version:m/1"} <= {e["data"]["id"] for e in by_ref["elements"]}
    assert q.lineage_graph(db, project, "monitor:watch")["root"]["kind"] == "monitor"
    champion = q.lineage_graph(db, project, "m@champion")  # an alias centres on the version it points at
    assert champion["asked"] == "alias:m@champion" and champion["root"]["key"] == "model_version:m/1"
    assert "monitor:watch" in {e["data"]["id"] for e in champion["elements"]}
    assert len(q.lineage_graph(db, project, "m/1", depth=1)["elements"]) < len(graph["elements"])
    with pytest.raises(NotFound, match="nope"):
        q.lineage_graph(db, project, "nope")
    with pytest.raises(InvalidInput):
        q.lineage_graph(db, project, " ")
    assert q.lineage_starts(db, project) == [
        {"kind": "alias", "id": "m@champion", "key": "alias:m@champion"},
        {"kind": "deployment", "id": "prod", "key": "deployment:prod"},
        {"kind": "monitor", "id": "watch", "key": "monitor:watch"}]
    assert q.node_href("pipeline_run", "abc") == "/ui/pipelines/abc"
    assert q.node_href("step_run", "abc/train") == "/ui/pipelines/abc"
    assert q.node_href("validation", "f00") == "/ui/lineage?id=validation%3Af00"

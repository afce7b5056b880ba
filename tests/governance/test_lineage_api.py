"""`GET /api/v1/lineage/{id}` on a graph built through the real SDK: raw data → feature view → training set →
run → model version → alias → deployment. It answers "which data trained the model in production" (up from the
deployment) and "which deployments did this dataset version reach" (down from the raw data), with the same JSON as
`keel lineage --json`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

import keel
import keel.features as kf
from keel import data
from keel.config import Settings
from keel.serving.deployment import Deployment, Route
from keel.tracking.context import get_backend
from keel_testing import run_cli

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def graph(keel_home: Path, tmp_path: Path) -> dict[str, str]:
    raw = pd.DataFrame({"driver_id": [1, 2, 3, 4], "event_timestamp": [NOW] * 4, "trips": [1, 5, 9, 12]})
    raw.to_parquet(tmp_path / "raw.parquet", index=False)
    raw_version = data.add(tmp_path / "raw.parquet", "driver_raw")
    driver = kf.Entity("driver", join_keys=["driver_id"])
    kf.apply([driver, kf.FeatureView("stats", entities=[driver], source="driver_raw",
                                     schema=[kf.Field("trips", "int64")])])
    entities = pd.DataFrame({"driver_id": [1, 2, 3, 4], "event_timestamp": [NOW] * 4})
    training = kf.get_training_set(entities, ["stats:trips"], save_as="train").dataset_version
    frame = keel.data.load(training.ref)
    with keel.start_run() as run:
        keel.log_input(training)
        model = LogisticRegression().fit(frame[["trips"]], [0, 0, 1, 1])
        keel.log_model(model, "model", registered_model_name="eta")
    backend = get_backend()
    backend.registry.record_promotion("eta", 1, "champion", True, int(time.time() * 1000))
    backend.deployments.create_deployment(Deployment(name="prod", routes=(Route("eta", version=1),)))
    return {"raw": raw_version.id, "train": training.id, "run": run.info.run_id}


@pytest.fixture
def http(graph: dict[str, str], keel_home: Path) -> Iterator[TestClient]:
    from keel.server import create_app

    with TestClient(create_app(Settings(home=keel_home, log_format="text")), raise_server_exceptions=False) as c:
        yield c


def _ends(links: list[dict[str, dict[str, str]]], key: str) -> set[str]:
    return {f"{link[key]['kind']}:{link[key]['id']}" for link in links}


def test_which_data_trained_the_model_in_production(graph: dict[str, str], http: TestClient) -> None:
    found = http.get(f"/api/v1/lineage/{quote('deployment_revision:prod#1')}", params={"direction": "up"})
    assert found.status_code == 200, found.text
    [up] = found.json()
    assert up["root"] == {"kind": "deployment_revision", "id": "prod#1"} and up["descendants"] == []
    assert {"model_version:eta/1", f"run:{graph['run']}", f"dataset_version:{graph['train']}",
            "feature_view:stats@v1", f"dataset_version:{graph['raw']}"} <= _ends(up["ancestors"], "from")


def test_which_deployments_a_dataset_version_reached(graph: dict[str, str], http: TestClient) -> None:
    [down] = http.get(f"/api/v1/lineage/{graph['raw']}", params={"direction": "down"}).json()
    assert down["root"] == {"kind": "dataset_version", "id": graph["raw"]} and down["ancestors"] == []
    reached = _ends(down["descendants"], "to")
    assert {"feature_view:stats@v1", f"dataset_version:{graph['train']}", f"run:{graph['run']}",
            "model_version:eta/1", "alias:eta@champion", "deployment_revision:prod#1"} <= reached
    [near] = http.get(f"/api/v1/lineage/{graph['raw']}", params={"direction": "down", "depth": 1}).json()
    # one link down: the view it feeds and the training set derived from it, not yet the run
    assert _ends(near["descendants"], "to") == {"feature_view:stats@v1", f"dataset_version:{graph['train']}"}


def test_same_json_as_the_cli(graph: dict[str, str], http: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    for ident in ("eta/1", graph["train"]):
        code, out, err = run_cli("lineage", ident, "--json", capsys=capsys)
        assert code == 0, err
        assert http.get(f"/api/v1/lineage/{ident}").json() == json.loads(out)


def test_errors_are_4xx_json(graph: dict[str, str], http: TestClient) -> None:
    missing = http.get("/api/v1/lineage/no-such-object")
    assert missing.status_code == 404 and missing.json()["field"] == "id"
    assert http.get("/api/v1/lineage/eta/1", params={"direction": "sideways"}).status_code == 400
    bad_depth = http.get("/api/v1/lineage/eta/1", params={"depth": -1})
    assert bad_depth.status_code == 400 and bad_depth.json()["field"] == "depth"

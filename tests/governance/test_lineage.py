"""The lineage graph: the pure walk (direction, cycles, depth) and `keel lineage` over a real lifecycle chain."""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterable
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import keel
from keel import data
from keel.governance.lineage import Link, Node, orient, walk
from keel.serving.deployment import Deployment, Route
from keel.store.lineage import Edge
from keel.tracking.context import get_backend
from keel_testing import run_cli

A, B, C, D = (Node("k", name) for name in "abcd")


def _neighbours(links: list[Link]) -> tuple[list[int], object]:
    calls: list[int] = []

    def fetch(nodes: Collection[Node]) -> Iterable[Link]:
        calls.append(len(nodes))
        return [link for link in links if link.upstream in nodes or link.downstream in nodes]

    return calls, fetch


def test_walk_splits_ancestors_from_descendants_and_survives_cycles() -> None:
    links = [Link(A, "r", B), Link(B, "r", C), Link(C, "r", A), Link(C, "r", D)]
    calls, fetch = _neighbours(links)
    graph = walk(B, fetch)  # type: ignore[arg-type]
    # every edge of the cycle is on both sides, each once; D hangs below C only
    assert graph.descendants == (Link(B, "r", C), Link(C, "r", A), Link(C, "r", D), Link(A, "r", B))
    assert graph.ancestors == (Link(A, "r", B), Link(C, "r", A), Link(B, "r", C))
    assert graph.nodes() == {A, B, C, D}
    assert len(calls) < 10  # the cycle ends: each node is expanded once per direction


def test_walk_depth_limits_each_direction() -> None:
    links = [Link(A, "r", B), Link(B, "r", C), Link(C, "r", D)]
    _, fetch = _neighbours(links)
    graph = walk(B, fetch, depth=1)  # type: ignore[arg-type]
    assert graph.ancestors == (Link(A, "r", B),) and graph.descendants == (Link(B, "r", C),)
    assert walk(B, fetch, depth=0).nodes() == {B}  # type: ignore[arg-type]


def test_edges_against_the_flow_are_turned_around() -> None:
    served = orient(Edge("deployment_revision", "prod#1", "serves", "model_version", "m/1"))
    assert served == Link(Node("model_version", "m/1"), "served_by", Node("deployment_revision", "prod#1"))
    trained = orient(Edge("run", "r1", "produced", "model_version", "m/1", 5))
    assert trained == Link(Node("run", "r1"), "produced", Node("model_version", "m/1"), 5)


@pytest.fixture
def chain(keel_home: Path, tmp_path: Path) -> dict[str, str]:
    """dataset version → run → model version → alias, and a deployment revision serving the version."""
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [0, 0, 1, 1]})
    frame.to_parquet(tmp_path / "train.parquet")
    version = data.add(tmp_path / "train.parquet", "train")
    with keel.start_run() as run:
        keel.log_input(version)
        model = LogisticRegression().fit(frame[["x"]], frame["y"])
        keel.log_model(model, "model", input_example=frame[["x"]].head(2), registered_model_name="clf")
    backend = get_backend()
    backend.registry.record_promotion("clf", 1, "champion", True, int(time.time() * 1000))
    backend.deployments.create_deployment(Deployment(name="prod", routes=(Route("clf", version=1),)))
    return {"dataset": version.id, "ref": version.ref, "run": run.info.run_id}


def _json(*args: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    code, out, err = run_cli("lineage", *args, "--json", capsys=capsys)
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def _ends(links: object, key: str) -> set[str]:
    return {f"{link[key]['kind']}:{link[key]['id']}" for link in links}  # type: ignore[attr-defined,index]


def test_dataset_version_reaches_run_model_alias_and_deployment(chain: dict[str, str],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    [graph] = _json(chain["dataset"], capsys=capsys)
    assert graph["root"] == {"kind": "dataset_version", "id": chain["dataset"]}
    assert _ends(graph["descendants"], "to") >= {f"run:{chain['run']}", "model_version:clf/1", "alias:clf@champion",
                                                 "deployment_revision:prod#1"}
    assert graph["ancestors"] == []

    code, out, _ = run_cli("lineage", chain["dataset"], capsys=capsys)
    assert code == 0
    for shown in (chain["run"], "clf/1", "clf@champion", "prod#1", "promoted_to", "served_by"):
        assert shown in out
    assert out.index("descendants") < out.index(chain["run"]) < out.index("clf/1") < out.index("clf@champion")


def test_model_version_has_the_dataset_as_ancestor(chain: dict[str, str],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    [graph] = _json("clf/1", capsys=capsys)
    assert graph["root"] == {"kind": "model_version", "id": "clf/1"}
    assert {f"dataset_version:{chain['dataset']}", f"run:{chain['run']}"} <= _ends(graph["ancestors"], "from")
    assert {"alias:clf@champion", "deployment_revision:prod#1"} <= _ends(graph["descendants"], "to")
    assert f"dataset_version:{chain['dataset']}" not in _ends(graph["descendants"], "to")

    code, out, _ = run_cli("lineage", "clf/1", capsys=capsys)
    assert code == 0
    assert out.index("ancestors") < out.index(chain["dataset"]) < out.index("descendants") < out.index("prod#1")


def test_kind_prefix_dataset_ref_and_depth(chain: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    [typed] = _json("model_version:clf/1", "--depth", "1", capsys=capsys)
    assert _ends(typed["ancestors"], "from") == {f"run:{chain['run']}"}  # the dataset is two links up
    assert _ends(typed["descendants"], "to") == {"alias:clf@champion", "deployment_revision:prod#1"}
    [by_ref] = _json(chain["ref"], capsys=capsys)
    assert by_ref["root"] == {"kind": "dataset_version", "id": chain["dataset"]}


def test_unknown_id_is_one_line_exit_2(keel_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli("lineage", "no-such-thing", capsys=capsys)
    assert code == 2 and out == ""
    assert "no object 'no-such-thing'" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("lineage", "train@v9", capsys=capsys)
    assert code == 2 and "train@v9" in err

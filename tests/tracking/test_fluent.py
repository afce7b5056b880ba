"""The tracking SDK on both transports: the local store and a live `keel server`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import keel
from keel.errors import InvalidInput, KeelError
from keel.tracking.context import get_backend


def test_context_manager_finishes_or_fails(sdk: str) -> None:
    with keel.start_run(run_name="ok") as ok:
        keel.log_param("a", 1)
    assert keel.get_run(ok.run_id).info.status == "FINISHED"
    with pytest.raises(RuntimeError), keel.start_run() as bad:
        raise RuntimeError("boom")
    info = keel.get_run(bad.run_id).info
    assert info.status == "FAILED" and info.end_time is not None
    assert keel.active_run() is None


def test_metrics_params_tags(sdk: str) -> None:
    with keel.start_run() as run:
        keel.log_params({"lr": 0.1, "layers": 3})
        for step in range(100):
            keel.log_metrics({"loss": 1 / (step + 1), "acc": step / 100}, step=step)
        keel.log_metric("custom", 5.0, step=7, timestamp=1234)
        keel.set_tags({"team": "ml"})
        keel.set_tag("stage", "dev")
    got = keel.get_run(run.run_id)
    assert got.params == {"lr": "0.1", "layers": "3"}
    assert got.metrics["loss"].value == pytest.approx(0.01) and got.metrics["loss"].step == 99
    assert (got.metrics["custom"].timestamp, got.metrics["custom"].step) == (1234, 7)
    assert got.tags["team"] == "ml" and got.tags["stage"] == "dev"
    history = keel.get_metric_history(run.run_id, "acc")
    assert [m.step for m in history] == list(range(100))
    with keel.start_run(), pytest.raises(InvalidInput, match="lr"):
        keel.log_param("lr", 1)
        keel.log_param("lr", 2)


def test_system_tags(sdk: str) -> None:
    with keel.start_run() as run:
        pass
    tags = keel.get_run(run.run_id).tags
    assert tags["mlflow.user"] and tags["keel.host"]
    assert "mlflow.source.name" in tags


def test_nested_runs_and_resume(sdk: str) -> None:
    with keel.start_run() as parent:
        with pytest.raises(InvalidInput, match="nested"):
            keel.start_run()
        with keel.start_run(nested=True) as child:
            keel.log_metric("inner", 1.0)
        assert keel.active_run() is parent
    assert keel.get_run(child.run_id).tags["mlflow.parentRunId"] == parent.run_id
    with keel.start_run(run_id=parent.run_id):
        keel.log_metric("resumed", 2.0)
    resumed = keel.get_run(parent.run_id)
    assert resumed.metrics["resumed"].value == 2.0 and resumed.info.status == "FINISHED"
    nested = keel.search_runs(filter_string=f"tags.mlflow.parentRunId = '{parent.run_id}'", output_format="list")
    assert [r.run_id for r in nested] == [child.run_id]


def test_artifacts(sdk: str, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("one")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "g.bin").write_bytes(b"\x00\x01" * 1000)

    class Figure:
        def savefig(self, path: Path) -> None:
            Path(path).write_bytes(b"\x89PNG fake")

    with keel.start_run() as run:
        keel.log_artifact(tmp_path / "f.txt")
        keel.log_artifact(tmp_path / "f.txt", "copies")
        keel.log_artifacts(tree, "tree")
        keel.log_dict({"a": 1}, "conf/a.json")
        keel.log_dict({"b": [1, 2]}, "conf/b.yaml")
        keel.log_figure(Figure(), "plots/curve.png")
        with pytest.raises(InvalidInput, match="not a file"):
            keel.log_artifact(tmp_path / "missing.txt")
        with pytest.raises(InvalidInput):
            keel.log_dict({}, "../escape.json")
    repo = get_backend().artifacts
    base = keel.get_run(run.run_id).info.artifact_uri
    assert repo.get_bytes(f"{base}/f.txt") == b"one"
    assert repo.get_bytes(f"{base}/copies/f.txt") == b"one"
    assert repo.get_bytes(f"{base}/tree/sub/g.bin") == b"\x00\x01" * 1000
    assert json.loads(repo.get_bytes(f"{base}/conf/a.json")) == {"a": 1}
    assert repo.get_bytes(f"{base}/conf/b.yaml").decode().startswith("b:")
    assert repo.get_bytes(f"{base}/plots/curve.png") == b"\x89PNG fake"
    names = sorted(i.path.rsplit("/", 1)[-1] for i in repo.list(base))
    assert names == ["conf", "copies", "f.txt", "plots", "tree"]


def test_log_input(sdk: str) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]})
    with keel.start_run() as run:
        keel.log_input(frame, context="training", name="toy")
        keel.log_input("iris@v3", context="eval")
        with pytest.raises(InvalidInput, match="name@version"):
            keel.log_input("iris")
    inputs = {i.name: i for i in keel.get_run(run.run_id).inputs}
    assert inputs["toy"].context == "training" and json.loads(inputs["toy"].profile or "{}")["num_rows"] == 2
    assert (inputs["iris"].digest, inputs["iris"].context) == ("v3", "eval")


def test_search_runs_frame_and_pages(sdk: str) -> None:
    ids = []
    for i in range(5):
        with keel.start_run() as run:
            keel.log_metric("score", float(i))
            keel.log_param("even", str(i % 2 == 0))
        ids.append(run.run_id)
    frame = keel.search_runs(filter_string="metrics.score >= 2 and params.even = 'True'",
                             order_by=["metrics.score DESC"])
    assert list(frame["run_id"]) == [ids[4], ids[2]]
    assert list(frame["metrics.score"]) == [4.0, 2.0]
    first = keel.search_runs(order_by=["metrics.score"], max_results=3, output_format="list")
    rest = keel.search_runs(order_by=["metrics.score"], max_results=3, page_token=first.next_page_token,
                            output_format="list")
    assert [r.run_id for r in first + rest] == ids and rest.next_page_token is None
    with pytest.raises(KeelError):
        keel.search_runs(filter_string="metrics.score >")

"""One suite for every executor (local processes and Ray): data of every kind flows between steps, failures
propagate, retries happen where the step runs, and the run is recorded the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from keel.pipelines import pipeline, run_pipeline, step


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()


@pytest.fixture(params=["local", "ray"])
def executor(request: pytest.FixtureRequest) -> str:
    if request.param == "ray":
        request.getfixturevalue("local_ray")
    return str(request.param)


@step
def make_frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(n, dtype=float), "y": np.arange(n) * 2.0})


@step(cpus=1)
def column(frame: pd.DataFrame, name: str) -> np.ndarray:
    return frame[name].to_numpy()


@step
def combine(x: np.ndarray, y: np.ndarray, out: str) -> Path:
    path = Path(out)
    path.write_text(f"{float((x + y).sum())}")
    return path


@step
def read_back(path: Path) -> dict:
    return {"sum": float(path.read_text()), "name": path.name}


@step(retries=1, retry_backoff_s=0.01)
def fails_once(marker: str) -> str:
    flag = Path(marker)
    if not flag.exists():
        flag.write_text("tried")
        raise RuntimeError("first attempt fails")
    return "second attempt"


@step
def explode(_: object) -> None:
    raise KeyError("missing thing")


@pipeline
def diamond(n: int, out: str) -> object:
    frame = make_frame(n)
    return read_back(combine(column(frame, "x"), column(frame, "y"), out))


def test_values_flow_between_steps(executor: str, keel_home: Path, tmp_path: Path) -> None:
    run = run_pipeline(diamond, {"n": 10, "out": str(tmp_path / "sum.txt")}, executor=executor, max_parallel=2)
    assert run.status == "SUCCEEDED", run.error
    assert run.result == {"sum": float(sum(range(10)) * 3), "name": "sum.txt"}
    assert [s.node for s in run.steps] == ["make_frame", "column", "column-2", "combine", "read_back"]
    assert run.executor == executor
    again = run_pipeline(diamond, {"n": 10, "out": str(tmp_path / "sum.txt")}, executor=executor)
    assert {s.status for s in again.steps} == {"CACHED"}


def test_retry_and_failure_on_the_executor(executor: str, keel_home: Path, tmp_path: Path) -> None:
    @pipeline
    def p(marker: str) -> object:
        return [fails_once(marker), explode(make_frame(2))]

    run = run_pipeline(p, {"marker": str(tmp_path / "m")}, executor=executor, max_parallel=2)
    states = {s.node: (s.status, s.attempts) for s in run.steps}
    assert states["fails_once"] == ("SUCCEEDED", 2)
    assert states["explode"] == ("FAILED", 1) and "KeyError: 'missing thing'" in (run.error or "")
    assert run.status == "FAILED"

"""`keel run FILE:PIPELINE` and `keel pipelines runs|show|logs` in process."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from keel_testing import run_cli

FLOW = """
from keel.pipelines import pipeline, step

@step
def scale(x: float, factor: float) -> float:
    print("scaling", x, "by", factor)
    if factor < 0:
        raise ValueError("factor must be positive")
    return x * factor

@pipeline
def flow(x: float, factor: float = 2.0, label: str = "run"):
    return scale(x, factor)
"""


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    path = tmp_path / "flow.py"
    path.write_text(textwrap.dedent(FLOW))
    return path


def test_run_show_logs_and_cache(keel_home: Path, flow_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli("run", f"{flow_file}:flow", "-p", "x=3", capsys=capsys)
    assert code == 0 and "flow succeeded" in out and "1 succeeded" in out
    code, out, _ = run_cli("run", str(flow_file), "-p", "x=3", capsys=capsys)  # the file's only pipeline
    assert code == 0 and "1 cached" in out
    run_id = out.split("run ")[1].split(":")[0]
    code, out, _ = run_cli("pipelines", "show", run_id[:12], capsys=capsys)
    assert code == 0 and "scale" in out and "CACHED" in out
    code, out, _ = run_cli("pipelines", "runs", "--pipeline", "flow", capsys=capsys)
    assert code == 0 and out.count("SUCCEEDED") == 2
    from keel.pipelines.runner import pipeline_store

    first = pipeline_store().list("flow")[-1]
    code, out, _ = run_cli("pipelines", "logs", first.id, "scale", capsys=capsys)
    assert code == 0 and "scaling 3.0 by 2.0" in out


def test_failure_exits_1_and_resume_hint(keel_home: Path, flow_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli("run", f"{flow_file}:flow", "-p", "x=1", "-p", "factor=-1", capsys=capsys)
    assert code == 1 and "factor must be positive" in out and "--resume" in out


def test_params_from_keel_yaml_and_bad_params(keel_home: Path, flow_file: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli("run", f"{flow_file}:flow", capsys=capsys)
    assert code == 2 and "needs parameter 'x'" in out + err
    code, out, err = run_cli("run", f"{flow_file}:flow", "-p", "x=abc", capsys=capsys)
    assert code == 2 and "x='abc' is not a valid float" in out + err
    code, out, err = run_cli("run", f"{flow_file}:nope", capsys=capsys)
    assert code == 2 and "has no pipeline 'nope'" in out + err
    (tmp_path / "keel.yaml").write_text("pipelines:\n  flow:\n    params:\n      x: 5\n      factor: 3\n")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("run", f"{flow_file}:flow", "-p", "factor=4", capsys=capsys)  # the CLI wins over yaml
    assert code == 0
    from keel.pipelines.runner import pipeline_store

    assert pipeline_store().list("flow")[0].params == {"x": 5, "factor": 4.0, "label": "run"}

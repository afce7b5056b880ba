"""`keel init --ci github` writes a workflow whose gate commands really gate: each exits non-zero on refusal."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from keel_testing import run_cli


def _gate_commands(workflow: Path) -> dict[str, list[str]]:
    jobs = yaml.safe_load(workflow.read_text())["jobs"]["gates"]["steps"]
    return {s["name"]: shlex.split(s["run"].strip()) for s in jobs if "name" in s and s["run"].startswith("keel")}


def test_workflow_runs_tests_and_both_gates(keel_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("init", "--ci", "github", "--data", "train.csv", "--suite", "suite.yaml", "--model", "iris",
                           "--eval-data", "holdout.csv", "--target", "target", "--require", "accuracy >= 0.99",
                           "--pipeline", "ct.py:train", capsys=capsys)
    assert code == 0 and "wrote .github/workflows/keel.yml" in out
    workflow = tmp_path / ".github" / "workflows" / "keel.yml"
    parsed = yaml.safe_load(workflow.read_text())
    names = [s.get("name") for s in parsed["jobs"]["gates"]["steps"]]
    assert names[2:] == ["Install", "Tests", "Data validation gate", "Training pipeline", "Promotion gate"]
    gates = _gate_commands(workflow)
    assert gates["Training pipeline"] == ["keel", "run", "ct.py:train"]
    code, _, err = run_cli("init", "--ci", "github", capsys=capsys)
    assert code == 2 and "--force" in err
    code, _, err = run_cli("init", "--ci", "gitlab", "--force", capsys=capsys)
    assert code == 2 and "use github" in err

    iris = load_iris(as_frame=True).frame
    iris.to_csv("train.csv", index=False)
    assert run_cli("data", "profile", "train.csv", "-o", "suite.yaml", capsys=capsys)[0] == 0
    assert run_cli(*gates["Data validation gate"][1:], capsys=capsys)[0] == 0
    iris.assign(**{"sepal length (cm)": -1.0}).to_csv("train.csv", index=False)  # broken data
    code, out, _ = run_cli(*gates["Data validation gate"][1:], capsys=capsys)
    assert code == 1 and "FAILED" in out.upper()

    import keel

    iris.to_csv("holdout.csv", index=False)
    x, y = iris.drop(columns=["target"]), iris["target"]
    with keel.start_run():
        keel.log_model(LogisticRegression(max_iter=300).fit(x, y), "m", registered_model_name="iris")
    with keel.start_run():  # the latest version: a weak model the gate must refuse
        keel.log_model(LogisticRegression(max_iter=1).fit(x.iloc[:, :1], y), "m", registered_model_name="iris",
                       input_example=x.iloc[:3, :1])
    code, out, _ = run_cli(*gates["Promotion gate"][1:], capsys=capsys)
    assert code == 1 and "iris version 2 -> @champion: REFUSED" in out

"""`keel predict`: scores a file into Parquet parts, resumes, and turns bad paths and URIs into exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from keel.registry.model_files import save_model
from keel_testing import run_cli


@pytest.fixture
def scored(tmp_path: Path, keel_home: Path) -> tuple[LogisticRegression, pd.DataFrame, Path, Path]:
    data = load_iris(as_frame=True)
    model = LogisticRegression(max_iter=500).fit(data.data, data.target)
    save_model(model, tmp_path / "iris", input_example=data.data.head(3))
    data.data.to_csv(tmp_path / "iris.csv", index=False)
    return model, data.data, tmp_path / "iris", tmp_path / "iris.csv"


def test_predict_writes_parts_and_resumes(scored: tuple[LogisticRegression, pd.DataFrame, Path, Path],
                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, frame, model_dir, csv = scored
    out = tmp_path / "out"
    args = ("predict", str(model_dir), "--input", str(csv), "--output", str(out), "--chunk-rows", "60")
    code, stdout, stderr = run_cli(*args, "--predictions-only", "-c", "label", capsys=capsys)
    assert code == 0, stderr
    assert "scored 150 rows in 3 chunks" in stdout and str(out) in stdout
    result = pd.read_parquet(out)
    assert list(result.columns) == ["_row_index", "label"]
    assert np.array_equal(result["label"].to_numpy(), model.predict(frame))
    code, stdout, _ = run_cli(*args, "--predictions-only", "-c", "label", capsys=capsys)
    assert code == 0 and "3 already done" in stdout


def test_changed_options_need_overwrite(scored: tuple[LogisticRegression, pd.DataFrame, Path, Path],
                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, _, model_dir, csv = scored
    args = ("predict", str(model_dir), "--input", str(csv), "--output", str(tmp_path / "out"))
    assert run_cli(*args, capsys=capsys)[0] == 0
    code, _, stderr = run_cli(*args, "--chunk-rows", "10", capsys=capsys)
    assert code == 2 and "--overwrite" in stderr and "Traceback" not in stderr
    code, stdout, _ = run_cli(*args, "--chunk-rows", "10", "--overwrite", capsys=capsys)
    assert code == 0 and "15 chunks" in stdout and "already done" not in stdout


@pytest.mark.parametrize(("model", "input_name", "message"), [
    ("iris", "missing.csv", "does not exist"),
    ("s3://bucket/model", "iris.csv", "unsupported scheme"),
    ("models:/nobody/1", "iris.csv", "nobody"),
])
def test_bad_paths_and_uris_exit_2_with_one_line(model: str, input_name: str, message: str,
                                                  scored: tuple[LogisticRegression, pd.DataFrame, Path, Path],
                                                  tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_uri = str(tmp_path / model) if model == "iris" else model
    code, stdout, stderr = run_cli("predict", model_uri, "--input", str(tmp_path / input_name), "--output",
                                   str(tmp_path / "out"), capsys=capsys)
    assert code == 2 and message in stderr
    assert stderr.strip().startswith("error:") and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_unknown_executor_is_rejected(scored: tuple[LogisticRegression, pd.DataFrame, Path, Path],
                                      tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, _, model_dir, csv = scored
    code, _, stderr = run_cli("predict", str(model_dir), "--input", str(csv), "--output", str(tmp_path / "o"),
                              "--executor", "spark", capsys=capsys)
    assert code == 2 and "executor" in stderr

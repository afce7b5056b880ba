"""`keel models explain NAME@ALIAS --data DATASET@vN`: top features printed, contributions written, errors exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier

import keel
import keel.data
from keel.tracking.context import get_backend
from keel_testing import run_cli

pytest.importorskip("shap")


@pytest.fixture
def registered(keel_home: Path, tmp_path: Path) -> GradientBoostingClassifier:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.normal(size=(200, 3)), columns=["x", "y", "noise"])
    frame["label"] = (frame["x"] * 2 + frame["y"] > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(frame[["x", "y", "noise"]], frame["label"])
    with keel.start_run():
        keel.log_model(model, "m", input_example=frame[["x", "y", "noise"]].head(3), registered_model_name="gb")
    keel.set_registered_model_alias("gb", "champion", 1)
    frame.to_parquet(tmp_path / "rows.parquet", index=False)
    keel.data.add(tmp_path / "rows.parquet", "rows")
    return model


def test_explain_a_dataset_version(registered: GradientBoostingClassifier, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "contributions.csv"
    code, out, err = run_cli("models", "explain", "gb@champion", "--data", "rows@v1", "--top", "2", "-o",
                             str(out_file), capsys=capsys)
    assert code == 0, err
    assert "top features" in out and "tree explainer" in out
    assert out.index(" x ") < out.index(" y ") and " noise " not in out  # only the top 2, largest first
    written = pd.read_csv(out_file, index_col=0)
    assert list(written.columns) == ["x", "y", "noise", "base_value"] and len(written) == 200
    rows = keel.data.load("rows@v1")[["x", "y", "noise"]]
    margin = written[["x", "y", "noise"]].sum(axis=1) + written["base_value"]
    np.testing.assert_allclose(margin, registered.decision_function(rows), atol=1e-6)
    tags = get_backend().registry.get_model_version("gb", 1).tags
    assert tags["keel.explain.explainer"] == "tree"


@pytest.mark.parametrize("args,needle", [
    (["gb@champion", "--data", "nothing@v1"], "nothing"),
    (["gb", "--data", "rows@v1"], "NAME@ALIAS"),
    (["gb@champion", "--data", "rows@v1", "-o", "out.json"], ".csv or .parquet"),
    (["gb@nobody", "--data", "rows@v1"], "nobody"),
])
def test_explain_errors_exit_2(registered: GradientBoostingClassifier, capsys: pytest.CaptureFixture[str],
                               args: list[str], needle: str) -> None:
    code, _, err = run_cli("models", "explain", *args, capsys=capsys)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1

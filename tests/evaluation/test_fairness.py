"""keel.fairness: a deliberately biased model is flagged by the parity gap and refused by the promotion gate; a fair
one passes; per-group metrics are right; bad input is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

import keel
from keel.errors import InvalidInput
from keel.evaluation import fairness, promote
from keel.evaluation.fairness import group_metrics
from keel.tracking.context import get_backend
from keel_testing import run_cli

pytest.importorskip("fairlearn")

FEATURES = ["income", "debt", "is_male"]


@pytest.fixture(scope="module")
def applicants() -> pd.DataFrame:
    """Generated loan data: repayment depends on income and debt only, never on sex."""
    rng = np.random.default_rng(11)
    n = 600
    sex = rng.choice(["female", "male"], n)
    income, debt = rng.normal(size=n), rng.normal(size=n)
    repaid = (income - debt + 0.4 * rng.normal(size=n) > 0).astype(int)
    return pd.DataFrame({"income": income, "debt": debt, "is_male": (sex == "male").astype(float), "sex": sex,
                         "age_band": rng.choice(["<30", "30-60", ">60"], n), "repaid": repaid})


def _register(applicants: pd.DataFrame, name: str) -> None:
    """Version 1: fair (trained on the true label); version 2: biased (trained to approve men only)."""
    x = applicants[FEATURES]
    fair = LogisticRegression().fit(x, applicants["repaid"])
    biased = LogisticRegression().fit(x, applicants["repaid"] * applicants["is_male"])
    with keel.start_run():
        keel.log_model(fair, "fair", input_example=x.head(3), registered_model_name=name)
        keel.log_model(biased, "biased", input_example=x.head(3), registered_model_name=name)


def test_biased_model_is_flagged_and_refused_by_the_gate(keel_home: Path, applicants: pd.DataFrame,
                                                         tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _register(applicants, "loans")
    require = ["accuracy >= 0.6", "demographic_parity_ratio >= 0.8"]
    with pytest.raises(InvalidInput, match="demographic_parity_ratio not measured .* keel.fairness"):
        promote("loans", 2, "champion", applicants, "repaid", require=require)

    biased = fairness("models:/loans/2", applicants, "repaid", sensitive=["sex"])
    rates = biased.by_group["selection_rate"]
    assert rates["female"] < 0.05 < 0.3 < rates["male"]
    assert biased.gaps["demographic_parity_ratio"] < 0.2
    assert biased.gaps["demographic_parity_difference"] == pytest.approx(rates["male"] - rates["female"])
    assert biased.by_group["count"].sum() == len(applicants)
    fair = fairness("models:/loans/1", applicants, "repaid", sensitive=["sex", "age_band"])
    assert len(fair.by_group) == 6 and fair.gaps["demographic_parity_ratio"] >= 0.8

    refused = promote("loans", 2, "champion", applicants, "repaid", require=require)
    assert not refused.promoted
    assert any("demographic_parity_ratio >= 0.8" in line for line in refused.failures)
    promoted = promote("loans", 1, "champion", applicants, "repaid", require=require)
    assert promoted.promoted and all(r.passed for r in promoted.conditions)
    stored = json.loads(get_backend().registry.get_model_version("loans", 2).tags["keel.fairness.metrics"])
    assert stored["gaps"]["demographic_parity_ratio"] == pytest.approx(biased.gaps["demographic_parity_ratio"])

    csv = tmp_path / "applicants.csv"  # the same gate from the CLI: exit 1 when refused
    applicants.to_csv(csv, index=False)
    args = ["models", "promote", "loans", "--data", str(csv), "--target", "repaid", "--alias", "prod",
            "--require", "demographic_parity_ratio >= 0.8"]
    code, out, _ = run_cli(*args, "--version", "2", capsys=capsys)
    assert code == 1 and "FAIL demographic_parity_ratio >= 0.8" in out
    code, _, _ = run_cli(*args, "--version", "1", capsys=capsys)
    assert code == 0


def test_group_metrics_by_hand() -> None:
    truth = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    predicted = np.array([1, 0, 1, 0, 1, 1, 0, 0])
    groups = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4})
    result = group_metrics(truth, predicted, groups, "classification")
    a, b = result.by_group.loc["a"], result.by_group.loc["b"]
    assert (a["selection_rate"], a["true_positive_rate"], a["false_positive_rate"], a["accuracy"]) == (
        0.5, 0.5, 0.5, 0.5)
    assert (b["selection_rate"], b["true_positive_rate"], b["false_positive_rate"], b["accuracy"]) == (
        0.5, 1.0, 0.0, 1.0)
    assert result.gaps["demographic_parity_ratio"] == 1.0
    assert result.gaps["equalized_odds_difference"] == 0.5 and result.gaps["worst_group_accuracy"] == 0.5


def test_regression_error_metrics_per_group(keel_home: Path, applicants: pd.DataFrame) -> None:
    frame = applicants.assign(amount=applicants["income"] * 3 + applicants["is_male"] * 2)
    model = LinearRegression().fit(frame[["income", "debt"]], frame["amount"])  # misses the men's +2
    with keel.start_run():
        keel.log_model(model, "m", input_example=frame[["income", "debt"]].head(3), registered_model_name="amounts")
    result = fairness("models:/amounts/1", frame, "amount", sensitive="sex", task="regression", log=False)
    assert set(result.by_group.columns) == {"count", "mae", "rmse", "r2"}
    assert result.gaps["worst_group_mae"] == pytest.approx(result.by_group["mae"].max())
    assert result.by_group.loc["male", "mae"] > 0.8 and result.run_id is None


def test_bad_input_is_a_clear_error(keel_home: Path, applicants: pd.DataFrame) -> None:
    _register(applicants, "loans2")
    with pytest.raises(InvalidInput, match="no column 'ethnicity' in the data") as missing:
        fairness("models:/loans2/1", applicants, "repaid", sensitive=["sex", "ethnicity"])
    assert missing.value.field == "sensitive"
    with pytest.raises(InvalidInput, match="at least one column"):
        fairness("models:/loans2/1", applicants, "repaid", sensitive=[])
    with pytest.raises(InvalidInput, match="positive_label"):
        fairness("models:/loans2/1", applicants, "repaid", sensitive="sex", positive_label="yes", log=False)
    with pytest.raises(InvalidInput, match="unknown metric 'parity'"):
        promote("loans2", 1, "champion", applicants, "repaid", require=["parity >= 0.8"])

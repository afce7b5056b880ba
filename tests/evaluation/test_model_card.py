"""Model cards: generated from the stores — the real data version and its validation, metrics, fairness, top
features, gate decisions, signature, deployments and lineage; what nobody recorded is marked missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

import keel
import keel.data
from keel.errors import InvalidInput, NotFound
from keel.evaluation import explain, fairness, promote, render_model_card
from keel.tracking.context import get_backend
from keel_testing import run_cli

pytest.importorskip("shap")
FEATURES = ["tenure", "spend", "visits"]


@pytest.fixture
def churn(keel_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> pd.DataFrame:
    """A validated dataset version, a run trained on it, registered as ``churn`` v1, promoted, explained,
    fairness-checked and deployed."""
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(300, 3)), columns=FEATURES)
    frame["region"] = rng.choice(["north", "south"], len(frame))
    frame["churned"] = (frame["tenure"] < 0).astype(int)
    source = tmp_path / "churn.parquet"
    frame.to_parquet(source, index=False)
    version = keel.data.add(source, "churn-data", message="generated")
    suite = tmp_path / "suite.yaml"
    suite.write_text("checks:\n  - check: not_null\n    column: tenure\n")
    assert run_cli("data", "validate", "churn-data@v1", "--suite", str(suite), capsys=capsys)[0] == 0
    model = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0)
    model.fit(frame[FEATURES], frame["churned"])
    with keel.start_run(run_name="forest"):
        keel.log_input(version, context="training")
        keel.log_params({"n_estimators": 20})
        keel.log_metric("train_accuracy", 0.987)
        keel.log_model(model, "model", input_example=frame[FEATURES].head(3), registered_model_name="churn")
    assert promote("churn", 1, "champion", frame.drop(columns=["region"]), "churned",
                   require=["accuracy >= 0.9"]).promoted
    explain("models:/churn/1", frame)
    fairness("models:/churn/1", frame, "churned", sensitive=["region"])
    get_backend().registry.set_registered_model_tag("churn", "owner", "risk-team@example.com")
    assert run_cli("deploy", "create", "churn-prod", "--route", "churn@champion", capsys=capsys)[0] == 0
    return frame


def test_card_lists_real_data_metrics_and_lineage(churn: pd.DataFrame) -> None:
    card = render_model_card("churn", 1)
    data = keel.data.get_version("churn-data@v1")
    run_id = get_backend().registry.get_model_version("churn", 1).run_id
    assert "# Model card: churn version 1" in card
    assert f"| churn-data@v1 | `{data.id}` | training | 300 |" in card
    assert "passed (1/1 checks" in card
    assert "| train_accuracy | 0.987 |" in card and "| n_estimators | 20 |" in card
    assert "accuracy >= 0.9: 1 (passed)" in card and "@champion: PROMOTED" in card
    assert "Sensitive features: region" in card and "demographic_parity_ratio" in card
    assert card.index("| tenure |") < card.index("| spend |")  # the top feature first
    assert "`tenure` (double)" in card
    assert "| churn-prod | 1 | route | churn@champion | 100 % |" in card
    assert f"dataset_version:{data.id} --input_to--> run:{run_id}" in card
    assert f"run:{run_id} --produced--> model_version:churn/1" in card
    assert "**Owner:** risk-team@example.com" in card
    assert "**Intended use:** *missing — set tag intended_use*" in card  # never invented


def test_card_html_and_cli(churn: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = render_model_card("churn", 1, fmt="html")
    assert page.startswith("<!doctype html>") and "<h1>Model card: churn version 1</h1>" in page
    assert "<td>churn-data@v1</td>" in page and '<span class="missing">missing' in page
    target = tmp_path / "card.html"
    code, out, _ = run_cli("models", "card", "churn@champion", "-o", str(target), capsys=capsys)
    assert code == 0 and "card.html" in out and "<td>churn-data@v1</td>" in target.read_text()
    for ref in ("churn/1", "churn@1"):
        code, out, _ = run_cli("models", "card", ref, capsys=capsys)
        assert code == 0 and "# Model card: churn version 1" in out
    code, _, err = run_cli("models", "card", "churn/1", "-o", str(tmp_path / "card.pdf"), capsys=capsys)
    assert code == 2 and ".md or .html" in err


def test_a_bare_version_marks_everything_missing(keel_home: Path) -> None:
    registry = get_backend().registry
    registry.create_registered_model("bare")
    registry.create_model_version("bare", "s")
    card = render_model_card("bare", 1)
    for section in ("training_run", "data", "evaluations", "fairness", "top_features", "gates", "deployments"):
        assert f"- {section.replace('_', ' ')}: " in card
    with pytest.raises(InvalidInput, match="md or html"):
        render_model_card("bare", 1, fmt="pdf")
    with pytest.raises(NotFound):
        render_model_card("bare", 2)

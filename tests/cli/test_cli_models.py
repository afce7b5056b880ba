"""`keel models list|show|versions|alias`."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import keel
from keel.tracking.context import get_backend
from keel_testing import run_cli


@pytest.fixture
def registered(keel_home: Path) -> str:
    data = load_iris(as_frame=True)
    model = LogisticRegression(max_iter=300).fit(data.data, data.target)
    with keel.start_run():
        keel.log_model(model, "model", input_example=data.data.head(3), registered_model_name="iris-cli")
        keel.log_model(model, "model2", registered_model_name="iris-cli")
    return "iris-cli"


def test_models_alias_show_list_versions(registered: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli("models", "alias", f"{registered}@champion", "--version", "2", capsys=capsys)
    assert code == 0 and "v2" in out
    code, out, _ = run_cli("models", "list", capsys=capsys)
    assert code == 0 and registered in out and "champion→v2" in out
    code, out, _ = run_cli("models", "versions", registered, capsys=capsys)
    assert code == 0 and out.index("champion") < out.index("runs:/")
    code, out, _ = run_cli("models", "show", f"{registered}@champion", capsys=capsys)
    assert code == 0 and "v2" in out and "model2" in out
    code, out, _ = run_cli("models", "alias", f"{registered}@champion", "--delete", capsys=capsys)
    assert code == 0
    code, _, err = run_cli("models", "show", f"{registered}@champion", capsys=capsys)
    assert code == 2 and "champion" in err


@pytest.mark.parametrize("args,needle", [
    (["models", "show", "nope"], "nope"),
    (["models", "show", "iris-cli/9"], "version=9"),
    (["models", "versions", "nope"], "nope"),
    (["models", "alias", "iris-cli", "--version", "1"], "NAME@ALIAS"),
    (["models", "alias", "iris-cli@latest", "--version", "1"], "latest"),
    (["models", "alias", "iris-cli@best", "--version", "5"], "version=5"),
])
def test_models_errors_exit_2(registered: str, capsys: pytest.CaptureFixture[str], args: list[str],
                              needle: str) -> None:
    code, _, err = run_cli(*args, capsys=capsys)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_promote_gate_and_export_onnx(registered: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = load_iris(as_frame=True).frame
    csv = tmp_path / "eval.csv"
    data.to_csv(csv, index=False)
    base = ["models", "promote", registered, "--data", str(csv), "--target", "target"]
    code, out, _ = run_cli(*base, "--version", "1", "--require", "accuracy >= 0.9", capsys=capsys)
    assert code == 0 and "PROMOTED" in out.upper()
    assert get_backend().registry.get_model_version_by_alias(registered, "champion").version == 1
    code, out, _ = run_cli(*base, "--version", "2", "--require", "accuracy >= 0.999", capsys=capsys)
    assert code == 1 and "FAIL" in out and "accuracy" in out
    code, _, err = run_cli(*base, "--version", "2", "--require", "accuracy >>= 1", capsys=capsys)
    assert code == 2 and "accuracy >>= 1" in err
    code, out, _ = run_cli("models", "export-onnx", f"{registered}@champion", capsys=capsys)
    assert code == 0 and "onnx flavor stored" in out

"""The `keel` command line: tables of experiments and runs, and exit code 2 with one line on errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import keel
from keel_testing import run_cli


@pytest.fixture
def runs(keel_home: Path) -> list[str]:
    keel.set_experiment("cli-exp")
    ids = []
    for lr in (0.1, 0.01):
        with keel.start_run(run_name=f"lr-{lr}") as run:
            keel.log_param("lr", lr)
            keel.log_metric("acc", 1 - lr)
        ids.append(run.run_id)
    return ids


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli("version", capsys=capsys)
    assert code == 0 and out.strip() == f"keel {keel.__version__}"


def test_experiments_list_and_create(runs: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli("experiments", "create", "made-by-cli", capsys=capsys)
    assert code == 0 and out.strip().isdigit()
    code, out, _ = run_cli("experiments", "list", capsys=capsys)
    assert code == 0 and "cli-exp" in out and "made-by-cli" in out and "Default" in out
    code, _, err = run_cli("experiments", "create", "made-by-cli", capsys=capsys)
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1


def test_runs_list_filter_and_order(runs: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli("runs", "list", "-e", "cli-exp", "--order-by", "metrics.acc DESC", capsys=capsys)
    assert code == 0
    assert out.index(runs[1]) < out.index(runs[0])  # acc 0.99 before 0.9
    code, out, _ = run_cli("runs", "list", "-e", "cli-exp", "-f", "params.lr = '0.1'", capsys=capsys)
    assert runs[0] in out and runs[1] not in out


def test_runs_show_compare_delete(runs: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli("runs", "show", runs[0], capsys=capsys)
    assert code == 0 and "params.lr" in out and "0.1" in out and "FINISHED" in out
    code, out, _ = run_cli("runs", "compare", *runs, capsys=capsys)
    assert code == 0 and "lr-0.1" in out and "lr-0.01" in out and "metrics.acc" in out
    code, out, _ = run_cli("runs", "delete", runs[0], capsys=capsys)
    assert code == 0
    assert keel.get_run(runs[0]).info.lifecycle_stage == "deleted"


@pytest.mark.parametrize("args,needle", [
    (["runs", "show", "0123456789abcdef0123456789abcdef"], "does not exist"),
    (["runs", "list", "-f", "metrics.acc >"], "filter"),
    (["runs", "list", "-e", "no-such-experiment"], "no-such-experiment"),
    (["runs", "show", "../bad"], "run_id"),
])
def test_errors_are_one_line_and_exit_2(runs: list[str], capsys: pytest.CaptureFixture[str], args: list[str],
                                        needle: str) -> None:
    code, _, err = run_cli(*args, capsys=capsys)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_console_script_usage_error_exits_2(keel_home: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "keel", "runs", "list", "--max-results", "zero"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr

"""`keel data add|versions|show|checkout` and their errors (exit 2, one line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel_testing import run_cli


@pytest.fixture
def table(keel_home: Path, tmp_path: Path) -> Path:
    src = tmp_path / "train.csv"
    src.write_text("a,b\n1,x\n2,y\n3,\n")
    return src


def test_add_versions_show_checkout(table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli("data", "add", str(table), "--name", "train", "-m", "first", capsys=capsys)
    assert code == 0 and "train@v1" in out and "3 rows" in out
    table.write_text("a,b\n1,x\n")
    code, out, _ = run_cli("data", "add", str(table), "--name", "train", "-m", "smaller", capsys=capsys)
    assert code == 0 and "train@v2" in out

    code, out, _ = run_cli("data", "versions", "train", capsys=capsys)
    assert code == 0 and out.index("v2") < out.index("v1") and "smaller" in out and "first" in out
    code, out, _ = run_cli("data", "show", "train@v1", capsys=capsys)
    assert code == 0 and "row_count" in out and "int64" in out and "first" in out

    code, out, _ = run_cli("data", "checkout", "train@v1", "-o", str(tmp_path / "out"), capsys=capsys)
    assert code == 0 and (tmp_path / "out" / "train.csv").read_text() == "a,b\n1,x\n2,y\n3,\n"
    code, out, _ = run_cli("data", "checkout", str(tmp_path / "train.keel.yaml"), capsys=capsys)
    assert code == 0 and table.read_text() == "a,b\n1,x\n"  # the pointer names v2, the latest


@pytest.mark.parametrize("args, words", [
    (("data", "add", "/no/such/file.csv", "--name", "x"), "does not exist"),
    (("data", "versions", "ghost"), "'ghost' does not exist"),
    (("data", "show", "ghost@v2"), "ghost"),
    (("data", "checkout", "ghost@v1", "-o", "out"), "ghost"),
    (("data", "checkout", "missing.keel.yaml"), "pointer file"),
])
def test_errors_exit_2_with_one_line(keel_home: Path, args: tuple[str, ...], words: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(*args, capsys=capsys)
    assert code == 2 and words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_checkout_needs_an_output_directory(table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_cli("data", "add", str(table), "--name", "train", capsys=capsys)
    code, _, err = run_cli("data", "checkout", "train@v1", capsys=capsys)
    assert code == 2 and "-o DIR" in err

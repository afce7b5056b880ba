"""`keel data checkout BROKEN.keel.yaml`: one readable stderr line naming the file and the line at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel_testing import run_cli


@pytest.mark.parametrize(("body", "where"), [
    ("name: events\nversion: [abc\nnumber: 1\n", "line 3, column 7"),  # an unclosed flow sequence
    ("name: events\n\tversion: abc\n", "line 2, column 1"),  # a tab cannot indent YAML
])
def test_malformed_pointer_is_one_line_naming_file_and_line(keel_home: Path, tmp_path: Path, body: str, where: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    pointer = tmp_path / "events.keel.yaml"
    pointer.write_text(body)
    code, _, err = run_cli("data", "checkout", str(pointer), "-o", str(tmp_path / "d"), capsys=capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert str(pointer) in lines[0] and where in lines[0] and "restore the file from git" in lines[0]
    assert "Traceback" not in err and not (tmp_path / "d").exists()


def test_binary_pointer_is_one_line(keel_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pointer = tmp_path / "events.keel.yaml"
    pointer.write_bytes(b"name: \xff\xfe\n")
    code, _, err = run_cli("data", "checkout", str(pointer), "-o", str(tmp_path / "d"), capsys=capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "not a text file" in err

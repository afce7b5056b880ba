"""Shared e2e fixtures: ONE run of the quick-start demo per session (it takes minutes), reused by the demo test and
the UI's browser tests."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


@dataclass(frozen=True)
class DemoStore:
    """The outcome of ``examples/quickstart.py`` run in ``cwd`` (its store is ``cwd/.keel``)."""

    cwd: Path
    returncode: int
    output: str
    stderr: str

    @property
    def home(self) -> Path:
        return self.cwd / ".keel"


def clean_env() -> dict[str, str]:
    """The environment without KEEL_/MLFLOW_ settings: the demo runs on the embedded default."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "MLFLOW_"))}


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    """Run the quick-start once in a fresh folder. Tests using it need ``@pytest.mark.timeout(900)`` (the first one
    pays for the run).

    While developing, ``KEEL_TEST_DEMO_DIR=<folder>`` reuses a folder where the quick-start already ran with its
    output saved as ``out.txt`` (``python examples/quickstart.py > out.txt``).
    """
    reuse = os.environ.get("KEEL_TEST_DEMO_DIR")
    if reuse:
        folder = Path(reuse)
        return DemoStore(folder, 0, (folder / "out.txt").read_text(), "")
    cwd = tmp_path_factory.mktemp("demo")
    proc = subprocess.run([sys.executable, str(QUICKSTART)], cwd=cwd, env=clean_env(), capture_output=True,
                          text=True, timeout=600)
    return DemoStore(cwd, proc.returncode, proc.stdout, proc.stderr)

"""Tags every run gets automatically: git commit and dirty flag, entry point, user and host."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from keel.config import current_user

__all__ = ["system_tags"]


def system_tags() -> dict[str, str]:
    """MLflow's ``mlflow.*`` source tags plus Keel's host and git dirty flag."""
    entry = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    tags = {
        "mlflow.user": current_user(),
        "mlflow.source.type": "LOCAL",
        "keel.host": socket.gethostname(),
    }
    if entry is not None:
        tags["mlflow.source.name"] = str(entry)
    cwd = entry.parent if entry is not None and entry.is_file() else Path.cwd()
    commit = _git(cwd, "rev-parse", "HEAD")
    if commit:
        tags["mlflow.source.git.commit"] = commit
        dirty = _git(cwd, "status", "--porcelain", "--untracked-files=no")
        tags["keel.git.dirty"] = "true" if dirty else "false"
        branch = _git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
        if branch:
            tags["mlflow.source.git.branch"] = branch
    return tags




def _git(cwd: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=3, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None

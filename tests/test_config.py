"""Settings: defaults, KEEL_* variables and keel.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.config import Settings, get_settings, reset_settings
from keel.errors import InvalidInput


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("KEEL_HOME", "KEEL_DB_URL", "KEEL_ARTIFACT_ROOT", "KEEL_TRACKING_URI", "KEEL_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    reset_settings()


def test_defaults_live_under_dot_keel(tmp_path: Path) -> None:
    s = get_settings()
    assert s.resolved_db_url == f"sqlite:///{tmp_path / '.keel' / 'keel.db'}"
    assert s.resolved_artifact_root == str(tmp_path / ".keel" / "artifacts")
    assert not s.is_remote and s.project == "default"


def test_environment_overrides_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "keel.yaml").write_text("project: from-yaml\nartifact_root: memory://yaml\n")
    monkeypatch.setenv("KEEL_PROJECT", "from-env")
    s = get_settings()
    assert s.project == "from-env" and s.resolved_artifact_root == "memory://yaml"


def test_postgres_url_and_remote_tracking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEL_DB_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("KEEL_TRACKING_URI", "http://127.0.0.1:5000")
    s = get_settings()
    assert s.resolved_db_url == "postgresql+psycopg://u@h/db" and s.is_remote


def test_tracking_uri_path_is_the_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEL_TRACKING_URI", f"file://{tmp_path / 'elsewhere'}")
    s = get_settings()
    assert s.home == tmp_path / "elsewhere" and not s.is_remote


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "keel.yaml").write_text("project: [unclosed\n")
    with pytest.raises(InvalidInput, match=r"keel\.yaml"):
        Settings()

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


def test_environment_types_lists_and_keyword_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEL_PROTECTED_ALIASES", '["gold", "prod"]')
    monkeypatch.setenv("keel_sqlite_busy_timeout_ms", "1500")  # any case, like pydantic-settings
    monkeypatch.setenv("KEEL_AUTH", "true")
    monkeypatch.setenv("KEEL_PROJECT", "from-env")
    s = Settings(project="given")
    assert s.protected_aliases == ["gold", "prod"] and s.sqlite_busy_timeout_ms == 1500 and s.auth is True
    assert s.project == "given" and "project" in s.model_fields_set and "token" not in s.model_fields_set


@pytest.mark.parametrize(("name", "value", "message"), [
    ("KEEL_SQLITE_BUSY_TIMEOUT_MS", "soon", "KEEL_SQLITE_BUSY_TIMEOUT_MS: .*integer"),
    ("KEEL_PROTECTED_ALIASES", "gold", "KEEL_PROTECTED_ALIASES: expected a JSON list"),
    ("KEEL_PROJECT", "x" * 200, "KEEL_PROJECT: .*1-128 characters"),
])
def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                                  message: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidInput, match=message):
        get_settings()

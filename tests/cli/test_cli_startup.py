"""The CLI starts without the heavy data stack: checked on ``sys.modules`` in a fresh interpreter, not by timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("pandas", "pyarrow", "duckdb", "sqlalchemy", "polars")


def _loaded_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """Run ``code`` in a new interpreter and return which of HEAVY it left in ``sys.modules``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          env=env, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_importing_the_cli_loads_no_data_stack() -> None:
    assert _loaded_after("import keel.cli") == set()


def test_keel_version_and_help_load_no_data_stack() -> None:
    loaded = _loaded_after("from keel.cli import main\nfor argv in (['version'], ['--help'], ['data', '--help']):\n"
                           "    try:\n        main(argv)\n    except SystemExit:\n        pass")
    assert loaded == set()


def test_importing_versioning_loads_no_table_libraries() -> None:
    assert _loaded_after("import keel.data.versioning") == set()  # SQLAlchemy too loads only when needed


def test_adding_unchanged_data_loads_no_table_libraries(tmp_path: Path) -> None:
    data = tmp_path / "iris.csv"
    data.write_text("a,b\n1,x\n2,y\n", encoding="utf-8")
    unset = {"KEEL_TRACKING_URI", "KEEL_DB_URL", "KEEL_ARTIFACT_ROOT", "KEEL_EXPERIMENT_NAME"}
    env = {k: v for k, v in os.environ.items() if k not in unset} | {"KEEL_HOME": str(tmp_path / "home")}
    add = f"from keel.cli import main\ntry:\n    main(['data', 'add', {str(data)!r}, '--name', 'iris'])\n" \
          "except SystemExit as exc:\n    assert not exc.code, exc.code"
    first = _loaded_after(add, env)
    assert {"pandas", "pyarrow"} <= first  # a new table version computes its statistics
    again = _loaded_after(add, env)
    assert again == set()  # not even SQLAlchemy: the latest version is read with the standard library


@pytest.mark.parametrize("command", ["diff", "validate", "profile", "add", "versions", "show", "checkout", "push",
                                     "pull"])
def test_data_commands_still_resolve_their_options(command: str) -> None:
    """Typer reads each command's signature; the lazy imports must not have broken any of them."""
    done = subprocess.run([sys.executable, "-m", "keel", "data", command, "--help"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout


def test_a_command_line_builds_only_the_group_it_names() -> None:
    code = ("import sys\nfrom keel.cli import main\ntry:\n    main(['data', 'versions', '--help'])\n"
            "except SystemExit:\n    pass\n"
            "import json\nprint(json.dumps([m for m in sys.modules if m.startswith('keel.cli.')]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "keel.cli.data" in loaded and loaded.isdisjoint({"keel.cli.models", "keel.cli.serve", "keel.cli.audit"})


def test_the_whole_cli_still_lists_every_group_and_command() -> None:
    from keel.cli import app
    from keel.cli.main import _ENTRIES

    groups = {g.name for g in app.registered_groups}
    assert groups == {"experiments", "runs", "models", "deploy", "data", "remote", "features", "pipelines",
                      "monitor", "alerts", "audit", "schedule", "trigger", "users", "tokens", "projects", "members"}
    assert {c.name for c in app.registered_commands} == set(_ENTRIES) - groups | {"version"}
    models = next(g.typer_instance for g in app.registered_groups if g.name == "models")
    assert [c.name for c in models.registered_commands].count("approve") == 1  # attached once, however often built

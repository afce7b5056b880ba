"""`keel models bundle`: pinned requirements, the bundle's layout and manifest, refusals, and a bundle served from a
fresh venv."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import keel
from keel.artifacts import hash_file
from keel.errors import AlreadyExists, Unavailable
from keel.registry.bundle import Distribution, build_bundle, build_keel_wheel, pin_requirements, wheel_metadata
from keel.tracking.context import get_backend
from keel_testing import free_port, run_cli

NAME = "iris-bundle"


@pytest.fixture(scope="module")
def keel_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keel's wheel, built once from the source tree (the bundles of the layout tests reuse it)."""
    return build_keel_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    return load_iris(as_frame=True).frame


@pytest.fixture
def registered(keel_home: Path, iris: pd.DataFrame) -> dict[int, Any]:
    """Two versions of NAME whose predictions differ; ``champion`` points at version 2."""
    x, y = iris.drop(columns="target"), iris["target"]
    models: dict[int, Any] = {1: DecisionTreeClassifier(max_depth=1).fit(x, y),
                                 2: LogisticRegression(max_iter=500).fit(x, y)}
    with keel.start_run():
        for version, model in models.items():
            keel.log_model(model, f"model{version}", input_example=x.head(3), registered_model_name=NAME)
    keel.set_registered_model_alias(NAME, "champion", 2)
    return models


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


# ------------------------------------------------------------------------------------------------ pinning (pure)


def test_pin_requirements_walks_markers_extras_and_cycles() -> None:
    dists = {
        "app": Distribution("App", "1.0", ("Dep_A>=1", 'fastlib; extra == "fast"', 'slowlib; extra == "slow"',
                                           'winlib; sys_platform == "win32"')),
        "dep-a": Distribution("dep-a", "2.1", ("app", "dep-b[x]")),
        "dep-b": Distribution("dep-b", "0.3", ('dep-c; extra == "x"',)),
        "dep-c": Distribution("dep-c", "5"),
        "fastlib": Distribution("fastlib", "9.9"),
        "slowlib": Distribution("slowlib", "1"),
    }
    pinned = pin_requirements(["App[fast]>=0.5", "ghost>=2", 'old; python_version < "3"'],
                              lambda name: dists.get(name.lower().replace("_", "-")))
    assert pinned.pins == ["App[fast]==1.0", "dep-a==2.1", "dep-b[x]==0.3", "dep-c==5", "fastlib==9.9"]
    assert pinned.unresolved == ["ghost>=2"]


def test_pins_match_installed_versions_without_dev_tools(keel_wheel: Path) -> None:
    version, requires = wheel_metadata(keel_wheel)
    assert version == importlib.metadata.version("keel-mlops")
    pinned = pin_requirements([*requires, "scikit-learn"])
    names = {line.split("==")[0].split("[")[0].lower(): line.split("==")[1] for line in pinned.pins}
    assert pinned.unresolved == []
    for name, pin in names.items():
        assert importlib.metadata.version(name) == pin, name
    assert {"fastapi", "uvicorn", "pandas", "numpy", "scikit-learn", "scipy", "blake3"} <= set(names)
    assert not {"pytest", "ruff", "mypy", "mlflow", "mlflow-skinny", "torch", "ray", "psycopg"} & set(names)
    assert any(line.startswith("uvicorn[standard]==") for line in pinned.pins)


# ------------------------------------------------------------------------------------------------ layout


def test_bundle_layout_manifest_and_requirements(registered: dict[int, Any], keel_wheel: Path, tmp_path: Path,
                                                 iris: pd.DataFrame) -> None:
    out = tmp_path / "bundle"
    info = build_bundle(f"{NAME}@champion", out, keel_wheel=keel_wheel)
    assert (info.name, info.version, info.alias, info.flavor) == (NAME, 2, "champion", "sklearn")
    assert sorted(p.name for p in out.iterdir()) == [".dockerignore", "Dockerfile", "README.md", "bundle.json",
                                                     "model", "requirements.txt", "wheels"]
    assert [p.name for p in (out / "wheels").iterdir()] == [keel_wheel.name]
    # the served model is version 2 (the alias), not version 1
    x = iris.drop(columns="target")
    assert np.array_equal(keel.load_model(str(out / "model")).predict(x), registered[2].predict(x))

    requirements = _lines(out / "requirements.txt")
    assert requirements == info.requirements and requirements[-1] == f"keel-mlops=={info.keel_version}"
    assert all("==" in line for line in requirements)
    pinned = {line.split("==")[0].split("[")[0]: line.split("==")[1] for line in requirements[:-1]}
    assert pinned["scikit-learn"] == importlib.metadata.version("scikit-learn")
    assert pinned["cloudpickle"] == importlib.metadata.version("cloudpickle")
    assert not any(line.lower().startswith(("mlflow", "pytest", "torch")) for line in requirements)

    manifest = json.loads((out / "bundle.json").read_text())
    source_run = get_backend().registry.get_model_version(NAME, 2).run_id
    assert source_run and manifest["run_id"] == source_run
    assert (manifest["name"], manifest["version"], manifest["alias"]) == (NAME, 2, "champion")
    assert manifest["keel_version"] == info.keel_version and "sklearn" in manifest["flavors"]
    assert [c["name"] for c in manifest["signature"]["inputs"]] == list(x.columns)
    files = {p.relative_to(out / "model").as_posix(): p for p in (out / "model").rglob("*") if p.is_file()}
    assert manifest["checksums"]["files"] == {rel: hash_file(p)[0] for rel, p in files.items()}
    assert "MLmodel" in files and "model.pkl" in files
    assert "venv/" in _lines(out / ".dockerignore")
    assert f"python:{sys.version_info.major}.{sys.version_info.minor}-slim" in (out / "Dockerfile").read_text()
    assert "--find-links wheels -r requirements.txt" in (out / "README.md").read_text()


def test_bundle_of_a_folder_warns_when_the_saved_framework_differs(keel_wheel: Path, tmp_path: Path,
                                                                   iris: pd.DataFrame) -> None:
    from keel.registry.model_files import save_model

    model_dir = tmp_path / "m"
    save_model(LogisticRegression(max_iter=500).fit(iris.drop(columns="target"), iris["target"]), model_dir)
    (model_dir / "requirements.txt").write_text("scikit-learn==0.0.1\ncloudpickle\n")
    info = build_bundle(str(model_dir), tmp_path / "b", keel_wheel=keel_wheel)
    assert info.name is None and info.version is None
    assert any("scikit-learn==0.0.1" in note and importlib.metadata.version("scikit-learn") in note
               for note in info.warnings)
    assert f"scikit-learn=={importlib.metadata.version('scikit-learn')}" in info.requirements


# ------------------------------------------------------------------------------------------------ refusals


def test_refuses_a_non_empty_folder_and_replaces_only_a_bundle(registered: dict[int, Any], keel_wheel: Path,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(AlreadyExists, match="--force"):
        build_bundle(f"{NAME}@champion", out, keel_wheel=keel_wheel)
    with pytest.raises(AlreadyExists, match="not a Keel bundle"):
        build_bundle(f"{NAME}@champion", out, force=True, keel_wheel=keel_wheel)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]

    bundle = tmp_path / "bundle"
    bundle.mkdir()  # an empty folder is fine
    build_bundle(f"{NAME}/1", bundle, keel_wheel=keel_wheel)
    with pytest.raises(AlreadyExists):
        build_bundle(f"{NAME}@champion", bundle, keel_wheel=keel_wheel)
    build_bundle(f"{NAME}@champion", bundle, force=True, keel_wheel=keel_wheel)
    assert json.loads((bundle / "bundle.json").read_text())["version"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "home", "out"]  # no temp folders left


def test_wheel_needs_a_source_tree(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(keel, "__file__", str(tmp_path / "site-packages" / "keel" / "__init__.py"))
    with pytest.raises(Unavailable, match="--keel-wheel"):
        build_keel_wheel(tmp_path / "wheels")


@pytest.mark.parametrize("ref,needle", [
    (f"{NAME}@nope", "nope"),
    ("no-such-model@champion", "no-such-model"),
    (f"{NAME}/9", "version=9"),
    (NAME, "NAME@ALIAS"),
])
def test_cli_bad_ref_exits_2_with_one_line(registered: dict[int, Any], tmp_path: Path, ref: str, needle: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli("models", "bundle", ref, "-o", str(tmp_path / "b"), capsys=capsys)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()


def test_cli_bundle_prints_summary_and_commands(registered: dict[int, Any], keel_wheel: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "b"
    args = ["models", "bundle", f"{NAME}@champion", "-o", str(out), "--keel-wheel", str(keel_wheel)]
    code, stdout, _ = run_cli(*args, capsys=capsys)
    assert code == 0 and f"bundled {NAME} v2 (@champion)" in stdout.splitlines()[0]
    assert f"docker build -t {NAME}:2 {out}" in stdout and f"--find-links {out / 'wheels'}" in stdout
    code, _, err = run_cli(*args, capsys=capsys)
    assert code == 2 and "--force" in err


# ------------------------------------------------------------------------------------------------ fresh venv


def _dockerfile(path: Path) -> dict[str, list[str]]:
    """Instruction → arguments (JSON form parsed, shell form split), continuation lines joined."""
    text = path.read_text().replace("\\\n", " ")
    parsed: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, rest = line.strip().partition(" ")
            parsed[instruction.upper()] = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
    return parsed


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"keel serve never became ready:\n{log.read_text()}")


@pytest.mark.timeout(900)
def test_bundle_installs_and_serves_from_a_fresh_venv(registered: dict[int, Any], tmp_path: Path,
                                                      iris: pd.DataFrame) -> None:
    out = tmp_path / "bundle"
    build_bundle(f"{NAME}@champion", out)  # builds Keel's wheel from the source tree
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KEEL_", "MLFLOW_", "PYTHON")) and k != "VIRTUAL_ENV"}
    venv = out / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env, timeout=300)
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--find-links", str(out / "wheels"),
                              "-r", str(out / "requirements.txt")], env=env, capture_output=True, text=True,
                             timeout=840)
    assert install.returncode == 0, install.stderr[-3000:]
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import keel; print(keel.__file__)"], env=env,
                           capture_output=True, text=True, check=True).stdout
    assert Path(where.strip()).is_relative_to(venv)  # Keel comes from the bundled wheel, not this checkout

    port, home, log = free_port(), tmp_path / "fresh-home", tmp_path / "serve.log"
    home.mkdir()
    with log.open("wb") as sink:
        proc = subprocess.Popen([str(venv / "bin" / "keel"), "serve", str(out / "model"), "--port", str(port)],
                                env={**env, "KEEL_HOME": str(home)}, stdout=sink, stderr=sink)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, url, log)
        rows = iris.drop(columns="target").sample(20, random_state=0)
        body = {"dataframe_split": {"columns": list(rows.columns), "data": rows.values.tolist()}}
        response = httpx.post(f"{url}/invocations", json=body, timeout=30)
        assert response.status_code == 200, response.text
        expected = keel.load_model(f"models:/{NAME}@champion").predict(rows)
        assert np.array_equal(np.asarray(response.json()["predictions"]), np.asarray(expected))
        assert len(set(expected)) > 1  # a real comparison, not a constant
    finally:
        proc.terminate()
        proc.wait(15)

    docker = _dockerfile(out / "Dockerfile")
    source, destination = docker["COPY"]
    entrypoint = docker["ENTRYPOINT"]
    assert entrypoint[:2] == ["keel", "serve"]
    served = out / source / PurePosixPath(entrypoint[2]).relative_to(destination)
    assert served.resolve() == (out / "model").resolve() and (served / "MLmodel").is_file()
    assert docker["WORKDIR"] == [destination]  # pip's relative --find-links wheels / -r requirements.txt resolve
    assert {"--find-links", "wheels", "-r", "requirements.txt"} <= set(docker["RUN"])
    assert docker["EXPOSE"] == ["8080"] and entrypoint[-2:] == ["--port", "8080"]
    assert docker["FROM"] == [f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"]

"""Self-contained serving bundles: ``keel models bundle NAME@ALIAS -o DIR``.

A bundle is one folder that installs and serves a model wherever Python or Docker runs::

    model/             the model directory (MLmodel, the flavor's files, the model's own requirements)
    requirements.txt   every package serving needs, pinned (==) to the versions installed here
    wheels/            a wheel of Keel itself; pip finds keel-mlops there (--find-links wheels)
    Dockerfile         python:<major.minor>-slim, pip install, ENTRYPOINT keel serve /bundle/model
    .dockerignore
    README.md          how to build and run it with Docker or with a venv
    bundle.json        the model (name, version, alias, run), signature, flavors, Keel version, BLAKE3 checksums

The pins are the transitive closure of what the shipped Keel wheel requires plus the model's framework (the flavor
named in ``MLmodel`` and the model's ``requirements.txt``), each at the version installed in this environment, so
the served environment is the one the model was checked in. Dev tools and MLflow stay out.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import Parser
from pathlib import Path
from typing import Any

from keel.artifacts import hash_file
from keel.errors import AlreadyExists, InvalidInput, NotFound, Unavailable
from keel.registry.entities import ModelVersion
from keel.registry.flavors import get_flavor
from keel.registry.fluent import resolve_model_uri
from keel.registry.model_files import MLMODEL, read_mlmodel
from keel.registry.uris import parse_model_uri
from keel.tracking.context import get_backend

__all__ = ["BundleInfo", "Distribution", "PinnedRequirements", "build_bundle", "build_keel_wheel",
           "installed_distribution", "pin_requirements", "render_dockerfile", "wheel_metadata"]

KEEL_DISTRIBUTION = "keel-mlops"
BUNDLE_ROOT = "/bundle"
MODEL_DIR = "model"
WHEELS_DIR = "wheels"
PORT = 8080
_MLFLOW = re.compile(r"^mlflow(-skinny)?$")


@dataclass(frozen=True)
class Distribution:
    """What pinning needs to know about one installed distribution."""

    name: str
    version: str
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class PinnedRequirements:
    """Pinned requirement lines, and the requirements no installed distribution satisfies (kept as written)."""

    pins: list[str]
    unresolved: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BundleInfo:
    """What :func:`build_bundle` wrote."""

    path: Path
    model_uri: str
    name: str | None
    version: int | None
    alias: str | None
    flavor: str
    keel_version: str
    requirements: list[str]
    warnings: list[str] = field(default_factory=list)

    @property
    def image(self) -> str:
        """A Docker image tag for the bundle (``name:version``, lower-cased)."""
        base = re.sub(r"[^a-z0-9_.-]+", "-", (self.name or "keel-model").lower()).strip("-.") or "keel-model"
        return f"{base}:{self.version or 'latest'}"

    def summary(self) -> str:
        """One line: which model went where, with how many pins."""
        what = f"{self.name} v{self.version}" if self.name else self.model_uri
        via = f" (@{self.alias})" if self.alias else ""
        return (f"bundled {what}{via} [{self.flavor}] into {self.path}: {len(self.requirements)} pinned "
                f"requirements, keel-mlops {self.keel_version}")

    def docker_commands(self) -> str:
        """Build and run the bundle's image."""
        return f"docker build -t {self.image} {self.path} && docker run --rm -p {PORT}:{PORT} {self.image}"

    def venv_commands(self) -> str:
        """Install the bundle into a fresh venv and serve it."""
        venv, python = self.path / "venv", f"python{sys.version_info.major}.{sys.version_info.minor}"
        return (f"{python} -m venv {venv} && {venv}/bin/pip install --find-links {self.path / WHEELS_DIR} "
                f"-r {self.path / 'requirements.txt'} && {venv}/bin/keel serve {self.path / MODEL_DIR} --port {PORT}")


# --------------------------------------------------------------------------------------------------- the bundle


def build_bundle(model: str, out_dir: str | Path, *, force: bool = False,
                 keel_wheel: str | Path | None = None) -> BundleInfo:
    """Write a self-contained serving bundle of ``model`` into ``out_dir``.

    ``model`` is ``NAME@ALIAS``, ``NAME/VERSION``, a model URI or a model folder. The bundle is built in a temp
    folder beside ``out_dir`` and renamed into place. A non-empty ``out_dir`` is refused unless ``force`` (and even
    then only when it is empty or an earlier bundle). Keel's wheel is built from its source tree unless
    ``keel_wheel`` names one.
    """
    target = Path(out_dir).absolute()
    _check_target(target, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        info = _write_bundle(model_uri_for(model), staging, target, keel_wheel)
        _publish(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return info


def model_uri_for(ref: str) -> str:
    """``NAME@ALIAS`` or ``NAME/VERSION`` as a ``models:/`` URI; model URIs and existing folders pass through."""
    if ref.startswith(("models:", "runs:")) or Path(ref).is_dir():
        return ref
    name, _, version = ref.rpartition("/")
    if ("@" in ref and not ref.endswith("@")) or (name and version.isdigit()):
        return f"models:/{ref}"
    raise InvalidInput(f"model: {ref!r} is not NAME@ALIAS, NAME/VERSION, a model URI or a model folder",
                       field="model")


def _write_bundle(uri: str, staging: Path, target: Path, keel_wheel: str | Path | None) -> BundleInfo:
    version, run_id = _fetch_model(uri, staging / MODEL_DIR)
    mlmodel = read_mlmodel(staging / MODEL_DIR)
    wheel = _place_wheel(staging / WHEELS_DIR, keel_wheel)
    keel_version, keel_requires = wheel_metadata(wheel)
    flavor = _loader_flavor(mlmodel)
    model_reqs = _read_requirements(staging / MODEL_DIR / "requirements.txt")
    roots = [*keel_requires, *_framework_roots(flavor, model_reqs)]
    pinned = pin_requirements(roots)
    requirements = [*pinned.pins, *pinned.unresolved, f"{KEEL_DISTRIBUTION}=={keel_version}"]
    warnings = _warnings(pinned, model_reqs)
    (staging / "requirements.txt").write_text("\n".join(requirements) + "\n")
    info = BundleInfo(target, uri, version.name if version else None, version.version if version else None,
                      _alias_of(uri), flavor, keel_version, requirements, warnings)
    _write_manifest(staging, info, mlmodel, run_id)
    (staging / "Dockerfile").write_text(render_dockerfile(f"{sys.version_info.major}.{sys.version_info.minor}"))
    (staging / ".dockerignore").write_text("venv/\n.venv/\n**/__pycache__\n**/*.pyc\n")
    (staging / "README.md").write_text(_readme(info))
    return info


def _fetch_model(uri: str, dest: Path) -> tuple[ModelVersion | None, str | None]:
    """Copy the model's files into ``dest``; return the registered version (if any) and the source run."""
    parsed = parse_model_uri(uri)
    if parsed.kind == "path":
        shutil.copytree(resolve_model_uri(uri, None), dest)
        return None, None
    backend = get_backend()
    version: ModelVersion | None = None
    if parsed.kind in ("alias", "version"):
        registry = backend.registry
        version = (registry.get_model_version_by_alias(parsed.name, parsed.alias) if parsed.alias
                   else registry.get_model_version(parsed.name, parsed.version))
        uri = f"models:/{version.name}/{version.version}"  # the version the alias named, even if it moves now
    location = resolve_model_uri(uri, backend)
    if Path(location).is_dir():
        shutil.copytree(location, dest)
    else:
        dest.mkdir()
        backend.artifacts.get_dir(location, dest)
    if not (dest / MLMODEL).is_file():
        raise NotFound(f"model {uri!r}: no {MLMODEL} file at {location}", field="model")
    return version, (version.run_id if version else parsed.run_id)


def _alias_of(uri: str) -> str | None:
    return parse_model_uri(uri).alias


def _loader_flavor(mlmodel: dict[str, Any]) -> str:
    """The flavor :func:`keel.load_model` uses for this MLmodel (as ``model_files`` picks it)."""
    chosen = (mlmodel.get("keel") or {}).get("flavor")
    if chosen:
        return str(chosen)
    return "sklearn" if "sklearn" in mlmodel["flavors"] else "mlflow_pyfunc"


def _framework_roots(flavor: str, model_reqs: list[str]) -> list[str]:
    """The flavor's packages and the model's own requirements, by name; no Keel, and MLflow only if it loads."""
    names = list(get_flavor(flavor).packages) if flavor != "mlflow_pyfunc" else ["mlflow-skinny"]
    canonical = _packaging()[1]
    for line in model_reqs:
        name = _requirement(line).name
        if canonical(name) == KEEL_DISTRIBUTION or (_MLFLOW.match(canonical(name)) and flavor != "mlflow_pyfunc"):
            continue
        names.append(line)
    return names


def _warnings(pinned: PinnedRequirements, model_reqs: list[str]) -> list[str]:
    """Pins that differ from what the model was saved with, unresolved requirements, and non-PyPI versions."""
    canonical = _packaging()[1]
    pins = {canonical(_requirement(p).name): p.rsplit("==", 1)[1] for p in pinned.pins}
    notes = [f"{line}: not installed here, so not pinned; the bundle installs it as written"
             for line in pinned.unresolved]
    for line in model_reqs:
        req = _requirement(line)
        saved = next((s.version for s in req.specifier if s.operator == "=="), None)
        now = pins.get(canonical(req.name))
        if saved and now and saved != now:
            notes.append(f"the model was saved with {req.name}=={saved}; the bundle pins the installed {now}")
    notes += [f"{p}: a local version (+...) is not on PyPI; give pip the index it came from (--extra-index-url)"
              for p in pinned.pins if "+" in p]
    return notes


def _read_requirements(file: Path) -> list[str]:
    if not file.is_file():
        return []
    lines = (line.split("#", 1)[0].strip() for line in file.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def _write_manifest(staging: Path, info: BundleInfo, mlmodel: dict[str, Any], run_id: str | None) -> None:
    model_dir = staging / MODEL_DIR
    files = sorted(p for p in model_dir.rglob("*") if p.is_file())
    manifest = {
        "model_uri": info.model_uri,
        "name": info.name,
        "version": info.version,
        "alias": info.alias,
        "run_id": run_id,
        "flavor": info.flavor,
        "flavors": sorted(mlmodel["flavors"]),
        "signature": _signature(mlmodel.get("signature")),
        "keel_version": info.keel_version,
        "python_version": platform.python_version(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "checksums": {"algorithm": "blake3",
                      "files": {p.relative_to(model_dir).as_posix(): hash_file(p)[0] for p in files}},
    }
    (staging / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")


def _signature(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """MLmodel keeps each part of the signature as a JSON string (as MLflow does); the manifest keeps JSON."""
    if not raw:
        return None
    return {key: json.loads(value) if isinstance(value, str) else value for key, value in raw.items()}


def render_dockerfile(python_minor: str) -> str:
    """The bundle's Dockerfile: install the pinned requirements and Keel's wheel, then ``keel serve`` the model."""
    entrypoint = ["keel", "serve", f"{BUNDLE_ROOT}/{MODEL_DIR}", "--host", "0.0.0.0", "--port", str(PORT)]
    return (f"# A Keel serving bundle: docker build -t NAME . && docker run -p {PORT}:{PORT} NAME\n"
            f"FROM python:{python_minor}-slim\n"
            f"WORKDIR {BUNDLE_ROOT}\n"
            f"COPY . {BUNDLE_ROOT}\n"
            f"RUN pip install --no-cache-dir --find-links {WHEELS_DIR} -r requirements.txt \\\n"
            "    && useradd --create-home --uid 10001 keel\n"
            "USER keel\n"
            # serving a folder needs no store, but settings still name a home; keep it writable and out of /bundle
            "ENV KEEL_HOME=/home/keel/.keel PYTHONUNBUFFERED=1\n"
            f"EXPOSE {PORT}\n"
            f"ENTRYPOINT {json.dumps(entrypoint)}\n")


def _readme(info: BundleInfo) -> str:
    what = f"`{info.name}` version {info.version}" if info.name else f"`{info.model_uri}`"
    return (f"# Serving bundle: {what}\n\n"
            f"Made by `keel models bundle` with Keel {info.keel_version} ({info.flavor} flavor). `bundle.json` says "
            "which model this is and holds BLAKE3 checksums of every file under `model/`.\n\n"
            "## Docker\n\n"
            f"```sh\ndocker build -t {info.image} .\ndocker run --rm -p {PORT}:{PORT} {info.image}\n```\n\n"
            "## A virtual environment\n\n"
            f"```sh\npython{sys.version_info.major}.{sys.version_info.minor} -m venv venv\n"
            f"venv/bin/pip install --find-links {WHEELS_DIR} -r requirements.txt\n"
            f"venv/bin/keel serve {MODEL_DIR} --port {PORT}\n```\n\n"
            "## Calling it\n\n"
            f"```sh\ncurl -s localhost:{PORT}/v2/health/ready\n"
            f"curl -s localhost:{PORT}/invocations -H 'Content-Type: application/json' \\\n"
            "  -d '{\"dataframe_split\": {\"columns\": [...], \"data\": [[...]]}}'\n```\n")


def _check_target(target: Path, force: bool) -> None:
    if target.exists() and not target.is_dir():
        raise AlreadyExists(f"bundle directory {str(target)!r} is a file; choose another output folder",
                            field="output")
    if not target.is_dir() or not any(target.iterdir()):
        return
    if not force:
        raise AlreadyExists(f"bundle directory {str(target)!r} exists and is not empty; choose another output "
                            "folder or pass --force to replace it", field="output")
    if not (target / "bundle.json").is_file():
        raise AlreadyExists(f"bundle directory {str(target)!r} is not a Keel bundle (no bundle.json); --force only "
                            "replaces an earlier bundle, so choose another output folder", field="output")


def _publish(staging: Path, target: Path) -> None:
    """Rename the finished bundle into place, swapping out an earlier one (or an empty folder)."""
    if not target.exists():
        os.replace(staging, target)
        return
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


# ------------------------------------------------------------------------------------------------------- pinning


def installed_distribution(name: str) -> Distribution | None:
    """The installed distribution called ``name`` (or a module of that name, e.g. xgboost from xgboost-cpu)."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return _module_distribution(name)
    return Distribution(dist.metadata["Name"], dist.version, tuple(dist.requires or ()))


def _module_distribution(name: str) -> Distribution | None:
    try:
        version = getattr(importlib.import_module(name.replace("-", "_")), "__version__", None)
    except ImportError:
        return None
    return Distribution(name, str(version)) if version else None


def pin_requirements(roots: Iterable[str],
                     lookup: Callable[[str], Distribution | None] = installed_distribution) -> PinnedRequirements:
    """``Name[extras]==version`` for ``roots`` and everything they need, transitively, as ``lookup`` finds them.

    Markers are evaluated for this interpreter (and for the extras asked for); a requirement whose marker is false
    is skipped. One that ``lookup`` cannot find is returned in ``unresolved`` as written. Sorted by name.
    """
    requirement, canonical = _packaging()
    found: dict[str, tuple[Distribution, frozenset[str]]] = {}
    unresolved: dict[str, str] = {}
    queue = [(requirement(line), frozenset[str]()) for line in roots]
    while queue:
        req, parent_extras = queue.pop()
        if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in parent_extras | {""}):
            continue
        key = canonical(req.name)
        known = found.get(key)
        if known is not None and req.extras <= known[1]:
            continue
        dist = known[0] if known else lookup(req.name)
        if dist is None:
            unresolved.setdefault(key, str(req).split(";", 1)[0].strip())
            continue
        extras = frozenset(req.extras) | (known[1] if known else frozenset())
        found[key] = (dist, extras)
        queue += [(requirement(line), extras) for line in dist.requires]
    pins = [f"{d.name}{_extras(x)}=={d.version}" for _, (d, x) in sorted(found.items())]
    return PinnedRequirements(pins, [line for key, line in sorted(unresolved.items()) if key not in found])


def _extras(extras: frozenset[str]) -> str:
    return f"[{','.join(sorted(extras))}]" if extras else ""


def _requirement(line: str) -> Any:
    try:
        return _packaging()[0](line)
    except ValueError as exc:  # packaging's InvalidRequirement
        raise InvalidInput(f"requirement {line!r} is not a valid pip requirement: {exc}", field="requirements") from exc


def _packaging() -> tuple[Any, Callable[[str], str]]:
    try:
        from packaging.requirements import Requirement
        from packaging.utils import canonicalize_name
    except ImportError as exc:
        raise Unavailable("bundling needs the 'packaging' library to read requirements; run: pip install packaging",
                          field="packaging") from exc
    return Requirement, canonicalize_name


# --------------------------------------------------------------------------------------------------- Keel's wheel


def wheel_metadata(wheel: Path) -> tuple[str, list[str]]:
    """The version and ``Requires-Dist`` lines of a wheel (read from its ``METADATA``)."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            metadata = Parser().parsestr(archive.read(name).decode())
    except (OSError, zipfile.BadZipFile, StopIteration) as exc:
        raise InvalidInput(f"{wheel} is not a readable wheel: {exc or 'no METADATA'}", field="keel_wheel") from exc
    return str(metadata["Version"]), list(metadata.get_all("Requires-Dist") or [])


def _place_wheel(dest: Path, keel_wheel: str | Path | None) -> Path:
    dest.mkdir()
    if keel_wheel is None:
        return build_keel_wheel(dest)
    source = Path(keel_wheel)
    if not source.is_file() or not source.name.startswith("keel_mlops-") or source.suffix != ".whl":
        raise NotFound(f"keel wheel {str(source)!r}: no such keel_mlops-*.whl file", field="keel_wheel")
    return Path(shutil.copy2(source, dest / source.name))


def build_keel_wheel(dest: str | Path) -> Path:
    """Build a wheel of the running Keel from its source tree into ``dest`` (``pip wheel --no-deps``).

    The tree is copied first (project files and ``src/``), so the build leaves nothing in the checkout.
    """
    root = _source_root()
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="keel-wheel-") as tmp:
        copy = Path(tmp)
        for entry in root.iterdir():
            if entry.is_file():
                shutil.copy2(entry, copy / entry.name)
        shutil.copytree(root / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        _pip_wheel(copy, out, root)
    wheels = sorted(out.glob("keel_mlops-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise Unavailable(f"pip built no keel_mlops wheel from {root}", field="keel_wheel")
    return wheels[-1]


def _source_root() -> Path:
    import keel

    package = Path(keel.__file__).resolve().parent
    for root in (package.parent.parent, package.parent):  # src layout, then flat
        project = root / "pyproject.toml"
        if project.is_file() and (root / "src").is_dir() and _project_name(project) == KEEL_DISTRIBUTION:
            return root
    raise Unavailable(f"cannot build a wheel of Keel: it is installed at {package}, not from a source tree; pass "
                      "--keel-wheel with a keel_mlops wheel", field="keel_wheel")


def _project_name(pyproject: Path) -> str | None:
    try:
        return str(tomllib.loads(pyproject.read_text())["project"]["name"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return None


def _pip_wheel(source: Path, out: Path, root: Path) -> None:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(source)]
    if importlib.util.find_spec("setuptools") is not None:  # build with what is installed: faster, no download
        command.insert(4, "--no-build-isolation")
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise Unavailable(f"could not build a wheel of Keel from {root} (pip wheel exited {proc.returncode}: "
                          f"{tail}); pass --keel-wheel with a keel_mlops wheel", field="keel_wheel")


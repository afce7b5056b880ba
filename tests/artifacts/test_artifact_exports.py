"""The public surface of keel.artifacts, and its one allowed dependency inside Keel (keel.errors)."""

from __future__ import annotations

import ast
from pathlib import Path

import keel.artifacts

PACKAGE_DIR = Path(keel.artifacts.__file__).parent


def test_exported_members() -> None:
    assert sorted(keel.artifacts.__all__) == [
        "ArtifactRepository",
        "BlobStore",
        "CHUNK_SIZE",
        "FileInfo",
        "FsspecStorage",
        "check_digest",
        "check_path",
        "hash_bytes",
        "hash_file",
    ]
    assert keel.artifacts.CHUNK_SIZE == 1 << 20
    for name in set(keel.artifacts.__all__) - {"CHUNK_SIZE"}:
        assert getattr(keel.artifacts, name).__module__.startswith("keel.artifacts.")


def test_imports_nothing_from_keel_but_errors() -> None:
    offending = []
    for module in sorted(PACKAGE_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                inside = name == "keel" or name.startswith("keel.")
                if inside and name != "keel.errors" and not name.startswith("keel.artifacts"):
                    offending.append(f"{module.name}: {name}")
            if isinstance(node, ast.ImportFrom) and node.level > 1:
                offending.append(f"{module.name}: relative import above the package")
    assert offending == []

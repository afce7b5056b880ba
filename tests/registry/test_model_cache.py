"""The local cache of downloaded model folders: a finished copy is reused, and a copy another process finished
first (a second `keel serve` worker) is used, never deleted from under it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from keel.registry.fluent import download_model_dir


class _Artifacts:
    """Writes a model folder like an artifact store would; ``during`` runs while the download is in flight."""

    def __init__(self, label: str = "", during: Any = None) -> None:
        self.calls = 0
        self.label = label
        self.during = during

    def get_dir(self, location: str, dest: Path) -> None:
        self.calls += 1
        (dest / "MLmodel").write_text(f"flavors: {{}}\n# {self.label} download {self.calls}\n")
        (dest / "serving_input_example.json").write_text("{}")
        if self.during is not None:
            self.during()


def _backend(home: Path, artifacts: _Artifacts) -> Any:
    return SimpleNamespace(settings=SimpleNamespace(home=str(home)), artifacts=artifacts)


def test_a_finished_copy_is_reused_without_downloading_again(tmp_path: Path) -> None:
    artifacts = _Artifacts()
    first = download_model_dir(_backend(tmp_path, artifacts), "store://run/model", "models:/m/1")
    second = download_model_dir(_backend(tmp_path, artifacts), "store://run/model", "models:/m/1")
    assert first == second and artifacts.calls == 1
    assert (first / "serving_input_example.json").is_file()
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no staging folder left behind


def test_a_copy_another_process_finished_first_is_kept(tmp_path: Path) -> None:
    target_holder: dict[str, Path] = {}

    def other_worker_finishes() -> None:  # the other worker renames its complete copy into place meanwhile
        root = tmp_path / "cache" / "models"
        other = download_model_dir(_backend(tmp_path, _Artifacts("other")), "store://run/model", "models:/m/1")
        target_holder["path"] = other
        assert (root / other.name / "MLmodel").read_text().endswith("# other download 1\n")

    artifacts = _Artifacts("this", during=other_worker_finishes)
    got = download_model_dir(_backend(tmp_path, artifacts), "store://run/model", "models:/m/1")
    assert got == target_holder["path"]
    # the other worker may be loading its copy right now: it stays, this download is dropped
    assert (got / "MLmodel").read_text().endswith("# other download 1\n")
    assert (got / "serving_input_example.json").is_file()  # the other worker's files were not deleted
    assert [p.name for p in got.parent.iterdir()] == [got.name]

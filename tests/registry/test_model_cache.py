"""The local cache of downloaded model folders: a changed model (an ONNX export adds a flavor in place) gets a new
folder while the old one stays for whoever still reads it, and a copy another process finished first (a second
`keel serve` worker) is used, never deleted from under it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from keel.registry.fluent import download_model_dir


class _Artifacts:
    """Writes a model folder like an artifact store would; ``during`` runs while the download is in flight."""

    def __init__(self, flavors: str = "sklearn", who: str = "", during: Any = None) -> None:
        self.calls = 0
        self.flavors = flavors
        self.who = who
        self.during = during

    def get_dir(self, location: str, dest: Path) -> None:
        self.calls += 1
        (dest / "MLmodel").write_text(f"flavors: [{self.flavors}]\n")
        (dest / "who.txt").write_text(self.who)
        if self.during is not None:
            self.during()


def _backend(home: Path, artifacts: _Artifacts) -> Any:
    return SimpleNamespace(settings=SimpleNamespace(home=str(home)), artifacts=artifacts)


def _download(home: Path, artifacts: _Artifacts) -> Path:
    return download_model_dir(_backend(home, artifacts), "store://run/model", "models:/m/1")


def test_the_same_model_lands_in_the_same_folder_and_a_changed_one_in_a_new_one(tmp_path: Path) -> None:
    first = _download(tmp_path, _Artifacts())
    again = _download(tmp_path, _Artifacts())
    assert again == first and (first / "MLmodel").read_text() == "flavors: [sklearn]\n"
    exported = _download(tmp_path, _Artifacts(flavors="sklearn, onnx"))  # the same location, files changed
    assert exported != first and (exported / "MLmodel").read_text() == "flavors: [sklearn, onnx]\n"
    assert (first / "MLmodel").is_file()  # a process still loading the old copy keeps it
    assert sorted(p.name for p in first.parent.iterdir()) == sorted([first.name, exported.name])  # no staging left


def test_a_copy_another_process_finished_first_is_kept(tmp_path: Path) -> None:
    theirs: dict[str, Path] = {}

    def other_worker_finishes() -> None:  # the other worker renames its complete copy into place meanwhile
        theirs["path"] = _download(tmp_path, _Artifacts(who="other"))

    mine = _download(tmp_path, _Artifacts(who="this", during=other_worker_finishes))
    assert mine == theirs["path"]
    assert (mine / "who.txt").read_text() == "other"  # the other worker may be loading it: it stays as it was
    assert [p.name for p in mine.parent.iterdir()] == [mine.name]

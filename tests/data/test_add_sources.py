"""`keel data add` from elsewhere: a file over http(s), a directory on another fsspec store, a table through a
SQLAlchemy URL — staged, snapshotted, the pointer written where the command runs, the staging cleaned up."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pandas as pd
import pytest
from sqlalchemy import create_engine

import keel.data
from keel.errors import InvalidInput, NotFound
from keel_testing import run_cli

FRAME = pd.DataFrame({"id": range(20), "score": [i / 4 for i in range(20)]})


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(_Quiet, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", served
    server.shutdown()


def test_add_a_file_over_http(keel_home: Path, http_dir: tuple[str, Path], tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    url, served = http_dir
    FRAME.to_csv(served / "scores.csv", index=False)
    monkeypatch.chdir(tmp_path)
    version = keel.data.add(f"{url}/scores.csv", "scores")
    assert version.source == f"{url}/scores.csv" and version.row_count == 20
    pd.testing.assert_frame_equal(keel.data.load("scores@v1"), FRAME, check_dtype=False)
    assert (tmp_path / "scores.keel.yaml").is_file()  # the pointer goes where the command runs
    assert not any((keel_home / "cache" / "staging").iterdir())  # staging removed
    assert keel.data.add(f"{url}/scores.csv", "scores").id == version.id  # unchanged: same version


def test_add_a_directory_from_another_store(keel_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fs = fsspec.filesystem("memory")
    for i in range(3):
        with fs.open(f"/bucket/parts/p{i}.csv", "w") as fh:
            FRAME.iloc[i * 5:(i + 1) * 5].to_csv(fh, index=False)
    monkeypatch.chdir(tmp_path)
    version = keel.data.add("memory://bucket/parts", "parts")
    assert version.file_count == 3 and version.kind == "dir"
    assert sorted(keel.data.load("parts@v1")["id"]) == list(range(15))


def test_add_a_table_through_sqlalchemy(keel_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    FRAME.to_sql("scores", engine, index=False)
    engine.dispose()
    monkeypatch.chdir(tmp_path)
    version = keel.data.add(postgres_url, "scores-table", query="SELECT * FROM scores WHERE id < 10")
    assert version.row_count == 10 and [c["name"] for c in version.schema or []] == ["id", "score"]
    assert keel.data.load("scores-table@v1")["score"].tolist() == FRAME["score"].head(10).tolist()


def test_bad_sources_are_clear_errors(keel_home: Path, http_dir: tuple[str, Path], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = http_dir
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotFound):
        keel.data.add(f"{url}/nope.csv", "nope")
    with pytest.raises(InvalidInput, match="--query"):
        keel.data.add("sqlite:///" + str(tmp_path / "x.db"), "table")
    code, _, err = run_cli("data", "add", "memory://no/such/dir", "--name", "gone", capsys=capsys)
    assert code == 2 and err.count("\n") == 1 and "memory://no/such/dir" in err

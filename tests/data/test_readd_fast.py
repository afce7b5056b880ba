"""The no-op re-add's fast path: a tree signature in the stat cache, and the latest version read without SQLAlchemy."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from keel import data
from keel.config import get_settings
from keel.data import snapshot, versioning
from keel.data.statcache import StatCache
from keel.store.sqlite_reader import read_sqlite, sqlite_file


def _settle(root: Path) -> None:
    past = time.time() - 60
    for path in [root, *root.rglob("*")]:
        os.utime(path, (past, past))


@pytest.fixture
def tree(keel_home: Path, tmp_path: Path) -> Path:
    root = tmp_path / "samples"
    (root / "a").mkdir(parents=True)
    for i in range(20):
        (root / "a" / f"s{i}.txt").write_text(f"sample {i}\n")
    return root


def _add_in_a_fresh_process(root: Path, home: Path) -> tuple[str, bool]:
    code = ("import sys; from keel.data import versioning; v = versioning.add(sys.argv[1], 'samples'); "
            "print(v.ref, 'sqlalchemy' in sys.modules)")
    env = {**os.environ, "KEEL_HOME": str(home)}
    out = subprocess.run([sys.executable, "-c", code, str(root)], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0], out[1] == "True"


def test_noop_readd_in_a_fresh_process_never_loads_sqlalchemy(tree: Path, keel_home: Path) -> None:
    _settle(tree)
    assert _add_in_a_fresh_process(tree, keel_home) == ("samples@v1", True)
    assert _add_in_a_fresh_process(tree, keel_home) == ("samples@v1", False)
    (tree / "a" / "s3.txt").write_text("changed\n")
    _settle(tree)
    assert _add_in_a_fresh_process(tree, keel_home) == ("samples@v2", True)  # a change still makes a version
    assert _add_in_a_fresh_process(tree, keel_home) == ("samples@v2", False)


def test_tree_digest_is_remembered_only_for_settled_files(tree: Path) -> None:
    cache = StatCache(get_settings().home / "state" / "data_stat.db")
    root = str(tree.absolute())
    v1 = data.add(tree, "samples")  # files written just now: inside the racy window, nothing is remembered
    assert cache.tree_digest(root, snapshot.signature(*snapshot.scan(tree))) is None
    _settle(tree)
    again = data.add(tree, "samples")
    assert again == v1
    assert cache.tree_digest(root, snapshot.signature(*snapshot.scan(tree))) == v1.manifest_digest


def test_signature_follows_every_stat_field_and_name(tree: Path) -> None:
    _settle(tree)
    base = snapshot.signature(*snapshot.scan(tree))
    assert snapshot.signature(*snapshot.scan(tree)) == base
    target = tree / "a" / "s1.txt"
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 1))
    touched = snapshot.signature(*snapshot.scan(tree))
    target.rename(tree / "a" / "s1b.txt")
    renamed = snapshot.signature(*snapshot.scan(tree))
    shutil.copy2(tree / "a" / "s1b.txt", tree / "a" / "s1c.txt")  # same bytes and mtime, another inode
    (tree / "a" / "s1b.txt").unlink()
    (tree / "a" / "s1c.txt").rename(tree / "a" / "s1b.txt")
    new_inode = snapshot.signature(*snapshot.scan(tree))
    assert len({base, touched, renamed, new_inode}) == 4
    kind, files = snapshot.scan(tree)
    assert snapshot.signature("file", files) != snapshot.signature(kind, files)


def test_latest_read_with_the_standard_library_equals_the_store(tree: Path, keel_home: Path) -> None:
    data.add(tree, "samples", "first")
    (tree / "a" / "s0.txt").write_text("new\n")
    v2 = data.add(tree, "samples", "second")
    local = versioning._local()
    assert local.latest("samples") == local.store.latest("samples") == v2
    assert local.latest("missing") is None

    url = get_settings().resolved_db_url
    query = "SELECT number FROM dataset_versions ORDER BY number"
    assert read_sqlite(url, query) == [(1,), (2,)]
    assert read_sqlite("postgresql+psycopg://u@h/db", query) is None
    assert read_sqlite(f"sqlite:///{keel_home / 'nothing.db'}", query) is None
    assert sqlite_file("sqlite:///:memory:") is None and sqlite_file(url) == str(keel_home.absolute() / "keel.db")

    old = keel_home / "old.db"
    source, conn = sqlite3.connect(keel_home / "keel.db"), sqlite3.connect(old)
    source.backup(conn)  # (a file copy would miss what is still in the WAL)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    source.close()
    conn.close()
    assert read_sqlite(f"sqlite:///{old}", query) is None  # not at head: the caller migrates first


def test_metadata_opens_beside_the_copy_and_its_failure_reaches_the_caller(tree: Path, keel_home: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from keel.config import reset_settings
    from keel.errors import InvalidInput

    threads: list[str] = []
    real = versioning._database
    monkeypatch.setattr(versioning, "_database", lambda: threads.append(threading.current_thread().name) or real())
    assert data.add(tree, "samples").number == 1
    assert threads == ["keel-open-metadata"]  # opened in its own thread while the files were stored

    monkeypatch.setenv("KEEL_DB_URL", "mysql://nobody@localhost/keel")
    reset_settings()
    (tree / "a" / "s0.txt").write_text("changed\n")
    with pytest.raises(InvalidInput, match="KEEL_DB_URL"):
        data.add(tree, "samples")


def test_files_are_stored_without_gc_pauses_and_gc_comes_back(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    seen: list[bool] = []
    real = snapshot.ingest_files

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        raise OSError("disk gone")  # the collector must come back on errors too

    monkeypatch.setattr(snapshot, "ingest_files", spy)
    with pytest.raises(OSError):
        data.add(tree, "samples")
    assert seen == [False] and gc.isenabled()
    monkeypatch.setattr(snapshot, "ingest_files", real)
    assert data.add(tree, "samples").number == 1 and gc.isenabled()

"""``keel.data.add`` with the artifact root on S3 (moto's server): the generic, non-local path end to end."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from keel import data
from keel.artifacts import BlobStore
from keel.artifacts.storage import TEMP_PREFIX
from keel.tracking.context import reset_backend
from keel_testing import free_port

s3fs = pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """One S3 server for the module: s3fs caches its filesystems (and the endpoint they were made with)."""
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_root(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh prefix in the bucket, as the artifact root's URL."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": moto_endpoint}.items():
        monkeypatch.setenv(key, value)
    s3fs.S3FileSystem(skip_instance_cache=True).makedirs("keel-root", exist_ok=True)
    return f"s3://keel-root/store-{uuid.uuid4().hex[:8]}"


def test_add_and_checkout_with_an_s3_artifact_root(keel_home: Path, tmp_path: Path, s3_root: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "raw"
    root.mkdir()
    contents = {f"f{i}.bin": os.urandom(3000 + i) for i in range(5)}
    for name, body in contents.items():
        (root / name).write_bytes(body)
    past = time.time() - 60
    for p in [root, *root.iterdir()]:
        os.utime(p, (past, past))
    monkeypatch.setenv("KEEL_ARTIFACT_ROOT", s3_root)
    reset_backend()

    v1 = data.add(root, "raw")
    assert data.add(root, "raw") == v1
    (root / "f0.bin").write_bytes(b"changed")
    v2 = data.add(root, "raw")
    assert v2.number == 2

    out = data.checkout("raw@v1", tmp_path / "out")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == contents
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    assert not [p for p in fs.find(s3_root) if TEMP_PREFIX in p]
    assert len(list(BlobStore(s3_root).digests())) == 5 + 1 + 2  # v1's files, v2's new file, two manifests


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_validate_reads_a_version_in_place_on_an_s3_root(keel_home: Path, tmp_path: Path, s3_root: str,
                                                         monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    import pandas as pd

    from keel.data.validate_run import validate
    from keel.data.validation import Distribution, InRange, RowCount, Suite, Unique

    monkeypatch.setenv("KEEL_ARTIFACT_ROOT", s3_root)
    reset_backend()
    frame = pd.DataFrame({"id": [1, 2, 3, 3, 5], "amount": [5.0, -1.0, 3.0, 2.0, 9.0]})
    path = tmp_path / f"orders{suffix}"
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    data.add(path, "orders")
    monkeypatch.setattr("keel.data.versioning.load", lambda *a, **k: pytest.fail("loaded the whole version"))
    result = validate("orders@v1", Suite(checks=[Unique(column="id"), InRange(column="amount", min=0),
                                                 RowCount(min=5, max=5)]))
    unique, in_range, rows = result.checks
    assert (unique.failing_rows, in_range.failing_rows, rows.passed) == (1, 1, True)
    assert in_range.examples == [{"id": 2, "amount": -1.0}]
    # a reference on the same store: its filesystem is registered once on the connection
    drift = validate("orders@v1", Suite(checks=[Distribution(column="amount", reference="orders@v1")])).checks[0]
    assert drift.passed and drift.observed["statistic"] == 0.0

"""Push/pull against a real S3 protocol: s3fs talking to moto's standalone S3 server, started by the test."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from keel import data
from keel.artifacts import FsspecStorage
from keel.artifacts.storage import TEMP_PREFIX
from keel.errors import CorruptArtifact, NotFound, Unavailable
from keel.tracking.context import reset_backend
from keel_testing import cut_uploads_off, free_port

s3fs = pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[s3fs.S3FileSystem]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True)
    fs.mkdir("keel-test")  # a new bucket per test: nothing carries over
    yield fs
    fs.rm("keel-test", recursive=True)


def _s3_objects(fs: s3fs.S3FileSystem) -> list[str]:
    fs.invalidate_cache()
    return [p for p in fs.find("keel-test/ds") if "/objects/" in p]


def test_push_pull_round_trip_through_s3(keel_home: Path, tmp_path: Path, bucket: s3fs.S3FileSystem,
                                         s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "sales"
    root.mkdir()
    for i in range(3):
        pd.DataFrame({"id": range(i * 5, i * 5 + 5), "x": [i] * 5}).to_parquet(root / f"p{i}.parquet")
    past = time.time() - 60
    for p in [root, *root.iterdir()]:
        os.utime(p, (past, past))
    data.add_remote("origin", "s3://keel-test/ds", {"endpoint_url": s3_endpoint})
    data.add(root, "sales")
    expected = data.load("sales")

    with monkeypatch.context() as patch:  # uploads go straight to their key: no server-side copy from a temp key

        def no_copy(*args: object, **kwargs: object) -> None:
            raise AssertionError("an object was copied on S3")

        patch.setattr(s3fs.S3FileSystem, "_cp_file", no_copy)
        assert data.push("sales").objects == 4
    assert data.push("sales").objects == 0
    assert len(_s3_objects(bucket)) == 4 and not [p for p in bucket.find("keel-test") if TEMP_PREFIX in p]

    monkeypatch.setenv("KEEL_HOME", str(tmp_path / "elsewhere"))
    reset_backend()
    data.add_remote("origin", "s3://keel-test/ds", {"endpoint_url": s3_endpoint})
    pulled = data.pull("sales@v1")
    assert pulled.versions == ["sales@v1"] and pulled.objects == 4
    pd.testing.assert_frame_equal(data.load("sales@v1"), expected)


def test_s3_push_failing_midway_then_retry_and_corruption(keel_home: Path, tmp_path: Path,
                                                          bucket: s3fs.S3FileSystem, s3_endpoint: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "raw"
    root.mkdir()
    for i in range(6):
        (root / f"f{i}.bin").write_bytes(os.urandom(2000 + i))
    data.add_remote("origin", "s3://keel-test/ds", {"endpoint_url": s3_endpoint})
    data.add(root, "raw")
    original, calls = FsspecStorage._write_remote, {"n": 0}

    def flaky(self: FsspecStorage, tmp: str, final: str, chunks: Iterable[bytes]) -> None:
        calls["n"] += 1
        if calls["n"] <= 3:
            return original(self, tmp, final, chunks)

        def cut_off() -> Iterator[bytes]:  # the connection drops after 1,000 bytes of the 4th object went out
            for chunk in chunks:
                yield chunk[:1000]
                raise OSError("connection reset")

        return original(self, tmp, final, cut_off())

    monkeypatch.setattr(FsspecStorage, "_write_remote", flaky)
    with pytest.raises(Unavailable, match="connection reset"):
        data.push("raw", workers=1)
    assert len(_s3_objects(bucket)) == 3 and not bucket.exists("keel-test/ds/datasets")
    assert not [p for p in bucket.find("keel-test") if TEMP_PREFIX in p]  # the cut-off upload left nothing
    monkeypatch.setattr(FsspecStorage, "_write_remote", original)
    assert data.push("raw").objects == 4  # the 3 missing files + manifest
    assert not [p for p in bucket.find("keel-test") if TEMP_PREFIX in p]

    victim = next(p for p in _s3_objects(bucket) if bucket.size(p) == 2003)
    bucket.pipe(victim, b"not the bytes you pushed")
    monkeypatch.setenv("KEEL_HOME", str(tmp_path / "elsewhere"))
    reset_backend()
    data.add_remote("origin", "s3://keel-test/ds", {"endpoint_url": s3_endpoint})
    with pytest.raises(CorruptArtifact, match="is corrupt"):
        data.pull("raw")
    with pytest.raises(NotFound):
        data.get_version("raw@v1")


def test_read_streams_csv_parquet_and_jsonl_from_s3(bucket: s3fs.S3FileSystem, s3_endpoint: str,
                                                    tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": range(1000), "name": [f"n{i}" for i in range(1000)], "x": [i / 7 for i in range(1000)]})
    bucket.pipe("keel-test/in/t.csv", frame.to_csv(index=False).encode())
    bucket.pipe("keel-test/in/t.jsonl", frame.to_json(orient="records", lines=True).encode())
    frame.to_parquet(tmp_path / "t.parquet")
    bucket.put(str(tmp_path / "t.parquet"), "keel-test/in/t.parquet")
    options = {"storage_options": {"endpoint_url": s3_endpoint}}
    for name in ("t.csv", "t.jsonl", "t.parquet"):
        source = data.read(f"s3://keel-test/in/{name}", batch_rows=300, **options)
        sizes = [batch.num_rows for batch in source.batches()]
        assert sizes == [300, 300, 300, 100], name  # streamed in batches, not read whole
        pd.testing.assert_frame_equal(source.to_arrow().to_pandas(), frame, check_dtype=False)
    with pytest.raises(NotFound, match="does not exist"):
        data.read("s3://keel-test/in/missing.csv", **options).to_arrow()


def test_a_multipart_upload_cut_off_midway_is_aborted(keel_home: Path, tmp_path: Path, bucket: s3fs.S3FileSystem,
                                                      s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Objects go straight to their key (an S3 object appears only when its upload completes: no copy from a temp
    key). One bigger than a part goes up in parts; cut off part-way, the upload is aborted, so neither an object
    nor its parts (which S3 keeps, and bills, until aborted) are left."""
    root = tmp_path / "big"
    root.mkdir()
    payload = os.urandom(12 << 20)
    (root / "big.bin").write_bytes(payload)
    options = {"endpoint_url": s3_endpoint, "default_block_size": 5 << 20}  # 5 MiB parts
    data.add_remote("origin", "s3://keel-test/ds", options)
    data.add(root, "big")
    with monkeypatch.context() as patch:
        cut_uploads_off(patch, 11 << 20)  # two parts went up
        with pytest.raises(Unavailable, match="connection reset"):
            data.push("big", workers=1)
    bucket.invalidate_cache()
    assert not [p for p in bucket.find("keel-test") if bucket.size(p) >= 5 << 20]
    assert bucket.list_multipart_uploads("keel-test") == []
    assert data.push("big").objects >= 1
    assert not [p for p in bucket.find("keel-test") if TEMP_PREFIX in p]

    monkeypatch.setenv("KEEL_HOME", str(tmp_path / "elsewhere"))
    reset_backend()
    data.add_remote("origin", "s3://keel-test/ds", options)
    data.pull("big")
    data.checkout("big@v1", tmp_path / "out")
    assert (tmp_path / "out" / "big.bin").read_bytes() == payload


def test_an_upload_failing_as_it_completes_is_aborted_too(tmp_path: Path, bucket: s3fs.S3FileSystem,
                                                          s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last part of a multipart upload goes up when the file is closed; a failure there aborts the upload."""
    storage = FsspecStorage("s3://keel-test/root", {"endpoint_url": s3_endpoint, "default_block_size": 5 << 20})
    real_call = s3fs.core.S3File._call_s3

    def flaky(self: object, method: str, *args: object, **kwargs: object) -> object:
        if method == "upload_part" and kwargs.get("PartNumber") == 3:  # 12 MiB: parts of 5, 5 and 2 MiB
            raise OSError("connection reset")
        return real_call(self, method, *args, **kwargs)

    monkeypatch.setattr(s3fs.core.S3File, "_call_s3", flaky)
    with pytest.raises(Unavailable, match="connection reset"):
        storage.write_atomic("objects/big", iter([os.urandom(1 << 20) for _ in range(12)]))
    monkeypatch.setattr(s3fs.core.S3File, "_call_s3", real_call)
    bucket.invalidate_cache()
    assert bucket.find("keel-test") == [] and bucket.list_multipart_uploads("keel-test") == []
    storage.write_atomic("objects/big", iter([b"x" * (1 << 20)] * 12))  # and a retry completes
    bucket.invalidate_cache()
    assert bucket.size("keel-test/root/objects/big") == 12 << 20

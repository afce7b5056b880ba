"""gs:// for real: gcsfs talking to gcp-storage-emulator's in-memory GCS JSON API, started by the test, as a source
(read, ingest) and as a remote (push, pull)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from keel import data
from keel.errors import NotFound, Unavailable
from keel.tracking.context import reset_backend
from keel_testing import cut_uploads_off, free_port, run_cli

# gcsfs (2025+) exports by default an ExtendedGcsFileSystem that asks the gRPC Storage Control API for each bucket's
# layout, retrying for 60 s per call; the emulator serves only the JSON API, so switch that off (as gcsfs's own
# emulator CI does). gcsfs reads the switch when it is imported, hence before importorskip.
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
gcsfs = pytest.importorskip("gcsfs")
emulator = pytest.importorskip("gcp_storage_emulator.server")

BUCKET = "keel-gcs"
FRAME = pd.DataFrame({"id": range(1_000), "value": [i * 0.5 for i in range(1_000)],
                      "label": [f"row{i}" for i in range(1_000)], "even": [i % 2 == 0 for i in range(1_000)]})


@pytest.fixture(scope="module")
def gcs_endpoint() -> Iterator[str]:
    if gcsfs.GCSFileSystem is not gcsfs.core.GCSFileSystem:
        pytest.fail("gcsfs was imported before GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false was set: its gRPC bucket "
                    "probes would time out against the emulator")
    port = free_port()
    server = emulator.create_server("127.0.0.1", port, in_memory=True)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(gcs_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """A fresh bucket holding t.csv, t.jsonl and t.parquet (FRAME); credential discovery kept off the network."""
    monkeypatch.setenv("NO_GCE_CHECK", "true")  # google-auth: never probe the GCE metadata server
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no gcloud user credentials
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    fs = gcsfs.GCSFileSystem(endpoint_url=gcs_endpoint, token="anon", skip_instance_cache=True)
    fs.mkdir(BUCKET)
    fs.pipe(f"{BUCKET}/t.csv", FRAME.to_csv(index=False).encode())
    fs.pipe(f"{BUCKET}/t.jsonl", FRAME.to_json(orient="records", lines=True).encode())
    parquet = io.BytesIO()
    FRAME.to_parquet(parquet, index=False, row_group_size=250)
    fs.pipe(f"{BUCKET}/t.parquet", parquet.getvalue())
    yield fs
    fs.rm(BUCKET, recursive=True)


def _options(endpoint: str) -> dict[str, Any]:
    return {"endpoint_url": endpoint, "token": "anon"}


@pytest.mark.parametrize("name", ["t.csv", "t.jsonl", "t.parquet"])
def test_read_streams_gs_objects_in_batches(bucket: Any, gcs_endpoint: str, name: str) -> None:
    source = data.read(f"gs://{BUCKET}/{name}", batch_rows=300, storage_options=_options(gcs_endpoint))
    assert source.schema.names == list(FRAME.columns)
    batches = list(source.batches())
    assert [b.num_rows for b in batches] == [300, 300, 300, 100]
    assert [b.column(0)[0].as_py() for b in batches] == [0, 300, 600, 900]
    got = pa.Table.from_batches(batches).to_pandas()
    pd.testing.assert_frame_equal(got, FRAME, check_dtype=False)
    assert got["id"].dtype == "int64" and got["value"].dtype == "float64" and got["even"].dtype == "bool"


def test_missing_gs_object_or_bucket_is_not_found(bucket: Any, gcs_endpoint: str) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        data.read(f"gs://{BUCKET}/missing.csv", storage_options=_options(gcs_endpoint))
    with pytest.raises(NotFound, match="does not exist"):
        data.read("gs://no-such-bucket/t.csv", storage_options=_options(gcs_endpoint))


def test_cli_ingests_gs_csv_via_storage_emulator_host(keel_home: Path, bucket: Any, gcs_endpoint: str,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # the CLI takes no storage options: gcsfs finds the endpoint in STORAGE_EMULATOR_HOST and, with no credentials
    # anywhere, falls back to anonymous access
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_endpoint)
    code, out, err = run_cli("data", "ingest", f"gs://{BUCKET}/t.csv", "--name", "events", capsys=capsys)
    assert code == 0, err
    assert "1,000 rows × 4 columns" in out and "dataset events@v1" in out
    version = data.get_version("events@v1")
    assert version.row_count == 1_000 and version.source == f"gs://{BUCKET}/t.csv"
    pd.testing.assert_frame_equal(data.load("events@v1"), FRAME, check_dtype=False)


def test_push_pull_round_trip_through_a_gs_remote(keel_home: Path, tmp_path: Path, bucket: Any, gcs_endpoint: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "sales"
    root.mkdir()
    for i in range(3):
        pd.DataFrame({"id": range(i * 5, i * 5 + 5), "x": [i] * 5}).to_parquet(root / f"p{i}.parquet")
    data.add_remote("origin", f"gs://{BUCKET}/ds", _options(gcs_endpoint))
    data.add(root, "sales")
    expected = data.load("sales")
    assert data.push("sales").objects == 4  # three files and the manifest
    assert data.push("sales").objects == 0  # only missing objects travel
    bucket.invalidate_cache()
    assert len([p for p in bucket.find(f"{BUCKET}/ds") if "/objects/" in p]) == 4

    (root / "p1.parquet").write_bytes(pd.DataFrame({"id": [99], "x": [9]}).to_parquet())
    data.add(root, "sales")
    assert data.push("sales").objects == 2  # the changed file and the new manifest

    monkeypatch.setenv("KEEL_HOME", str(tmp_path / "elsewhere"))
    reset_backend()
    data.add_remote("origin", f"gs://{BUCKET}/ds", _options(gcs_endpoint))
    pulled = data.pull("sales@v1")
    assert pulled.versions == ["sales@v1"] and pulled.objects == 4
    pd.testing.assert_frame_equal(data.load("sales@v1"), expected)
    assert data.pull("sales").objects == 2 and len(data.load("sales@v2")) == 11


def test_a_gs_upload_cut_off_midway_leaves_nothing(keel_home: Path, tmp_path: Path, bucket: Any, gcs_endpoint: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Objects go straight to their key (a GCS object appears only when its upload completes); one cut off part-way
    is never completed. (Objects above gcsfs's 5 MiB block go up as resumable uploads, which a failure cancels; the
    emulator cannot cancel one, so the multipart case is tested against S3.)"""
    root = tmp_path / "raw"
    root.mkdir()
    for i in range(3):
        (root / f"f{i}.bin").write_bytes(os.urandom(3000 + i))
    data.add_remote("origin", f"gs://{BUCKET}/ds", _options(gcs_endpoint))
    data.add(root, "raw")
    with monkeypatch.context() as patch:
        cut_uploads_off(patch, 1000)
        with pytest.raises(Unavailable, match="connection reset"):
            data.push("raw", workers=1)
    bucket.invalidate_cache()
    assert not bucket.exists(f"{BUCKET}/ds")  # not even the first object: nothing partial, nothing published
    assert data.push("raw").objects == 4

    monkeypatch.setenv("KEEL_HOME", str(tmp_path / "elsewhere"))
    reset_backend()
    data.add_remote("origin", f"gs://{BUCKET}/ds", _options(gcs_endpoint))
    data.pull("raw")
    data.checkout("raw@v1", tmp_path / "out")
    assert sorted(p.stat().st_size for p in (tmp_path / "out").iterdir()) == [3000, 3001, 3002]

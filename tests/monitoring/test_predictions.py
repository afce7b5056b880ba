"""The prediction log: `PredictionLog` writes Parquet partitions off the request path, `predictions()` reads them."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pytest

import keel
from keel.artifacts import FsspecStorage
from keel.errors import CorruptArtifact, InvalidInput
from keel.monitoring import PredictionLog, predictions
from keel.monitoring.prediction_rows import input_rows, output_rows
from keel.monitoring.predictions import COLUMNS

DAY1 = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["local", "memory"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty log root: a local directory, or a private memory:// tree removed afterwards."""
    if request.param == "local":
        yield str(tmp_path / "predictions")
        return
    name = f"keel-test-{uuid.uuid4().hex}"
    yield f"memory://{name}"
    fs = fsspec.filesystem("memory")
    if fs.exists(f"/{name}"):
        fs.rm(f"/{name}", recursive=True)


def _mixed(rows: int = 5) -> pd.DataFrame:
    return pd.DataFrame({
        "i": np.arange(rows, dtype=np.int64) * 7,
        "f": [0.1 + k if k != 1 else np.nan for k in range(rows)],
        "s": [f"s{k}" if k != 2 else None for k in range(rows)],
        "b": [k % 2 == 0 for k in range(rows)],
    })


def _record(plog: PredictionLog, request_id: str, **overrides: Any) -> None:
    fields: dict[str, Any] = {"deployment": "churn", "model_name": "churn-model", "model_version": "1",
                              "latency_ms": 2.5, **overrides}
    if "inputs" not in fields:
        fields["inputs"], fields["outputs"] = _mixed(1), np.array([1])
    plog.record(request_id=request_id, **fields)


def _epoch(when: dt.datetime) -> float:
    return when.timestamp()


# -- round trips ---------------------------------------------------------------------------------------------


def test_a_multi_row_request_of_mixed_dtypes_round_trips(root: str) -> None:
    frame = _mixed(5)
    with PredictionLog(root) as plog:
        _record(plog, "req-1", inputs=frame, outputs=np.array([0.25, 0.5, 0.75, 1.0, 1.25]), latency_ms=3.5,
                timestamp=_epoch(DAY1), status=200)
        plog.flush()
        assert plog.written_rows == 5 and plog.dropped == 0

    raw = predictions(root=root, expand=False)
    assert list(raw.columns) == COLUMNS
    assert raw["row"].tolist() == [0, 1, 2, 3, 4]
    assert set(raw["request_id"]) == {"req-1"} and set(raw["deployment"]) == {"churn"}
    assert set(raw["model_name"]) == {"churn-model"} and set(raw["model_version"]) == {"1"}
    assert raw["timestamp"].dt.tz is not None and (raw["timestamp"] == pd.Timestamp(DAY1)).all()
    assert raw["latency_ms"].tolist() == [3.5] * 5 and raw["status"].tolist() == [200] * 5
    assert not raw["shadow"].any()
    assert json.loads(raw["inputs"][1]) == {"i": 7, "f": None, "s": "s1", "b": False}
    assert json.loads(raw["outputs"][3]) == 1.0

    out = predictions(root=root)
    assert out["input.i"].dtype == np.int64 and out["input.i"].tolist() == frame["i"].tolist()
    np.testing.assert_array_equal(out["input.f"].to_numpy(), frame["f"].to_numpy())  # NaN in the same place
    assert out["input.s"][0] == "s0" and pd.isna(out["input.s"][2])
    assert out["input.b"].dtype == bool and out["input.b"].tolist() == frame["b"].tolist()
    assert out["output"].tolist() == [0.25, 0.5, 0.75, 1.0, 1.25]


def test_multi_output_and_named_outputs_expand_to_columns(root: str) -> None:
    with PredictionLog(root) as plog:
        _record(plog, "proba", inputs=_mixed(2), outputs=np.array([[0.9, 0.1], [0.2, 0.8]]))
        _record(plog, "frame", inputs=_mixed(2), outputs=pd.DataFrame({"label": [1, 0], "score": [0.7, 0.1]}))
        _record(plog, "named", inputs=_mixed(2), outputs={"label": np.array([3, 4]), "score": np.array([0.5, 0.6])})
    out = predictions(root=root).set_index(["request_id", "row"])
    assert out.loc[("proba", 1), "output"] == [0.2, 0.8]
    assert out.loc[("frame", 0), "output.label"] == 1 and out.loc[("frame", 1), "output.score"] == 0.1
    assert out.loc[("named", 1), "output.label"] == 4 and out.loc[("named", 0), "output.score"] == 0.5


def test_output_shapes_split_by_row() -> None:
    def parsed(outputs: Any, n: int) -> list[Any]:
        return [json.loads(text) for text in output_rows(outputs, n)]

    assert parsed(np.array([1, 2, 3]), 3) == [1, 2, 3]
    assert parsed(pd.Series([0.5, np.nan]), 2) == [0.5, None]
    assert parsed([["a", "b"], ["c"]], 2) == [["a", "b"], ["c"]]
    assert parsed(np.float32(0.5), 1) == [0.5]
    assert parsed(None, 2) == [None, None]
    # An output that does not split by row is kept whole on every row rather than guessed at.
    assert parsed({"summary": "ok"}, 2) == [{"summary": "ok"}, {"summary": "ok"}]
    assert parsed(np.array([1, 2, 3]), 2) == [[1, 2, 3], [1, 2, 3]]


def test_inputs_of_any_dtype_become_json_rows() -> None:
    frame = pd.DataFrame({
        "when": pd.to_datetime(["2024-05-01T10:00:00"]),
        "maybe": pd.array([None], dtype="Int64"),
        "f32": np.array([1.5], dtype=np.float32),
        7: ["int column name"],
    })
    assert json.loads(input_rows(frame)[0]) == {"when": "2024-05-01T10:00:00", "maybe": None, "f32": 1.5,
                                                "7": "int column name"}
    assert input_rows(None) == [b"null"] and input_rows(frame.iloc[:0]) == [b"null"]


def test_a_request_without_rows_still_leaves_one_row(root: str) -> None:
    with PredictionLog(root) as plog:
        _record(plog, "rejected", inputs=None, outputs=None, status=400)
    out = predictions(root=root)
    assert out["request_id"].tolist() == ["rejected"] and out["status"].tolist() == [400]
    assert out["inputs"].tolist() == ["null"] and out["output"].isna().all()


# -- reading: filters, layout, pruning ----------------------------------------------------------------------


def _fill_for_filters(root: str) -> None:
    with PredictionLog(root) as plog:
        for day in range(3):
            when = DAY1 + dt.timedelta(days=day)
            _record(plog, f"churn-{day}", inputs=_mixed(2), timestamp=_epoch(when), outputs=np.array([0, 1]))
            _record(plog, f"shadow-{day}", model_version="2", shadow=True, timestamp=_epoch(when) + 1)
            _record(plog, f"fraud-{day}", deployment="fraud", model_name="fraud-model", timestamp=_epoch(when) + 2)


def _ids(frame: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(frame["request_id"]))


def test_filters_select_rows(root: str) -> None:
    _fill_for_filters(root)
    assert len(predictions(root=root)) == 12
    assert _ids(predictions("fraud", root=root)) == ["fraud-0", "fraud-1", "fraud-2"]
    assert _ids(predictions(model="churn-model", version="2", root=root)) == ["shadow-0", "shadow-1", "shadow-2"]
    assert _ids(predictions("churn", shadow=False, root=root)) == ["churn-0", "churn-1", "churn-2"]
    assert _ids(predictions(shadow=True, root=root)) == ["shadow-0", "shadow-1", "shadow-2"]
    day2 = DAY1 + dt.timedelta(days=1)
    # since is inclusive, until exclusive; datetimes, ISO strings and epoch seconds all work.
    assert _ids(predictions(since=day2, until=day2 + dt.timedelta(seconds=2), root=root)) == ["churn-1", "shadow-1"]
    assert _ids(predictions(since="2024-05-03T10:00:00Z", root=root)) == ["churn-2", "shadow-2", "fraud-2"]
    assert _ids(predictions(until=_epoch(DAY1) + 1, root=root)) == ["churn-0"]
    assert _ids(predictions(since=dt.datetime(2024, 5, 3, 10, 0, 1), root=root)) == ["shadow-2", "fraud-2"]
    assert predictions("nobody", root=root).empty


def test_limit_keeps_the_newest_rows_in_time_order(root: str) -> None:
    _fill_for_filters(root)
    newest = predictions(limit=3, root=root)
    assert _ids(newest) == ["churn-2", "shadow-2", "fraud-2"] and len(newest) == 3
    assert newest["timestamp"].is_monotonic_increasing
    assert predictions("churn", limit=1, root=root)["request_id"].tolist() == ["shadow-2"]
    assert len(predictions(limit=100, root=root)) == 12


def test_files_are_hive_partitions_by_deployment_and_utc_date(tmp_path: Path) -> None:
    root = tmp_path / "log"
    with PredictionLog(str(root)) as plog:
        _record(plog, "late", deployment="team a/churn", timestamp=_epoch(dt.datetime(2024, 5, 1, 23, 59, 59,
                                                                                         tzinfo=dt.UTC)))
        _record(plog, "early", deployment="team a/churn", timestamp=_epoch(dt.datetime(2024, 5, 2, 0, 0, 1,
                                                                                          tzinfo=dt.UTC)))
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert len(files) == 2
    pattern = r"deployment=team%20a%2Fchurn/date=2024-05-0[12]/part-\d{13}-[0-9a-f]{8}\.parquet"
    assert all(re.fullmatch(pattern, f) for f in files), files
    assert {f.split("/")[1] for f in files} == {"date=2024-05-01", "date=2024-05-02"}
    assert set(predictions("team a/churn", root=str(root))["deployment"]) == {"team a/churn"}


def _plant_corrupt_file(root: str, deployment: str, date: str) -> None:
    FsspecStorage(root).write_atomic(f"deployment={deployment}/date={date}/part-1-deadbeef.parquet", [b"junk"])


def test_reads_prune_partitions_by_deployment_and_date(root: str) -> None:
    _fill_for_filters(root)
    _plant_corrupt_file(root, "churn", "2024-04-01")
    with pytest.raises(CorruptArtifact, match="unreadable"):
        predictions(root=root)
    # Partitions the filters rule out are never opened, so the bad file is not touched.
    assert len(predictions("fraud", root=root)) == 3
    assert len(predictions("churn", since="2024-05-01", root=root)) == 9
    assert len(predictions("churn", limit=3, root=root)) == 3  # newest dates first, stops once it has enough


def test_a_missing_or_empty_log_reads_as_an_empty_frame(tmp_path: Path) -> None:
    out = predictions(root=str(tmp_path / "never-written"))
    assert out.empty and list(out.columns) == COLUMNS
    assert str(out["timestamp"].dtype).endswith("UTC]")
    (tmp_path / "empty").mkdir()
    assert predictions("churn", root=str(tmp_path / "empty"), since=DAY1).empty


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"since": "not a time"}, "since"),
    ({"until": True}, "until"),
    ({"since": DAY1, "until": DAY1}, "until"),
    ({"limit": 0}, "limit"),
])
def test_bad_read_arguments_name_the_field(tmp_path: Path, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        predictions(root=str(tmp_path), **kwargs)
    assert info.value.field == field


def test_bad_log_settings_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        PredictionLog(str(tmp_path), flush_interval_s=0)
    assert info.value.field == "flush_interval_s"
    with pytest.raises(InvalidInput) as info:
        PredictionLog(str(tmp_path), max_buffer_rows=0)
    assert info.value.field == "max_buffer_rows"


def test_default_root_is_under_the_artifact_root(keel_home: Path) -> None:
    with PredictionLog() as plog:
        _record(plog, "default-root")
    assert any((keel_home / "artifacts" / "predictions" / "deployment=churn").rglob("part-*.parquet"))
    assert keel.predictions("churn")["request_id"].tolist() == ["default-root"]


# -- writing: never blocking, back-pressure, failures -------------------------------------------------------


def _slow_writes(monkeypatch: pytest.MonkeyPatch, gate: threading.Event | None = None,
                 delay: float = 0.5) -> list[str]:
    written: list[str] = []
    original = FsspecStorage.write_atomic

    def slow(self: FsspecStorage, rel: str, chunks: Any) -> None:
        if gate is not None:
            gate.wait(30)
        else:
            time.sleep(delay)
        original(self, rel, chunks)
        written.append(rel)

    monkeypatch.setattr(FsspecStorage, "write_atomic", slow)
    return written


def test_record_does_not_wait_for_slow_storage(root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _slow_writes(monkeypatch, delay=0.5)
    frame = _mixed(3)
    with PredictionLog(root, flush_interval_s=0.01) as plog:
        _record(plog, "warm-up", inputs=frame, outputs=np.zeros(3))
        time.sleep(0.05)  # the writer is now inside a 0.5 s write
        ids, outputs = [f"r{k}" for k in range(1000)], np.zeros(3)
        started = time.perf_counter()
        for request_id in ids:
            plog.record(request_id=request_id, deployment="churn", model_name="m", model_version="1",
                        inputs=frame, outputs=outputs, latency_ms=1.0)
        elapsed = time.perf_counter() - started
        plog.flush()
        assert plog.written_rows == 3 * 1001
    assert elapsed < 0.05, f"1,000 record() calls took {elapsed * 1000:.1f} ms"
    assert len(predictions(root=root)) == 3 * 1001


def test_a_full_buffer_drops_the_oldest_requests(root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    _slow_writes(monkeypatch, gate=gate)
    plog = PredictionLog(root, flush_interval_s=0.01, max_buffer_rows=10)
    _record(plog, "in-flight")
    time.sleep(0.1)  # the writer has taken it and waits at the gate
    for k in range(15):
        _record(plog, f"r{k}")
    assert plog.dropped == 5
    _record(plog, "too-big", inputs=_mixed(11), outputs=np.zeros(11))  # larger than the whole buffer
    assert plog.dropped == 16
    gate.set()
    plog.close()
    assert _ids(predictions(root=root)) == ["in-flight"] + [f"r{k}" for k in range(5, 15)]
    assert plog.written_rows == 11


def test_a_failed_write_is_counted_and_raised_by_flush(root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    original = FsspecStorage.write_atomic
    failing = [True]

    def flaky(self: FsspecStorage, rel: str, chunks: Any) -> None:
        if failing[0]:
            raise InvalidInput("a file clashes with that name")
        original(self, rel, chunks)

    monkeypatch.setattr(FsspecStorage, "write_atomic", flaky)
    with PredictionLog(root) as plog:
        _record(plog, "lost", inputs=_mixed(2), outputs=np.zeros(2))
        with pytest.raises(InvalidInput, match="2 dropped.*clashes"):
            plog.flush()
        assert plog.dropped == 2
        failing[0] = False
        _record(plog, "kept")
        plog.flush()  # the error was reported once; the log goes on
    assert _ids(predictions(root=root)) == ["kept"]


def test_an_unencodable_request_costs_only_itself(root: str) -> None:
    with PredictionLog(root) as plog:
        _record(plog, "good")
        _record(plog, "bad", deployment="")
        with pytest.raises(InvalidInput, match="could not be encoded"):
            plog.flush()
        assert plog.dropped == 1
    assert _ids(predictions(root=root)) == ["good"]


def test_close_is_idempotent_and_later_records_are_dropped(root: str) -> None:
    plog = PredictionLog(root)
    _record(plog, "before")
    plog.close()
    plog.close()
    _record(plog, "after")
    assert plog.dropped == 1 and plog.written_rows == 1
    assert _ids(predictions(root=root)) == ["before"]


def test_flush_without_records_returns_at_once(root: str) -> None:
    plog = PredictionLog(root)
    started = time.perf_counter()
    plog.flush()
    plog.close()
    assert time.perf_counter() - started < 0.5 and predictions(root=root).empty


def _wait_child(pid: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"the forked child did not finish in {timeout_s} s")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_writes_only_its_own_records(tmp_path: Path) -> None:
    root = str(tmp_path / "log")
    plog = PredictionLog(root, flush_interval_s=60)
    _record(plog, "parent")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            _record(plog, "child")
            plog.close()
        except BaseException:
            code = 1
        os._exit(code)
    assert _wait_child(pid, timeout_s=30) == 0
    plog.close()
    assert sorted(predictions(root=root)["request_id"]) == ["child", "parent"]


# -- many processes, crashes ---------------------------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import sys, time
    import numpy as np, pandas as pd
    from keel.monitoring import PredictionLog

    root, mode, tag = sys.argv[1:4]
    plog = PredictionLog(root, flush_interval_s=0.2)

    def batch(prefix, count):
        for k in range(count):
            plog.record(request_id=f"{prefix}-{k}", deployment="churn", model_name="m", model_version="1",
                        inputs=pd.DataFrame({"x": [k, k + 1, k + 2]}), outputs=np.array([0, 1, 2]), latency_ms=1.0)

    batch(tag, 200)
    if mode == "flush-then-keep-recording":
        plog.flush()
        print("flushed", flush=True)
        k = 0
        while True:
            batch(f"late{k}", 20)
            k += 1
    elif mode == "record-then-idle":
        print("recorded", flush=True)
        time.sleep(60)
    # mode "exit": return normally; the atexit hook must flush
""")


def _child(root: str, mode: str, tag: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _CHILD, root, mode, tag], stdout=subprocess.PIPE, text=True)


def _kill_after_line(proc: subprocess.Popen[str], line: str, wait_s: float = 0.0) -> None:
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == line
    time.sleep(wait_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)


def test_rows_recorded_a_flush_interval_before_sigkill_are_on_disk(tmp_path: Path) -> None:
    root = str(tmp_path / "log")
    # 0.2 s flush interval; killed ~1 s later: every row must have been written by the writer thread alone.
    _kill_after_line(_child(root, "record-then-idle", "a"), "recorded", wait_s=1.0)
    out = predictions(root=root, expand=False)
    assert len(out) == 600 and out["request_id"].nunique() == 200


def test_sigkill_keeps_everything_flushed_and_only_whole_files(tmp_path: Path) -> None:
    root = str(tmp_path / "log")
    _kill_after_line(_child(root, "flush-then-keep-recording", "a"), "flushed", wait_s=0.5)
    out = predictions(root=root, expand=False)  # would raise CorruptArtifact on a half-written file
    before = out[~out["request_id"].str.startswith("late")]
    assert len(before) == 600 and before["request_id"].nunique() == 200
    late = out[out["request_id"].str.startswith("late")]
    assert (late.groupby("request_id").size() == 3).all()  # requests after the flush are whole or absent
    assert not out.duplicated(["request_id", "row"]).any()


def test_two_processes_write_the_same_root_and_exit_hooks_flush(tmp_path: Path) -> None:
    root = str(tmp_path / "log")
    procs = [_child(root, "exit", tag) for tag in ("p1", "p2")]
    for proc in procs:
        assert proc.wait(120) == 0
    out = predictions("churn", root=root, expand=False)
    assert len(out) == 2 * 600 and not out.duplicated(["request_id", "row"]).any()
    assert {rid.split("-")[0] for rid in out["request_id"]} == {"p1", "p2"}

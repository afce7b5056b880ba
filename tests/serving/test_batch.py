"""Batch scoring: chunked predictions equal whole-frame ones, resume skips finished parts, conflicts, lineage, Ray."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import keel
from keel.errors import Conflict, InvalidInput, NotFound, Unavailable
from keel.registry.model_files import LoadedModel, save_model
from keel.serving import PredictionFailed
from keel.serving.batch import ROW_INDEX, BatchProgress, ScoreSpec, batch_predict, prediction_columns, score_chunk
from keel.serving.batch_io import MANIFEST, OutputDir, open_input, rechunk

FEATURES = list(load_iris().feature_names)


@pytest.fixture(scope="module")
def iris() -> tuple[LogisticRegression, pd.DataFrame]:
    data = load_iris(as_frame=True)
    return LogisticRegression(max_iter=500).fit(data.data, data.target), data.data


@pytest.fixture
def model_dir(tmp_path: Path, iris: tuple[LogisticRegression, pd.DataFrame]) -> Path:
    model, frame = iris
    save_model(model, tmp_path / "iris", input_example=frame.head(3))
    return tmp_path / "iris"


@pytest.fixture
def files(tmp_path: Path, iris: tuple[LogisticRegression, pd.DataFrame]) -> dict[str, Path]:
    """The iris features (with an id column the model ignores) as CSV, one Parquet file and a Parquet directory."""
    frame = iris[1].assign(id=[f"row-{i}" for i in range(len(iris[1]))])
    frame.to_csv(tmp_path / "iris.csv", index=False)
    frame.to_parquet(tmp_path / "iris.parquet", index=False)
    (tmp_path / "parts").mkdir()
    for i, start in enumerate((0, 50, 100)):  # 50-row files: 40-row chunks straddle the file boundaries
        frame.iloc[start:start + 50].to_parquet(tmp_path / "parts" / f"f{i}.parquet", index=False)
    return {"csv": tmp_path / "iris.csv", "parquet": tmp_path / "iris.parquet", "directory": tmp_path / "parts"}


def read_output(path: Path) -> pd.DataFrame:
    """The parts in file-name order, concatenated."""
    parts = sorted(path.glob("part-*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def part_stats(path: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in path.glob("part-*.parquet")}


class CountingPredict:
    """Replaces ``LoadedModel.predict``: counts the rows it is asked about and can fail on the n-th call."""

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.calls: list[int] = []
        self.fail_on_call = fail_on_call
        self.original = LoadedModel.predict

    def __call__(self, model: LoadedModel, data: Any) -> Any:
        self.calls.append(len(data))
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise RuntimeError("simulated crash")
        return self.original(model, data)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(LoadedModel, "predict", lambda model, data: self(model, data))


# ------------------------------------------------------------------------------------------------------------ pure


def test_rechunk_cuts_exact_chunks_across_uneven_batches() -> None:
    batches = [pa.record_batch({"x": np.arange(a, b)}) for a, b in ((0, 7), (7, 8), (8, 8), (8, 30), (30, 33))]
    chunks = list(rechunk(batches, 10))
    assert [c.num_rows for c in chunks] == [10, 10, 10, 3]
    assert pa.concat_tables(chunks)["x"].to_pylist() == list(range(33))
    assert list(rechunk([], 10)) == []


def test_prediction_columns_shapes_and_names() -> None:
    assert list(prediction_columns(np.array([1, 2, 3]), 3)) == ["prediction"]
    assert list(prediction_columns(np.ones((3, 1)), 3)) == ["prediction"]
    matrix = prediction_columns(np.arange(6).reshape(3, 2), 3, ["p_no", "p_yes"])
    assert matrix["p_yes"].to_pylist() == [1, 3, 5]
    assert list(prediction_columns(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), 2)) == ["a", "b"]
    tensor = prediction_columns(np.zeros((2, 3, 4)), 2)["prediction"]
    assert tensor.to_numpy_ndarray().shape == (2, 3, 4)
    with pytest.raises(PredictionFailed, match="returned 2 value"):
        prediction_columns(np.array([1, 2]), 3)
    with pytest.raises(InvalidInput, match="2 prediction column"):
        prediction_columns(np.ones((3, 2)), 3, ["only-one"])


def test_score_chunk_refuses_a_prediction_name_that_shadows_an_input(model_dir: Path) -> None:
    model = keel.load_model(str(model_dir))
    table = pa.table({name: [1.0, 2.0] for name in FEATURES})
    with pytest.raises(InvalidInput, match="clash"):
        score_chunk(model, ScoreSpec(columns=(FEATURES[0],)), 0, table)
    renamed = score_chunk(model, ScoreSpec(columns=(FEATURES[0],), keep_inputs=False), 5, table)
    assert renamed.column_names == [ROW_INDEX, FEATURES[0]] and renamed[ROW_INDEX].to_pylist() == [5, 6]


# ------------------------------------------------------------------------------------------------------------ local


@pytest.mark.parametrize("kind", ["csv", "parquet", "directory"])
def test_chunked_predictions_equal_whole_frame(kind: str, keel_home: Path, model_dir: Path, files: dict[str, Path],
                                               iris: tuple[LogisticRegression, pd.DataFrame], tmp_path: Path) -> None:
    model, frame = iris
    seen: list[BatchProgress] = []
    result = batch_predict(str(model_dir), files[kind], tmp_path / "out", chunk_rows=40, progress=seen.append)
    assert (result.rows, result.chunks, result.chunks_skipped) == (150, 4, 0)
    assert sorted(p.name for p in (tmp_path / "out").glob("part-*")) == [f"part-0000{i}.parquet" for i in range(4)]
    out = read_output(tmp_path / "out")
    assert list(out.columns) == [ROW_INDEX, *FEATURES, "id", "prediction"]
    assert out[ROW_INDEX].tolist() == list(range(150))
    assert out["id"].tolist() == [f"row-{i}" for i in range(150)]
    assert np.array_equal(out["prediction"].to_numpy(), model.predict(frame))
    assert np.allclose(out[FEATURES].to_numpy(), frame.to_numpy())
    assert [p.rows_done for p in seen] == [40, 80, 120, 150]
    assert {p.total_rows for p in seen} == ({None} if kind == "csv" else {150})


def test_predictions_only_with_named_column(keel_home: Path, model_dir: Path, files: dict[str, Path],
                                            iris: tuple[LogisticRegression, pd.DataFrame], tmp_path: Path) -> None:
    batch_predict(str(model_dir), files["parquet"], tmp_path / "out", chunk_rows=1000, columns="species",
                  keep_inputs=False)
    out = pd.read_parquet(tmp_path / "out")
    assert list(out.columns) == [ROW_INDEX, "species"]
    assert np.array_equal(out["species"].to_numpy(), iris[0].predict(iris[1]))


@pytest.mark.parametrize("interruption", ["model raises", "progress raises"])
def test_rerun_after_interruption_scores_only_missing_chunks(
        interruption: str, keel_home: Path, model_dir: Path, files: dict[str, Path],
        iris: tuple[LogisticRegression, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out_dir = tmp_path / "out"
    first = CountingPredict(fail_on_call=3 if interruption == "model raises" else None)
    first.install(monkeypatch)

    def stop_after_two_chunks(event: BatchProgress) -> None:
        if interruption == "progress raises" and event.chunk == 1:
            raise KeyboardInterrupt

    with pytest.raises(PredictionFailed if interruption == "model raises" else KeyboardInterrupt):
        batch_predict(str(model_dir), files["csv"], out_dir, chunk_rows=40, progress=stop_after_two_chunks)
    assert json.loads((out_dir / MANIFEST).read_text())["completed"] == [0, 1]
    before = part_stats(out_dir)
    assert sorted(before) == ["part-00000.parquet", "part-00001.parquet"]

    second = CountingPredict()
    second.install(monkeypatch)
    result = batch_predict(str(model_dir), files["csv"], out_dir, chunk_rows=40)
    assert second.calls == [40, 30]  # chunks 2 and 3 only
    assert (result.chunks, result.chunks_skipped) == (4, 2)
    after = part_stats(out_dir)
    assert {name: after[name] for name in before} == before  # same inode and mtime: not rewritten
    assert np.array_equal(read_output(out_dir)["prediction"].to_numpy(), iris[0].predict(iris[1]))
    assert not list(out_dir.glob(".*tmp*"))


@pytest.mark.parametrize("change", ["input", "chunk_rows", "model"])
def test_rerun_with_a_different_job_conflicts_unless_overwrite(
        change: str, keel_home: Path, model_dir: Path, files: dict[str, Path],
        iris: tuple[LogisticRegression, pd.DataFrame], tmp_path: Path) -> None:
    batch_predict(str(model_dir), files["csv"], tmp_path / "out", chunk_rows=40)
    model_uri, chunk_rows = str(model_dir), 40
    if change == "input":
        (iris[1] + 3.0).to_csv(files["csv"], index=False)
    elif change == "chunk_rows":
        chunk_rows = 50
    else:
        save_model(LogisticRegression(C=0.01, max_iter=500).fit(*load_iris(return_X_y=True, as_frame=True)),
                   tmp_path / "other", input_example=iris[1].head(3))
        model_uri = str(tmp_path / "other")
    with pytest.raises(Conflict, match=r"overwrite=True.*--overwrite"):
        batch_predict(model_uri, files["csv"], tmp_path / "out", chunk_rows=chunk_rows)
    result = batch_predict(model_uri, files["csv"], tmp_path / "out", chunk_rows=chunk_rows, overwrite=True)
    assert result.chunks_skipped == 0
    expected = keel.load_model(model_uri).predict(pd.read_csv(files["csv"]))
    out = read_output(tmp_path / "out")
    assert len(out) == 150 and np.array_equal(out["prediction"].to_numpy(), expected)
    assert len(list((tmp_path / "out").glob("part-*"))) == result.chunks


def test_output_paths_that_are_refused(keel_home: Path, model_dir: Path, files: dict[str, Path],
                                       tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(Conflict, match="holds no Keel batch output"):
        batch_predict(str(model_dir), files["csv"], foreign, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "keep me"
    with pytest.raises(InvalidInput, match="inside the input"):
        batch_predict(str(model_dir), files["directory"], files["directory"] / "scored")
    with pytest.raises(InvalidInput, match="is a file"):
        batch_predict(str(model_dir), files["csv"], files["parquet"])


def test_bad_inputs_name_the_problem(keel_home: Path, model_dir: Path, files: dict[str, Path],
                                     iris: tuple[LogisticRegression, pd.DataFrame], tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        batch_predict(str(model_dir), tmp_path / "missing.csv", tmp_path / "out")
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(InvalidInput, match="unsupported format"):
        batch_predict(str(model_dir), tmp_path / "data.json", tmp_path / "out")
    iris[1].drop(columns=[FEATURES[2]]).to_parquet(tmp_path / "short.parquet")
    with pytest.raises(InvalidInput, match="petal length"):
        batch_predict(str(model_dir), tmp_path / "short.parquet", tmp_path / "out2")
    with pytest.raises(InvalidInput, match="executor"):
        batch_predict(str(model_dir), files["csv"], tmp_path / "out3", executor="spark")


def test_csv_types_come_from_the_signature(tmp_path: Path) -> None:
    """Integers in the first block and decimals later would break the reader's guess; the signature decides."""
    rows = ["x"] + ["1000000"] * 700_000 + ["2.5"]  # the decimal lies beyond the first 1 MiB block
    (tmp_path / "late.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(InvalidInput, match="convert the file to Parquet"):
        list(open_input(tmp_path / "late.csv").batches())
    typed = open_input(tmp_path / "late.csv", csv_types={"x": pa.float64()})
    assert pa.concat_tables(rechunk(typed.batches(), 100_000))["x"][-1].as_py() == 2.5


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_lineage_links_input_model_version_and_predictions(
        database: str, keel_home: Path, files: dict[str, Path], iris: tuple[LogisticRegression, pd.DataFrame],
        tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    from keel.store import open_database
    from keel.store.lineage import edges_touching
    from keel.tracking.context import get_backend, reset_backend

    if database == "postgres":
        monkeypatch.setenv("KEEL_DB_URL", request.getfixturevalue("postgres_url"))
        reset_backend()
    with keel.start_run():
        keel.log_model(iris[0], "model", input_example=iris[1].head(3), registered_model_name="iris-batch")
    keel.set_registered_model_alias("iris-batch", "champion", 1)
    result = batch_predict("models:/iris-batch@champion", files["parquet"], tmp_path / "out", chunk_rows=100)
    assert (result.model_name, result.model_version, result.lineage_recorded) == ("iris-batch", 1, True)
    source = open_input(files["parquet"])
    settings = get_backend().settings
    with open_database(settings.resolved_db_url).read() as conn:
        edges = {(e.src_kind, e.src_id, e.relation, e.dst_kind, e.dst_id)
                 for e in edges_touching(conn, "model_version", ["iris-batch/1"])}
    assert ("file", f"{files['parquet'].resolve()}@{source.fingerprint}", "scored_by", "model_version",
            "iris-batch/1") in edges
    assert ("model_version", "iris-batch/1", "produced", "predictions", str((tmp_path / "out").resolve())) in edges
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert manifest["model"] == "iris-batch/1" and manifest["chunks"] == 2 and manifest["rows"] == 150


def test_no_lineage_against_a_remote_server(keel_home: Path, model_dir: Path, files: dict[str, Path],
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from keel.tracking.context import reset_backend

    monkeypatch.setenv("KEEL_TRACKING_URI", "http://127.0.0.1:9")  # never contacted: a local model needs no server
    reset_backend()
    result = batch_predict(str(model_dir), files["csv"], tmp_path / "out")
    assert result.rows == 150 and not result.lineage_recorded
    assert not list(keel_home.rglob("*.db"))


# ------------------------------------------------------------------------------------------------------------ ray


def test_ray_missing_is_an_install_hint(keel_home: Path, model_dir: Path, files: dict[str, Path], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(InvalidInput, match=r'pip install "keel-mlops\[ray\]"'):
        batch_predict(str(model_dir), files["csv"], tmp_path / "out", executor="ray")


class FakeRay:
    """Just enough of ``ray`` to watch the executor: tasks run at submit, results come back newest first."""

    class exceptions:  # noqa: N801 - mirrors ray.exceptions
        class RayError(Exception):
            pass

        class RayTaskError(RayError):
            cause: BaseException | None = None

    def __init__(self, fail: bool = False) -> None:
        self.results: dict[int, Any] = {}
        self.submitted = 0
        self.peak = 0
        self.fail = fail

    def is_initialized(self) -> bool:
        return True

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": 1.0}

    def put(self, value: Any) -> Any:
        return value

    def remote(self, fn: Any) -> Any:
        fake = self

        class Task:
            @staticmethod
            def remote(*args: Any) -> int:
                fake.submitted += 1
                ref = fake.submitted
                fake.results[ref] = fn(*args)
                fake.peak = max(fake.peak, len(fake.results))
                return ref

        return Task

    def wait(self, refs: list[int], num_returns: int) -> tuple[list[int], list[int]]:
        return refs[-num_returns:], refs[:-num_returns]

    def get(self, ref: int) -> Any:
        result = self.results.pop(ref)
        if self.fail:
            error = self.exceptions.RayTaskError("worker died")
            error.cause = RuntimeError("worker died")
            raise error
        return result

    def cancel(self, ref: int) -> None:
        self.results.pop(ref, None)


def test_ray_executor_bounds_tasks_in_flight_and_writes_out_of_order(
        keel_home: Path, model_dir: Path, files: dict[str, Path], iris: tuple[LogisticRegression, pd.DataFrame],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    written: list[int] = []
    batch_predict(str(model_dir), files["csv"], tmp_path / "out", chunk_rows=10, executor="ray",
                  progress=lambda event: written.append(event.chunk))
    assert fake.peak == 2  # twice the fake cluster's one CPU
    assert written != sorted(written) and sorted(written) == list(range(15))
    assert np.array_equal(read_output(tmp_path / "out")["prediction"].to_numpy(), iris[0].predict(iris[1]))
    untouchable = FakeRay()
    untouchable.is_initialized = lambda: pytest.fail("a finished job must not connect to Ray")  # type: ignore
    monkeypatch.setitem(sys.modules, "ray", untouchable)
    rerun = batch_predict(str(model_dir), files["csv"], tmp_path / "out", chunk_rows=10, executor="ray")
    assert rerun.chunks_skipped == 15
    monkeypatch.setitem(sys.modules, "ray", FakeRay(fail=True))
    with pytest.raises(Unavailable, match="chunk .* failed: worker died"):
        batch_predict(str(model_dir), files["csv"], tmp_path / "out2", chunk_rows=10, executor="ray")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def test_ray_executor_output_equals_local(local_ray: Any, keel_home: Path, model_dir: Path, files: dict[str, Path],
                                          tmp_path: Path) -> None:
    local = batch_predict(str(model_dir), files["directory"], tmp_path / "local", chunk_rows=15)
    remote = batch_predict(str(model_dir), files["directory"], tmp_path / "ray", chunk_rows=15, executor="ray")
    assert (remote.rows, remote.chunks) == (local.rows, local.chunks) == (150, 10)  # more chunks than in flight
    for name in sorted(p.name for p in (tmp_path / "local").glob("part-*")):
        assert pq.read_table(tmp_path / "ray" / name).equals(pq.read_table(tmp_path / "local" / name)), name
    assert local_ray.is_initialized()  # a Ray the caller started is left running


def test_ray_task_errors_come_back_as_keel_errors(local_ray: Any, keel_home: Path, model_dir: Path,
                                                  iris: tuple[LogisticRegression, pd.DataFrame],
                                                  tmp_path: Path) -> None:
    iris[1].drop(columns=[FEATURES[0]]).to_parquet(tmp_path / "short.parquet")
    with pytest.raises(InvalidInput, match="sepal length"):
        batch_predict(str(model_dir), tmp_path / "short.parquet", tmp_path / "out", chunk_rows=50, executor="ray")
    assert json.loads((tmp_path / "out" / MANIFEST).read_text())["completed"] == []


def test_output_dir_keeps_only_listed_parts_that_exist(tmp_path: Path) -> None:
    """A part listed as done but deleted since is scored again, not trusted."""
    from keel.serving.batch_io import Manifest

    def manifest() -> Manifest:
        return Manifest("m", "m", None, {"path": "in", "fingerprint": "f"}, 10, {})

    out = OutputDir(tmp_path / "out")
    out.prepare(manifest())
    for i in range(3):
        out.write_part(i, pa.table({"x": [i]}))
    out.part(1).unlink()
    assert OutputDir(tmp_path / "out").prepare(manifest()) == {0, 2}


def test_a_dataset_version_is_scored_and_linked(keel_home: Path, files: dict[str, Path], model_dir: Path,
                                                iris: tuple[LogisticRegression, pd.DataFrame], tmp_path: Path) -> None:
    import keel.data
    from keel.store import open_database
    from keel.store.lineage import edges_touching
    from keel.tracking.context import get_backend

    version = keel.data.add(files["parquet"], "iris-features")
    result = batch_predict(str(model_dir), "iris-features@v1", tmp_path / "scored", chunk_rows=64)
    scored = read_output(tmp_path / "scored")
    assert result.rows == 150 and scored["prediction"].tolist() == iris[0].predict(iris[1]).tolist()
    with open_database(get_backend().settings.resolved_db_url).read() as conn:
        edges = {(e.src_kind, e.src_id, e.relation) for e in edges_touching(conn, "dataset_version", [version.id])}
    assert ("dataset_version", version.id, "scored_by") in edges
    again = batch_predict(str(model_dir), "iris-features@v1", tmp_path / "scored", chunk_rows=64)
    assert again.chunks_skipped == again.chunks  # a version never changes: a rerun resumes, nothing is recomputed
    with pytest.raises(NotFound):
        batch_predict(str(model_dir), "iris-features@v9", tmp_path / "other")

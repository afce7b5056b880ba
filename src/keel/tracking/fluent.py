"""The tracking SDK: ``keel.start_run()``, ``keel.log_metric()`` and friends, as MLflow users know them."""

from __future__ import annotations

import atexit
import contextlib
import json
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from keel.artifacts import check_path
from keel.errors import AlreadyExists, InvalidInput, NotFound
from keel.tracking.batcher import MetricBatcher
from keel.tracking.context import get_backend
from keel.tracking.entities import DatasetInput, Experiment, Metric, Run, RunStatus
from keel.tracking.repository import TrackingRepository
from keel.tracking.system_tags import system_tags
from keel.tracking.validation import check_key

__all__ = [
    "ActiveRun",
    "active_run",
    "end_run",
    "flush",
    "get_metric_history",
    "get_run",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "set_experiment",
    "set_tag",
    "set_tags",
    "start_run",
]

_local = threading.local()
_valid_metric_keys: set[str] = set()


class ActiveRun:
    """A started run; use as a context manager to end it (FAILED if the block raised)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.info = run.info
        backend = get_backend()
        s = backend.settings
        self.batcher = MetricBatcher(backend.tracking, run.info.run_id, batch_size=s.metric_batch_size,
                                     flush_interval_s=s.metric_flush_interval_s)

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.info.run_id

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        status = RunStatus.FINISHED if exc_type is None else (
            RunStatus.KILLED if exc_type is KeyboardInterrupt else RunStatus.FAILED)
        if _stack() and _stack()[-1] is self:
            end_run(status)
        else:
            self._finish(status)

    def _finish(self, status: str) -> None:
        try:
            self.batcher.close()
        finally:
            get_backend().tracking.update_run(self.run_id, status=status, end_time=_now())


def _stack() -> list[ActiveRun]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


@contextlib.contextmanager
def run_defaults(tags: Mapping[str, str], run_name: str | None = None) -> Iterator[None]:
    """Within the block, a top-level run started on this thread (explicitly or by a ``log_*`` call) gets ``tags``
    and, unless given one, ``run_name`` (pipeline steps use it to link their runs to the pipeline's)."""
    previous = getattr(_local, "defaults", None)
    _local.defaults = (dict(tags), run_name)
    try:
        yield
    finally:
        _local.defaults = previous


def _now() -> int:
    return int(time.time() * 1000)


def set_experiment(name: str | None = None, experiment_id: str | None = None) -> Experiment:
    """Make an experiment (created if missing) the one new runs go to."""
    backend = get_backend()
    repo = backend.tracking
    if experiment_id is not None:
        exp = repo.get_experiment(experiment_id)
    elif name:
        exp = _get_or_create_experiment(repo, name)
    else:
        raise InvalidInput("set_experiment: give a name or an experiment_id", field="name")
    if exp.lifecycle_stage != "active":
        raise InvalidInput(f"experiment {exp.name!r} is deleted; restore it or use another name", field="name")
    backend.experiment_id = exp.experiment_id
    return exp


def _get_or_create_experiment(repo: TrackingRepository, name: str) -> Experiment:
    found = repo.get_experiment_by_name(name)
    if found is not None:
        return found
    try:
        return repo.get_experiment(repo.create_experiment(name))
    except AlreadyExists:  # another process created it a moment ago
        found = repo.get_experiment_by_name(name)
        if found is None:
            raise
        return found


def start_run(run_id: str | None = None, experiment_id: str | None = None, run_name: str | None = None,
              nested: bool = False, tags: Mapping[str, Any] | None = None,
              description: str | None = None) -> ActiveRun:
    """Start a new run (or resume ``run_id``); nested runs need ``nested=True`` and get a parent tag."""
    stack = _stack()
    if stack and not nested:
        raise InvalidInput(f"run {stack[-1].run_id} is already active; call end_run() first or pass nested=True",
                           field="nested")
    repo = get_backend().tracking
    if run_id is not None:
        run = repo.get_run(run_id)
        if run.info.lifecycle_stage != "active":
            raise InvalidInput(f"run {run_id} is deleted; restore it before resuming", field="run_id")
        repo.update_run(run_id, status=RunStatus.RUNNING)
        if tags:
            repo.log_batch(run_id, tags={k: str(v) for k, v in tags.items()})
        run = repo.get_run(run_id)
    else:
        all_tags = system_tags()
        defaults = getattr(_local, "defaults", None)
        if defaults is not None and not stack:  # inside a pipeline step: the step's run, linked to the pipeline's
            all_tags.update(defaults[0])
            run_name = run_name or defaults[1]
        all_tags.update({k: str(v) for k, v in (tags or {}).items()})
        if stack:
            all_tags["mlflow.parentRunId"] = stack[-1].run_id
        if description:
            all_tags["mlflow.note.content"] = description
        exp_id = experiment_id or current_experiment_id()
        run = repo.create_run(exp_id, user_id=all_tags.get("mlflow.user"), start_time=_now(), tags=all_tags,
                              run_name=run_name)
    active = ActiveRun(run)
    stack.append(active)
    return active


def _default_experiment() -> str:
    import os

    name = os.environ.get("KEEL_EXPERIMENT_NAME") or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    return set_experiment(name).experiment_id if name else "0"


def current_experiment_id() -> str:
    """The experiment new runs go to: set by :func:`set_experiment`, ``KEEL_EXPERIMENT_NAME``, else "0"."""
    return get_backend().experiment_id or _default_experiment()


def active_run() -> ActiveRun | None:
    """The innermost active run of this thread, if any."""
    stack = _stack()
    return stack[-1] if stack else None


def end_run(status: str = RunStatus.FINISHED) -> None:
    """End the active run: flush its metrics, then mark it ``status``."""
    stack = _stack()
    if stack:
        run = stack.pop()
        run._finish(status)


def flush() -> None:
    """Block until every metric of the active run is stored."""
    run = active_run()
    if run is not None:
        run.batcher.flush()


def _run() -> ActiveRun:
    return active_run() or start_run()


def log_param(key: str, value: Any) -> Any:
    """Log one parameter (immutable once logged)."""
    get_backend().tracking.log_batch(_run().run_id, params={key: str(value)})
    return value


def log_params(params: Mapping[str, Any]) -> None:
    """Log several parameters in one call (batched by 100)."""
    run_id = _run().run_id
    items = [(k, str(v)) for k, v in params.items()]
    for i in range(0, len(items), 100):
        get_backend().tracking.log_batch(run_id, params=dict(items[i:i + 100]))


def log_metric(key: str, value: float, step: int | None = None, timestamp: int | None = None) -> None:
    """Queue one metric point; it is sent in the background (see :func:`flush`)."""
    stack = getattr(_local, "stack", None)
    run = stack[-1] if stack else start_run()
    if key not in _valid_metric_keys:
        check_key(key, "metric")
        if len(_valid_metric_keys) < 100_000:
            _valid_metric_keys.add(key)
    run.batcher.log(key, float(value), int(time.time() * 1000) if timestamp is None else timestamp, step or 0)


def log_metrics(metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None) -> None:
    """Queue several metric points at the same step."""
    run = active_run() or start_run()
    ts = timestamp if timestamp is not None else int(time.time() * 1000)
    for key, value in metrics.items():
        check_key(key, "metric")
        run.batcher.log(key, float(value), ts, step or 0)


def set_tag(key: str, value: Any) -> None:
    """Set one tag on the active run."""
    get_backend().tracking.log_batch(_run().run_id, tags={key: str(value)})


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set several tags on the active run."""
    get_backend().tracking.log_batch(_run().run_id, tags={k: str(v) for k, v in tags.items()})


def _artifact_dir(artifact_path: str | None) -> str:
    base = _run().info.artifact_uri
    return f"{base}/{check_path(artifact_path)}" if artifact_path else base


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> None:
    """Upload one file into the run's artifacts (under ``artifact_path`` if given)."""
    path = Path(local_path)
    if not path.is_file():
        raise InvalidInput(f"log_artifact: {path} is not a file", field="local_path")
    get_backend().artifacts.put_file(f"{_artifact_dir(artifact_path)}/{path.name}", path)


def log_artifacts(local_dir: str | Path, artifact_path: str | None = None) -> None:
    """Upload a directory's files into the run's artifacts."""
    path = Path(local_dir)
    if not path.is_dir():
        raise InvalidInput(f"log_artifacts: {path} is not a directory", field="local_dir")
    get_backend().artifacts.put_dir(_artifact_dir(artifact_path), path)


def log_text(text: str, artifact_file: str) -> None:
    """Store text as an artifact file."""
    get_backend().artifacts.put_bytes(f"{_artifact_dir(None)}/{check_path(artifact_file)}", text.encode())


def log_dict(dictionary: Mapping[str, Any] | Sequence[Any], artifact_file: str) -> None:
    """Store a dict as JSON, or YAML when ``artifact_file`` ends in .yaml/.yml."""
    if artifact_file.endswith((".yaml", ".yml")):
        import yaml

        text = yaml.safe_dump(dictionary, sort_keys=False)
    else:
        text = json.dumps(dictionary, indent=2, default=str)
    log_text(text, artifact_file)


def log_figure(figure: Any, artifact_file: str) -> None:
    """Store a matplotlib figure (any format it saves) or a plotly figure (.html) as an artifact."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / Path(artifact_file).name
        if hasattr(figure, "savefig"):
            figure.savefig(out)
        elif hasattr(figure, "write_html") and out.suffix == ".html":
            figure.write_html(str(out))
        elif hasattr(figure, "write_image"):
            figure.write_image(str(out))
        else:
            raise InvalidInput(f"log_figure: {type(figure).__name__} is neither a matplotlib nor a plotly figure",
                               field="figure")
        parent = str(Path(artifact_file).parent)
        log_artifact(out, None if parent == "." else parent)


def log_input(dataset: DatasetInput | str | Any, context: str | None = None, name: str | None = None) -> None:
    """Record a dataset the run consumed: a :class:`DatasetInput`, a ``keel.data`` DatasetVersion (also linked in the
    lineage graph), a ``"name@version"`` ref (resolved and linked like a DatasetVersion when it names a version of a
    local ``keel.data`` dataset; otherwise recorded as given) or a DataFrame."""
    if isinstance(dataset, str) and "@" in dataset and not Path(dataset).exists():  # not a file named a@b.csv
        dataset = _local_version(dataset) or dataset
    ds = _dataset_ref(dataset, context, name)
    run_id = _run().run_id
    get_backend().tracking.log_inputs(run_id, [ds])
    if type(dataset).__name__ == "DatasetVersion":
        from keel.data.versioning import link_run

        link_run(dataset, run_id)  # type: ignore[arg-type]


def _local_version(ref: str) -> Any | None:
    """The ``keel.data`` version ``ref`` names on the local store; None when no local dataset has that name (an
    external reference). A known dataset with a version that does not resolve is an error (NotFound, or InvalidInput
    for a malformed version): most likely a typo."""
    from keel.config import get_settings

    if get_settings().is_remote:
        return None
    from keel.data.versioning import get_version, versions

    try:
        return get_version(ref)
    except (NotFound, InvalidInput):
        try:
            versions(ref.partition("@")[0])
        except (NotFound, InvalidInput):
            return None
        raise


def _dataset_ref(dataset: Any, context: str | None, name: str | None) -> DatasetInput:
    if isinstance(dataset, DatasetInput):
        return dataset if context is None else DatasetInput(dataset.name, dataset.digest, dataset.source_type,
                                                            dataset.source, dataset.schema, dataset.profile, context)
    if type(dataset).__name__ == "DatasetVersion":  # keel.data's, matched by name so tracking need not import it
        profile = json.dumps({"num_rows": dataset.row_count, "num_files": dataset.file_count,
                              "size_bytes": dataset.size_bytes})
        return DatasetInput(dataset.name, dataset.manifest_digest, "keel-dataset", f"{dataset.name}@{dataset.id}",
                            json.dumps(dataset.schema) if dataset.schema else None, profile, context)
    if isinstance(dataset, str):
        ds_name, _, version = dataset.partition("@")
        if not ds_name or not version:
            raise InvalidInput(f"log_input: {dataset!r} is not a 'name@version' reference", field="dataset")
        return DatasetInput(ds_name, version, "keel", dataset, context=context)
    if hasattr(dataset, "columns") and hasattr(dataset, "dtypes"):
        import hashlib

        import pandas as pd

        digest = hashlib.blake2b(pd.util.hash_pandas_object(dataset, index=True).values.tobytes(),
                                 digest_size=8).hexdigest()
        schema = json.dumps({"columns": [{"name": str(c), "type": str(t)} for c, t in dataset.dtypes.items()]})
        profile = json.dumps({"num_rows": len(dataset), "num_columns": len(dataset.columns)})
        return DatasetInput(name or "dataframe", digest, "pandas", None, schema, profile, context)
    raise InvalidInput(f"log_input: cannot describe a {type(dataset).__name__}; pass a DatasetInput, a "
                       "'name@version' string or a pandas DataFrame", field="dataset")


def get_run(run_id: str) -> Run:
    """A run with its params, latest metrics, tags and inputs."""
    return get_backend().tracking.get_run(run_id)


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    """Every point of one metric of a run."""
    flush()
    points, _ = get_backend().tracking.get_metric_history(run_id, key)
    return points


def _end_all_at_exit() -> None:
    stack = _stack()
    while stack:
        try:
            end_run()
        except Exception:  # noqa: BLE001 - at exit, report and go on ending the rest
            import logging

            logging.getLogger(__name__).exception("keel: could not end run at exit")


atexit.register(_end_all_at_exit)

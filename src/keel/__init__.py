"""Keel: the whole machine-learning lifecycle in one package, one server and one metadata graph.

The tracking SDK mirrors MLflow's::

    import keel
    keel.set_experiment("iris")
    with keel.start_run():
        keel.log_params({"C": 1.0})
        keel.log_metric("acc", 0.97, step=1)
"""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from keel.errors import (
    AlreadyExists,
    Conflict,
    CorruptArtifact,
    InvalidInput,
    KeelError,
    NotFound,
    PermissionDenied,
)
from keel.tracking import (
    ActiveRun,
    DatasetInput,
    Run,
    RunStatus,
    active_run,
    end_run,
    flush,
    get_metric_history,
    get_run,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_input,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    log_text,
    search_runs,
    set_experiment,
    set_tag,
    set_tags,
    start_run,
)

# The model SDK pulls in pandas and the flavors; it loads on first use so `import keel` stays fast.
_LAZY = {"load_model": "keel.registry.fluent", "log_model": "keel.registry.fluent",
         "register_model": "keel.registry.fluent", "set_registered_model_alias": "keel.registry.fluent",
         "evaluate": "keel.evaluation", "promote": "keel.evaluation", "batch_predict": "keel.serving.batch",
         "predictions": "keel.monitoring"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'keel' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


try:
    __version__ = version("keel-mlops")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "ActiveRun",
    "AlreadyExists",
    "Conflict",
    "CorruptArtifact",
    "DatasetInput",
    "InvalidInput",
    "KeelError",
    "NotFound",
    "PermissionDenied",
    "Run",
    "RunStatus",
    "__version__",
    "active_run",
    "batch_predict",
    "end_run",
    "evaluate",
    "flush",
    "get_metric_history",
    "get_run",
    "load_model",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_text",
    "predictions",
    "promote",
    "register_model",
    "search_runs",
    "set_experiment",
    "set_registered_model_alias",
    "set_tag",
    "set_tags",
    "start_run",
]

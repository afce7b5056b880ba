"""Keel: the whole machine-learning lifecycle in one package, one server and one metadata graph.

The tracking SDK mirrors MLflow's::

    import keel
    keel.set_experiment("iris")
    with keel.start_run():
        keel.log_params({"C": 1.0})
        keel.log_metric("acc", 0.97, step=1)
"""

from typing import TYPE_CHECKING, Any

from keel.errors import (
    AlreadyExists,
    Conflict,
    CorruptArtifact,
    InvalidInput,
    KeelError,
    NotFound,
    PermissionDenied,
)

if TYPE_CHECKING:
    __version__: str
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

# Every SDK function loads on first use, so `import keel` (and so every `keel` command) stays fast: the tracking
# SDK pulls in settings and the artifact store, the model SDK pandas and the flavors.
_TRACKING = ("ActiveRun", "DatasetInput", "Run", "RunStatus", "active_run", "end_run", "flush", "get_metric_history",
             "get_run", "log_artifact", "log_artifacts", "log_dict", "log_figure", "log_input", "log_metric",
             "log_metrics", "log_param", "log_params", "log_text", "search_runs", "set_experiment", "set_tag",
             "set_tags", "start_run")
_LAZY = {**dict.fromkeys(_TRACKING, "keel.tracking"),
         "load_model": "keel.registry.fluent", "log_model": "keel.registry.fluent",
         "register_model": "keel.registry.fluent", "set_registered_model_alias": "keel.registry.fluent",
         "evaluate": "keel.evaluation", "promote": "keel.evaluation",
         "explain": "keel.evaluation", "fairness": "keel.evaluation", "batch_predict": "keel.serving.batch",
         "predictions": "keel.monitoring", "tune": "keel.pipelines.tuning", "step": "keel.pipelines.steps",
         "pipeline": "keel.pipelines.steps", "run_pipeline": "keel.pipelines.runner"}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("keel-mlops")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            return "0.0.0"
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'keel' has no attribute {name!r}")
    import importlib

    value = globals()[name] = getattr(importlib.import_module(module), name)  # later lookups skip __getattr__
    return value


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
    "explain",
    "fairness",
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
    "pipeline",
    "predictions",
    "promote",
    "register_model",
    "run_pipeline",
    "search_runs",
    "set_experiment",
    "set_registered_model_alias",
    "set_tag",
    "set_tags",
    "start_run",
    "step",
    "tune",
]

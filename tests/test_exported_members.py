"""The public surface is pinned: what `keel` exports, and that every name exists."""

from __future__ import annotations

import keel
import keel.errors
import keel.tracking

EXPECTED = {
    "ActiveRun", "AlreadyExists", "Conflict", "CorruptArtifact", "DatasetInput", "InvalidInput", "KeelError",
    "NotFound", "PermissionDenied", "Run", "RunStatus", "__version__", "active_run", "end_run", "flush",
    "get_metric_history", "get_run", "log_artifact", "log_artifacts", "log_dict", "log_figure", "log_input",
    "log_metric", "log_metrics", "log_param", "log_params", "log_text", "search_runs", "set_experiment",
    "set_tag", "set_tags", "start_run", "log_model", "load_model", "register_model", "set_registered_model_alias",
    "evaluate", "promote", "explain", "fairness", "batch_predict", "predictions", "tune", "step", "pipeline",
    "run_pipeline",
}


def test_keel_exports() -> None:
    assert set(keel.__all__) == EXPECTED
    for name in keel.__all__:
        assert hasattr(keel, name), name


def test_every_error_maps_to_a_status_and_code() -> None:
    for name in keel.errors.__all__:
        obj = getattr(keel.errors, name)
        if isinstance(obj, type) and issubclass(obj, keel.errors.KeelError):
            assert 400 <= obj.http_status < 600 and obj.error_code
            rebuilt = keel.errors.error_from_code(obj.error_code, "m", obj.http_status)
            assert type(rebuilt) is obj

"""``keel.search_runs``: MLflow's filter grammar, as a pandas DataFrame or a list of runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keel.errors import NotFound
from keel.tracking.context import get_backend
from keel.tracking.entities import Run, ViewType
from keel.tracking.fluent import current_experiment_id

__all__ = ["RunPage", "runs_to_frame", "search_runs"]


class RunPage(list[Run]):
    """A list of runs with the token of the next page (None on the last page)."""

    next_page_token: str | None = None


def search_runs(experiment_names: Sequence[str] | str | None = None, filter_string: str | None = None,
                order_by: Sequence[str] | None = None, max_results: int = 1000, page_token: str | None = None,
                run_view_type: str = ViewType.ACTIVE_ONLY, experiment_ids: Sequence[str] | None = None,
                output_format: str = "pandas") -> Any:
    """Search runs of the named experiments (the current experiment, as set by ``set_experiment``, if none).

    Returns one page of at most ``max_results`` runs starting at ``page_token``: a pandas DataFrame (columns
    ``run_id``, ``status``, ..., ``metrics.*``, ``params.*``, ``tags.*``; the next page's token in
    ``df.attrs["next_page_token"]``) or, with ``output_format="list"``, a :class:`RunPage`.
    """
    repo = get_backend().tracking
    ids = list(experiment_ids or [])
    names = [experiment_names] if isinstance(experiment_names, str) else list(experiment_names or [])
    for name in names:
        exp = repo.get_experiment_by_name(name)
        if exp is None:
            raise NotFound(f"experiment {name!r} does not exist")
        ids.append(exp.experiment_id)
    if not ids:
        ids = [current_experiment_id()]
    runs, token = repo.search_runs(ids, filter_string, run_view_type, max_results, order_by, page_token)
    if output_format == "list":
        page = RunPage(runs)
        page.next_page_token = token
        return page
    frame = runs_to_frame(runs)
    frame.attrs["next_page_token"] = token
    return frame


def runs_to_frame(runs: Sequence[Run]) -> Any:
    """Runs as a DataFrame with MLflow's column names."""
    import pandas as pd

    rows = []
    for run in runs:
        i = run.info
        row: dict[str, Any] = {
            "run_id": i.run_id, "experiment_id": i.experiment_id, "run_name": i.run_name, "status": i.status,
            "artifact_uri": i.artifact_uri,
            "start_time": pd.to_datetime(i.start_time, unit="ms", utc=True) if i.start_time else pd.NaT,
            "end_time": pd.to_datetime(i.end_time, unit="ms", utc=True) if i.end_time else pd.NaT,
        }
        row.update({f"metrics.{k}": m.value for k, m in run.metrics.items()})
        row.update({f"params.{k}": v for k, v in run.params.items()})
        row.update({f"tags.{k}": v for k, v in run.tags.items()})
        rows.append(row)
    columns = ["run_id", "experiment_id", "run_name", "status", "artifact_uri", "start_time", "end_time"]
    return pd.DataFrame(rows, columns=None if rows else columns)

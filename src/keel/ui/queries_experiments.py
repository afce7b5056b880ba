"""What the experiments page shows: experiments, and one server-side page of runs found with the API's grammar."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from keel.tracking.entities import Experiment, Run
from keel.tracking.repository import TrackingRepository
from keel.tracking.search_sql import encode_page_token

__all__ = ["RunsPage", "RunsQuery", "list_experiments", "runs_page", "toggle_order"]

MAX_DEFAULT_COLUMNS = 6


@dataclass(frozen=True)
class RunsQuery:
    """The runs table's request: which experiments, filter, order, page and columns."""

    experiment_ids: tuple[str, ...] = ()
    filter: str = ""
    order_by: str = ""
    page: int = 0
    size: int = 100
    params: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()


@dataclass
class RunsPage:
    """One page of runs with the columns to show and the keys one could add."""

    rows: list[dict[str, Any]]
    params: list[str]
    metrics: list[str]
    available_params: list[str]
    available_metrics: list[str]
    has_next: bool
    error: str | None = None
    experiments: dict[str, str] = field(default_factory=dict)


def list_experiments(tracking: TrackingRepository) -> list[Experiment]:
    """Active experiments, newest first."""
    found: list[Experiment] = []
    token: str | None = None
    while True:
        page, token = tracking.search_experiments("ACTIVE_ONLY", 1000, None, ["creation_time DESC"], token)
        found.extend(page)
        if not token:
            return found


def runs_page(tracking: TrackingRepository, query: RunsQuery, experiments: Sequence[Experiment]) -> RunsPage:
    """The runs of ``query`` (one page, searched and sorted by the store); an invalid filter becomes ``error``."""
    names = {e.experiment_id: e.name for e in experiments}
    ids = list(query.experiment_ids) or list(names)
    token = encode_page_token(query.page * query.size) if query.page else None
    order = [query.order_by] if query.order_by else ["attributes.start_time DESC"]
    runs, next_token = tracking.search_runs(ids, query.filter or None, "ACTIVE_ONLY", query.size, order, token)
    available_params = sorted({k for r in runs for k in r.params})
    available_metrics = sorted({k for r in runs for k in r.metrics})
    params = list(query.params) or available_params[:MAX_DEFAULT_COLUMNS]
    metrics = list(query.metrics) or available_metrics[:MAX_DEFAULT_COLUMNS]
    rows = [_row(r, params, metrics, names) for r in runs]
    return RunsPage(rows, params, metrics, available_params, available_metrics, next_token is not None,
                    experiments=names)


def _row(run: Run, params: Sequence[str], metrics: Sequence[str], names: dict[str, str]) -> dict[str, Any]:
    info = run.info
    duration = (info.end_time - info.start_time) / 1000 if info.end_time and info.start_time else None
    return {"run_id": info.run_id, "name": info.run_name or info.run_id[:8], "status": info.status,
            "experiment": names.get(info.experiment_id, info.experiment_id), "start_time": info.start_time,
            "duration": duration, "user": info.user_id or "",
            "params": [run.params.get(k, "") for k in params],
            "metrics": [run.metrics[k].value if k in run.metrics else None for k in metrics]}


def toggle_order(current: str, column: str) -> str:
    """The ``order_by`` a click on ``column``'s header asks for: DESC first, then ASC."""
    if current == f"{column} DESC":
        return f"{column} ASC"
    return f"{column} DESC"

"""``/ui/experiments``: experiments and their runs — search (the API's filter grammar), columns, sorting, paging."""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import urlencode

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from keel.errors import InvalidInput
from keel.server.state import blocking, state
from keel.ui import queries_experiments as q
from keel.ui.rendering import render
from keel.ui.routing import ui_router

__all__ = ["router"]

router = ui_router()
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def _column(kind: str, key: str) -> str:
    """``metrics.acc`` or ``metrics.`my key``` as the search grammar spells it."""
    return f"{kind}.{key}" if _PLAIN_KEY.match(key) else f"{kind}.`{key}`"


def _link(query: q.RunsQuery, **changes: object) -> str:
    query = dataclasses.replace(query, **changes)  # type: ignore[arg-type]
    pairs: list[tuple[str, object]] = [("exp", e) for e in query.experiment_ids]
    pairs += [("filter", query.filter), ("order", query.order_by)] if query.filter or query.order_by else []
    pairs += [("page", query.page)] if query.page else []
    pairs += [("size", query.size)] if query.size != 100 else []
    pairs += [("p", k) for k in query.params] + [("m", k) for k in query.metrics]
    return "/ui/experiments" + ("?" + urlencode([(k, v) for k, v in pairs if v != ""]) if pairs else "")


@router.get("/ui/experiments")
async def experiments(request: Request, exp: list[str] = Query(default=[]), filter: str = "",  # noqa: A002
                      order: str = "", page: int = Query(0, ge=0), size: int = Query(100, ge=1, le=1000),
                      p: list[str] = Query(default=[]), m: list[str] = Query(default=[])) -> HTMLResponse:
    """The runs table of the chosen experiments (all by default), one server-side page at a time."""
    tracking = state(request).tracking
    query = q.RunsQuery(tuple(exp), filter.strip(), order.strip(), page, size, tuple(p), tuple(m))
    known = await blocking(q.list_experiments, tracking)
    try:
        result = await blocking(q.runs_page, tracking, query, known)
    except InvalidInput as exc:
        result = q.RunsPage([], list(query.params), list(query.metrics), [], [], False, error=exc.message)
    sort_links = {col: _link(query, order_by=q.toggle_order(query.order_by, col), page=0)
                  for col in ["attributes.run_name", "attributes.start_time", "attributes.status"]
                  + [_column("params", k) for k in result.params] + [_column("metrics", k) for k in result.metrics]}
    return render(request, "experiments.html", active="experiments", experiments=known, query=query, result=result,
                  sort_links=sort_links, column=_column,
                  prev_link=_link(query, page=query.page - 1) if query.page else None,
                  next_link=_link(query, page=query.page + 1) if result.has_next else None)

"""Data pages: ``/ui/data`` (datasets) and ``/ui/data/{name}`` (versions, the diff of two chosen versions, the
validation reports of one version)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from keel.asgi import OrjsonResponse
from keel.errors import InvalidInput
from keel.server.state import blocking
from keel.ui import queries_data
from keel.ui.ops_context import ops_stores
from keel.ui.rendering import render
from keel.ui.routing import ui_router

__all__ = ["router"]

router = ui_router()


@router.get("/ui/data")
async def datasets(request: Request) -> HTMLResponse:
    """Every dataset with its latest version and validation verdict."""
    s = ops_stores(request)
    rows = await blocking(queries_data.list_datasets, s.db, s.project)
    return render(request, "data.html", active="data", datasets=rows)


def _dataset_page(s: Any, name: str, version: int | None, old: int | None, new: int | None) -> dict[str, Any]:
    detail = queries_data.dataset_detail(s.db, s.project, name)
    numbers = [v["number"] for v in detail["versions"]]
    chosen = version if version is not None else numbers[0]
    if chosen not in numbers:
        raise InvalidInput(f"dataset {name!r} has no v{chosen}; its versions: "
                           f"{', '.join(f'v{n}' for n in numbers)}", field="version")
    old = old if old is not None else (numbers[1] if len(numbers) > 1 else numbers[0])
    new = new if new is not None else numbers[0]
    diff = queries_data.dataset_diff(s.db, s.project, s.blobs, name, old, new)
    reports = queries_data.validation_reports(s.db, s.project, s.blobs, name, chosen)
    return {"detail": detail, "chosen": chosen, "old": old, "new": new, "diff": diff, "reports": reports}


@router.get("/ui/data/{name}")
async def dataset(request: Request, name: str, version: int | None = None, old: int | None = None,
                  new: int | None = None) -> HTMLResponse:
    """A dataset's versions; ``?old=&new=`` chooses the two versions to diff, ``?version=`` whose validation
    reports to show (default: the latest)."""
    page = await blocking(_dataset_page, ops_stores(request), name, version, old, new)
    return render(request, "data_dataset.html", active="data", name=name, **page)


@router.get("/ui/api/data/{name}/diff", response_class=OrjsonResponse)
async def dataset_diff(request: Request, name: str, old: int, new: int) -> dict[str, Any]:
    """The diff of versions ``old`` and ``new`` as JSON."""
    s = ops_stores(request)
    return await blocking(queries_data.dataset_diff, s.db, s.project, s.blobs, name, old, new)

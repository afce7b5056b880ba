"""Keel's web UI: server-rendered pages under ``/ui`` over the server's own stores (see ``ui/README.md``).

``install_ui(app)`` adds every page module listed in :data:`PAGE_MODULES` to a ``keel server`` app. A page module
``keel.ui.pages_<page>`` exposes ``router`` (made with :func:`keel.ui.routing.ui_router`); its data comes from pure-ish
functions in ``keel.ui.queries_<page>``.
"""

from __future__ import annotations

from importlib import import_module

from fastapi import FastAPI

__all__ = ["PAGE_MODULES", "install_ui"]

# One line per page module; each exposes ``router``.
PAGE_MODULES: tuple[str, ...] = (
    "keel.ui.pages_core",
    "keel.ui.pages_experiments",
    "keel.ui.pages_runs",
    "keel.ui.pages_compare",
    "keel.ui.pages_models",
    "keel.ui.pages_data",
    "keel.ui.pages_features",
    "keel.ui.pages_deployments",
    "keel.ui.pages_monitoring",
    "keel.ui.pages_lineage",
    "keel.ui.pages_pipelines",
)


def install_ui(app: FastAPI) -> None:
    """Include the UI's routers (pages, ``/ui/api``, login, static files, ``/`` redirect) in ``app``."""
    for name in PAGE_MODULES:
        app.include_router(import_module(name).router)

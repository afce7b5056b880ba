"""Governance: who may do what (users, tokens, roles, audit log) and the lineage graph over every object.

Names load on first use, so importing :mod:`keel.governance` stays cheap.
"""

from __future__ import annotations

from typing import Any

# One entry per line: "public name": "module under keel.governance".
_LAZY: dict[str, str] = {
    "Graph": "lineage",
    "Link": "lineage",
    "Node": "lineage",
    "find_nodes": "lineage_store",
    "lineage": "lineage_store",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'keel.governance' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"keel.governance.{module}"), name)


__all__ = sorted(_LAZY)

"""Governance: who may do what (users, tokens, roles, audit log) and the lineage graph over every object.

Names load on first use, so importing :mod:`keel.governance` stays cheap.
"""

from __future__ import annotations

from keel.lazy import lazy_names

# One entry per line: "public name": "module under keel.governance".
_LAZY: dict[str, str] = {
    "Graph": "lineage",
    "Link": "lineage",
    "Node": "lineage",
    "find_nodes": "lineage_store",
    "lineage": "lineage_store",
}


__getattr__ = lazy_names(__name__, _LAZY)


__all__ = sorted(_LAZY)

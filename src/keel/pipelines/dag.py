"""The DAG of a pipeline run (pure): a topological order, or a clear error naming the steps of a cycle."""

from __future__ import annotations

from collections.abc import Mapping, Set

from keel.errors import InvalidInput

__all__ = ["topological_order"]


def topological_order(upstream: Mapping[str, Set[str]]) -> list[str]:
    """Nodes ordered so each comes after everything it depends on (ties keep the given order); InvalidInput naming
    the cycle's steps when there is one, or the missing node a dependency names."""
    for node, deps in upstream.items():
        for dep in deps:
            if dep not in upstream:
                raise InvalidInput(f"step {node!r} depends on {dep!r}, which is not in the pipeline", field=node)
    remaining = {node: set(deps) for node, deps in upstream.items()}
    dependents: dict[str, list[str]] = {node: [] for node in upstream}
    for node, deps in upstream.items():
        for dep in deps:
            dependents[dep].append(node)
    ready = [node for node, deps in remaining.items() if not deps]
    order: list[str] = []
    while ready:
        node = ready.pop(0) if len(ready) < 64 else ready.pop()
        order.append(node)
        for child in dependents[node]:
            remaining[child].discard(node)
            if not remaining[child]:
                ready.append(child)
    if len(order) < len(upstream):
        raise InvalidInput(f"the pipeline has a cycle through steps {', '.join(_cycle(remaining))}; a step cannot "
                           "depend on its own output", field=_cycle(remaining)[0])
    return order


def _cycle(remaining: Mapping[str, Set[str]]) -> list[str]:
    """One cycle among the nodes left with dependencies."""
    start = next(node for node, deps in remaining.items() if deps)
    path, seen = [start], {start}
    node = start
    while True:
        node = sorted(d for d in remaining[node] if remaining.get(d))[0]
        if node in seen:
            return path[path.index(node):] + [node]
        path.append(node)
        seen.add(node)

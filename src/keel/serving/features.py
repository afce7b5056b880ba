"""Feature lookup for models that declare their features (``keel.log_model(..., features=["view:feature"])``):
a request may carry entity keys instead of the features, which are then fetched from the online store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["declared_features", "with_online_features"]


def declared_features(metadata: dict[str, Any]) -> tuple[str, ...] | None:
    """The ``view:feature`` references a model's metadata declares, or None."""
    refs = metadata.get("keel.features")
    return tuple(str(r) for r in refs) if isinstance(refs, list) and refs else None


def with_online_features(data: Any, refs: Sequence[str]) -> Any:
    """``data`` with every declared feature it lacks fetched for its entity-key columns (a blocking store read).

    A frame that already holds every feature passes unchanged, so callers may also send the features themselves.
    Entities the store lacks get nulls: the model decides what a missing value means.
    """
    import pandas as pd

    if not isinstance(data, pd.DataFrame):
        return data
    names = [ref.partition(":")[2] for ref in refs]
    missing = [ref for ref, name in zip(refs, names, strict=True) if name not in data.columns]
    if not missing:
        return data
    from keel.features.online import get_online_features

    response = get_online_features({str(c): data[c].tolist() for c in data.columns}, missing)
    frame = data.copy()
    for ref in missing:
        name = ref.partition(":")[2]
        values = response.values[name]
        frame[name] = pd.Series(values, index=frame.index, dtype="float64" if None in values and _numeric(values)
                                else None)
    return frame


def _numeric(values: list[Any]) -> bool:
    return all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values)

"""Saving a training set as a dataset version, linked in lineage to the views and source versions it came from."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from keel.features.offline import TrainingSet
from keel.store.lineage import Edge, record_edge

__all__ = ["save_training_set"]


def save_training_set(result: TrainingSet, name: str) -> TrainingSet:
    """Write the frame as Parquet, add it as the next version of dataset ``name`` and record
    ``feature_view --features_for--> dataset_version`` and ``dataset_version --derived_into--> dataset_version``."""
    from keel.data.versioning import add
    from keel.features.registry import sql_registry

    with tempfile.TemporaryDirectory(prefix="keel-training-set-") as tmp:
        path = Path(tmp) / f"{name}.parquet"
        result.frame.to_parquet(path, index=False)
        version = add(path, name, message=f"training set from {', '.join(result.views)}",
                      origin=f"keel.features: {', '.join(result.views)}")
    registry = sql_registry()
    with registry.db.write() as conn:
        for view in result.views:
            kind = "on_demand_feature_view" if view.split("@")[0] not in _plain(result) else "feature_view"
            record_edge(conn, registry.project, Edge(kind, view, "features_for", "dataset_version", version.id))
        for source in result.source_versions:
            record_edge(conn, registry.project, Edge("dataset_version", source, "derived_into", "dataset_version",
                                                     version.id))
    return dataclasses.replace(result, dataset_version=version)


def _plain(result: TrainingSet) -> set[str]:
    from keel.features.registry import snapshot

    return set(snapshot().views)

"""What the Features page shows: applied feature views with the freshness of their materialization (watermark age
against the view's ttl), entities, on-demand views, and on request an online/offline skew check."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from keel.features.registry_sql import Materialization, Record, SqlFeatureRegistry
from keel.store import Database

__all__ = ["feature_catalog", "freshness", "skew_report"]


def freshness(runs: list[Materialization], ttl_seconds: float | None, now_ms: int) -> dict[str, Any]:
    """How fresh a view's online values are, from its materializations (newest first): the newest watermark (the
    latest source timestamp written), its age, and a status: ``never`` (not materialized), ``stale`` (the watermark
    is older than the ttl) or ``fresh``."""
    if not runs:
        return {"status": "never", "watermark_ms": None, "age_s": None, "last_run_ms": None, "rows": 0}
    marks = [r.watermark_us for r in runs if r.watermark_us is not None]
    watermark_ms = max(marks) // 1000 if marks else None
    age_s = None if watermark_ms is None else max(0.0, (now_ms - watermark_ms) / 1000)
    stale = ttl_seconds is not None and (age_s is None or age_s > ttl_seconds)
    return {"status": "stale" if stale else "fresh", "watermark_ms": watermark_ms, "age_s": age_s,
            "last_run_ms": runs[0].created_at, "rows": runs[0].rows, "store": runs[0].store}


def _view(record: Record, runs: list[Materialization], now_ms: int) -> dict[str, Any]:
    spec = record.spec or {}
    source = spec.get("source") or {}
    return {"name": record.name, "version": record.version, "author": record.author, "applied_at": record.created_at,
            "entities": spec.get("entities", []), "features": [f["name"] for f in spec.get("schema", [])],
            "dtypes": {f["name"]: f["dtype"] for f in spec.get("schema", [])},
            "source": f"{source.get('kind', '')}:{source.get('ref', '')}", "ttl_seconds": spec.get("ttl_seconds"),
            "description": spec.get("description", ""), "freshness": freshness(runs, spec.get("ttl_seconds"), now_ms),
            "materializations": [asdict(r) for r in runs[:20]]}


def feature_catalog(db: Database, project: str, *, now_ms: int | None = None) -> dict[str, Any]:
    """Every applied entity, feature view (with its freshness and last materializations) and on-demand view."""
    registry = SqlFeatureRegistry(db, project)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    records = sorted(registry.current().values(), key=lambda r: r.name)
    views = [_view(r, registry.materializations(r.name), now_ms) for r in records if r.kind == "feature_view"]
    entities = [{"name": r.name, "join_keys": (r.spec or {}).get("join_keys", []), "version": r.version}
                for r in records if r.kind == "entity"]
    on_demand = [{"name": r.name, "version": r.version,
                  "features": [f["name"] for f in (r.spec or {}).get("schema", [])]}
                 for r in records if r.kind == "on_demand_feature_view"]
    return {"views": views, "entities": entities, "on_demand": on_demand, "now_ms": now_ms}


def skew_report(view: str, sample: int = 50) -> dict[str, Any]:
    """Compare ``sample`` random keys' online values of ``view`` with the offline truth (``keel features skew``) in
    the configured store; JSON-ready, with ``ok``."""
    from keel.errors import InvalidInput
    from keel.features.skew_check import skew

    if not 1 <= sample <= 1000:
        raise InvalidInput(f"sample must be between 1 and 1000, got {sample}", field="sample")
    report = skew(view, sample, seed=0)
    return {**report.to_dict(), "ok": report.ok}

"""Feature store: definitions, point-in-time-correct training sets (offline), online serving and materialization.

::

    import keel.features as kf
    driver = kf.Entity("driver", join_keys=["driver_id"])
    stats = kf.FeatureView("driver_stats", entities=[driver], source="stats.parquet",
                           schema=[kf.Field("trips", "int64")], ttl=timedelta(days=2))
    kf.apply([driver, stats])
    train = kf.get_historical_features(entity_df, ["driver_stats:trips"])
    kf.materialize()
    kf.get_online_features([{"driver_id": 7}], ["driver_stats:trips"]).to_dict()

Names load on first use, so importing :mod:`keel.features` stays cheap.
"""

from __future__ import annotations

from keel.lazy import lazy_names

# One entry per line: "public name": "module under keel.features".
_LAZY: dict[str, str] = {
    "Entity": "definitions",
    "Field": "definitions",
    "FeatureView": "definitions",
    "OnDemandFeatureView": "definitions",
    "RequestSource": "definitions",
    "Source": "definitions",
    "on_demand_feature_view": "definitions",
    "apply": "registry",
    "load_definitions": "registry",
    "ApplyResult": "registry",
    "get_historical_features": "offline",
    "get_training_set": "offline",
    "TrainingSet": "offline",
    "materialize": "materialization",
    "get_online_features": "online",
    "OnlineResponse": "online",
    "skew": "skew_check",
    "list_views": "catalog",
    "describe_view": "catalog",
}


__getattr__ = lazy_names(__name__, _LAZY)


__all__ = sorted(_LAZY)

"""Models that declare the features they need: ``keel.log_model(..., features=["view:feature", ...])`` stores the list
in the model's metadata and, once registered, as the version tag ``keel.features``; an apply that would remove or
retype one of those features is refused (see :func:`keel.features.registry.apply`)."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence

from sqlalchemy import select

from keel.errors import InvalidInput
from keel.store.tables import model_version_tags, model_versions

__all__ = ["FEATURES_KEY", "check_feature_refs", "models_using"]

FEATURES_KEY = "keel.features"
_T = model_version_tags.c
_V = model_versions.c


def check_feature_refs(features: Sequence[str]) -> list[str]:
    """The list as given, checked to be ``view:feature`` strings (InvalidInput naming the bad one)."""
    if isinstance(features, str):
        raise InvalidInput("features must be a list of 'view:feature' references, not one string", field="features")
    out = []
    for ref in features:
        view, sep, feat = str(ref).partition(":")
        if not (sep and view and feat):
            raise InvalidInput(f"feature {ref!r} is not a 'view:feature' reference", field="features")
        out.append(str(ref))
    return out


def models_using(refs: Collection[str]) -> dict[str, set[str]]:
    """``{"NAME/VERSION": refs it declares among refs}`` over live (not deleted) registered model versions."""
    from keel.features.registry import sql_registry

    registry = sql_registry()
    query = select(_T.name, _T.version, _T.value).join(
        model_versions, (_V.name == _T.name) & (_V.version == _T.version)).where(
        _T.key == FEATURES_KEY, _V.deleted_timestamp.is_(None), _V.project == registry.project)
    with registry.db.read() as conn:
        rows = conn.execute(query).all()
    users: dict[str, set[str]] = {}
    for name, version, value in rows:
        try:
            declared = set(json.loads(value or "[]"))
        except ValueError:
            continue
        if hit := declared & set(refs):
            users[f"{name}/{version}"] = hit
    return users

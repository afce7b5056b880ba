"""The deployment repository over HTTP, against ``keel server``'s ``/api/v1/deployments`` routes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from keel.client.http import HttpSession
from keel.serving.deployment import (
    UNSET,
    Deployment,
    Route,
    Unset,
    check_deployment_name,
    current_user,
    deployment_from_dict,
    deployment_to_dict,
)

__all__ = ["HttpDeploymentStore"]


def _path(name: str) -> str:
    return f"/api/v1/deployments/{quote(check_deployment_name(name), safe='')}"


def _routes(routes: Sequence[Route]) -> list[dict[str, Any]]:
    return [{"model": r.model, "version": r.version, "alias": r.alias, "weight": r.weight} for r in routes]


class HttpDeploymentStore:
    """:class:`~keel.serving.deployment.DeploymentRepository` that talks to a Keel server; changes are recorded
    as made by ``user`` (default: ``KEEL_USER`` or the login name)."""

    def __init__(self, session: HttpSession, *, user: str | None = None) -> None:
        self.http = session
        self.user = user or current_user()

    def _one(self, method: str, path: str, **kw: Any) -> Deployment:
        return deployment_from_dict(self.http.json(method, path, **kw)["deployment"])

    def create_deployment(self, d: Deployment) -> Deployment:
        """Create a deployment."""
        body = deployment_to_dict(d)
        body["routes"], body["shadows"] = _routes(d.routes), _routes(d.shadows)
        body["updated_by"] = d.updated_by or self.user
        for key in ("revision", "created_at", "updated_at", "action"):
            del body[key]
        return self._one("POST", "/api/v1/deployments", json=body, idempotent=False)

    def update_deployment(self, name: str, *, routes: Sequence[Route] | None = None,
                          shadows: Sequence[Route] | None = None, sticky_key: str | None | Unset = UNSET,
                          max_batch_size: int | None = None, max_wait_ms: float | None = None,
                          description: str | None = None, updated_by: str | None = None) -> Deployment:
        """Write the next revision with the given fields changed (a repeated identical update writes nothing, so
        retrying it is safe)."""
        body: dict[str, Any] = {key: value for key, value in (
            ("max_batch_size", max_batch_size), ("max_wait_ms", max_wait_ms), ("description", description),
        ) if value is not None}
        if routes is not None:
            body["routes"] = _routes(routes)
        if shadows is not None:
            body["shadows"] = _routes(shadows)
        if sticky_key is not UNSET:
            body["sticky_key"] = sticky_key
        body["updated_by"] = updated_by or self.user
        return self._one("PATCH", _path(name), json=body)

    def get_deployment(self, name: str, revision: int | None = None) -> Deployment:
        """The latest revision, or the given one."""
        return self._one("GET", _path(name), params=None if revision is None else {"revision": revision})

    def list_deployments(self) -> list[Deployment]:
        """The latest revision of every deployment."""
        return [deployment_from_dict(d) for d in self.http.json("GET", "/api/v1/deployments")["deployments"]]

    def deployment_history(self, name: str) -> list[Deployment]:
        """Every revision, newest first."""
        return [deployment_from_dict(d) for d in self.http.json("GET", f"{_path(name)}/history")["deployments"]]

    def rollback_deployment(self, name: str, to_revision: int | None = None, *,
                            updated_by: str | None = None) -> Deployment:
        """Write a new revision serving the previous (or ``to_revision``'s) route table."""
        body = {"to_revision": to_revision, "updated_by": updated_by or self.user}
        return self._one("POST", f"{_path(name)}/rollback", json=body, idempotent=False)

    def delete_deployment(self, name: str, *, updated_by: str | None = None) -> None:
        """End a deployment."""
        self.http.request("DELETE", _path(name), json={"updated_by": updated_by or self.user}, idempotent=False)

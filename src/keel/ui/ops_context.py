"""The stores the operations pages (data, features, deployments, monitoring, lineage, pipelines) read: the server's
metadata database and project (those of its tracking store) and its content-addressed blob store."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from keel.artifacts import BlobStore
from keel.monitoring.monitor_store import SqlMonitorStore
from keel.server.state import state
from keel.store import Database

__all__ = ["OpsStores", "ops_stores"]


@dataclass(frozen=True)
class OpsStores:
    """The server's database, project and blobs."""

    db: Database
    project: str
    blobs: BlobStore

    @property
    def monitors(self) -> SqlMonitorStore:
        """The monitor store of the server's project."""
        return SqlMonitorStore(self.db, self.project)


def ops_stores(request: Request) -> OpsStores:
    """The stores of the request's project (``X-Keel-Project``) in the server handling ``request`` (``create_app``
    opens one database for every store)."""
    server = state(request)
    tracking = server.tracking
    return OpsStores(tracking.db, tracking.project, server.artifacts.blobs)  # type: ignore[attr-defined]

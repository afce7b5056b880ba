"""The repository interfaces over HTTP, used when the tracking URI is ``http(s)://``."""

from keel.client.artifacts import HttpArtifactStore
from keel.client.http import HttpSession
from keel.client.registry import HttpRegistryStore
from keel.client.tracking import HttpTrackingStore

__all__ = ["HttpArtifactStore", "HttpRegistryStore", "HttpSession", "HttpTrackingStore"]

"""``keel server``: one FastAPI app assembling one router per concept."""

from keel.server.app import create_app

__all__ = ["create_app"]

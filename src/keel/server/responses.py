"""JSON responses rendered by orjson (FastAPI's own ORJSONResponse is deprecated)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

__all__ = ["OrjsonResponse"]


class OrjsonResponse(JSONResponse):
    """A JSON response serialized with orjson."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)

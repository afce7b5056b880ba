"""One error hierarchy for all of Keel.

::

    KeelError                      (HTTP 500, INTERNAL_ERROR)
    ├── NotFound                   (404, RESOURCE_DOES_NOT_EXIST)
    ├── AlreadyExists              (400, RESOURCE_ALREADY_EXISTS)
    ├── InvalidInput               (400, INVALID_PARAMETER_VALUE)
    ├── PermissionDenied           (403, PERMISSION_DENIED)
    ├── Unauthenticated            (401, UNAUTHENTICATED)
    ├── Conflict                   (409, INVALID_STATE)
    ├── PayloadTooLarge            (413, REQUEST_LIMIT_EXCEEDED)
    ├── CorruptArtifact            (500, DATA_LOSS)
    └── Unavailable                (503, TEMPORARILY_UNAVAILABLE)

Each error carries an HTTP status and an MLflow-compatible ``error_code``; the server maps a raised error to that
status with a JSON body ``{"error_code", "message"}``, the CLI to exit code 2 and one line. Third-party errors are
turned into these at the adapter edge with ``raise ... from exc``.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AlreadyExists",
    "Conflict",
    "CorruptArtifact",
    "InvalidInput",
    "KeelError",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "Unauthenticated",
    "Unavailable",
    "error_from_code",
]


class KeelError(Exception):
    """Base of every error Keel raises on purpose."""

    http_status: ClassVar[int] = 500
    error_code: ClassVar[str] = "INTERNAL_ERROR"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        """The JSON body the server sends for this error."""
        body: dict[str, Any] = {"error_code": self.error_code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


class NotFound(KeelError):
    """The named object does not exist."""

    http_status = 404
    error_code = "RESOURCE_DOES_NOT_EXIST"


class AlreadyExists(KeelError):
    """An object with that identity exists already."""

    http_status = 400
    error_code = "RESOURCE_ALREADY_EXISTS"


class InvalidInput(KeelError):
    """The caller sent something malformed; the message names the field and the fix."""

    http_status = 400
    error_code = "INVALID_PARAMETER_VALUE"


class PermissionDenied(KeelError):
    """The caller is known but may not do this."""

    http_status = 403
    error_code = "PERMISSION_DENIED"


class Unauthenticated(KeelError):
    """The caller did not prove who they are."""

    http_status = 401
    error_code = "UNAUTHENTICATED"


class Conflict(KeelError):
    """The object is in a state that does not allow the operation."""

    http_status = 409
    error_code = "INVALID_STATE"


class PayloadTooLarge(KeelError):
    """The request body is larger than the server accepts; the message names the limit and its setting."""

    http_status = 413
    error_code = "REQUEST_LIMIT_EXCEEDED"


class CorruptArtifact(KeelError):
    """Stored bytes no longer match their checksum."""

    http_status = 500
    error_code = "DATA_LOSS"


class Unavailable(KeelError):
    """A backend (database, server, object store) cannot be reached right now; retrying may help."""

    http_status = 503
    error_code = "TEMPORARILY_UNAVAILABLE"


_BY_CODE: dict[str, type[KeelError]] = {
    cls.error_code: cls
    for cls in (NotFound, AlreadyExists, InvalidInput, PermissionDenied, Unauthenticated, Conflict,
                PayloadTooLarge, CorruptArtifact, Unavailable)
}


def error_from_code(error_code: str | None, message: str, status: int = 500) -> KeelError:
    """Rebuild the error a server sent (used by the HTTP client)."""
    cls = _BY_CODE.get(error_code or "")
    if cls is None:
        cls = {400: InvalidInput, 401: Unauthenticated, 403: PermissionDenied, 404: NotFound,
               409: Conflict, 413: PayloadTooLarge, 503: Unavailable}.get(status, KeelError)
    return cls(message)

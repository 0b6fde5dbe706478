"""Errors shaped like Kubernetes ``Status`` objects.

One tree serves every layer: the store raises these, the server renders them as a ``Status``
body, and the client raises the same class again from that body. So a caller catches
``Conflict`` whether it talks to SQLite in-process or to a control plane over HTTP.

    ApiError
     ├── BadRequest          400  malformed body, unknown kind
     ├── Unauthorized        401  missing or forged token
     ├── Forbidden           403  the tenant may not do this
     ├── NotFound            404
     ├── AlreadyExists       409  create of a name that exists
     ├── Conflict            409  stale resourceVersion
     ├── Gone                410  watch from a resourceVersion that was compacted away
     ├── RequestTooLarge     413
     ├── Invalid             422  a field breaks a rule (causes name the fields)
     ├── TooManyRequests     429  rate limited (retry_after_seconds)
     ├── BadGateway          502  the upstream (control plane, runtime) did not answer
     └── ServiceUnavailable  503  not ready to serve yet
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

__all__ = [
    "AlreadyExists",
    "ApiError",
    "BadGateway",
    "BadRequest",
    "Cause",
    "Conflict",
    "Forbidden",
    "Gone",
    "Invalid",
    "NotFound",
    "RequestTooLarge",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "error_from_status",
]


class Cause(NamedTuple):
    """One broken rule: ``field`` is a dotted path such as ``spec.workers.replicas``.

    A ``NamedTuple`` (immutable, compared by value), not a dataclass: the tracking SDK imports
    this module in every job, and ``dataclasses`` costs more to import than the rest of it."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "reason": self.reason}


class ApiError(Exception):
    """Base of every API error; ``to_status()`` is the wire form."""

    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        causes: list[Cause] | None = None,
        kind: str | None = None,
        name: str | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.causes = list(causes or [])
        self.kind = kind
        self.name = name
        self.retry_after_seconds = retry_after_seconds

    def to_status(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.kind:
            details["kind"] = self.kind
        if self.name:
            details["name"] = self.name
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after_seconds is not None:
            details["retryAfterSeconds"] = self.retry_after_seconds
        status: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Status",
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            status["details"] = details
        return status


class BadRequest(ApiError):
    code = 400
    reason = "BadRequest"


class Unauthorized(ApiError):
    code = 401
    reason = "Unauthorized"


class Forbidden(ApiError):
    code = 403
    reason = "Forbidden"


class NotFound(ApiError):
    code = 404
    reason = "NotFound"


class AlreadyExists(ApiError):
    code = 409
    reason = "AlreadyExists"


class Conflict(ApiError):
    code = 409
    reason = "Conflict"


class Gone(ApiError):
    code = 410
    reason = "Expired"


class RequestTooLarge(ApiError):
    code = 413
    reason = "RequestEntityTooLarge"


class Invalid(ApiError):
    code = 422
    reason = "Invalid"


class TooManyRequests(ApiError):
    code = 429
    reason = "TooManyRequests"


class BadGateway(ApiError):
    code = 502
    reason = "BadGateway"


class ServiceUnavailable(ApiError):
    code = 503
    reason = "ServiceUnavailable"


_BY_REASON: dict[str, type[ApiError]] = {
    cls.reason: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        AlreadyExists,
        Conflict,
        Gone,
        RequestTooLarge,
        Invalid,
        TooManyRequests,
        BadGateway,
        ServiceUnavailable,
    )
}


def error_from_status(status: dict[str, Any], http_code: int) -> ApiError:
    """Rebuild the error a server sent as a ``Status`` body (or any JSON error body)."""
    reason = str(status.get("reason", ""))
    cls = _BY_REASON.get(reason)
    if cls is None:
        cls = next((c for c in _BY_REASON.values() if c.code == http_code), ApiError)
    details = status.get("details") or {}
    causes = [
        Cause(field=str(c.get("field", "")), message=str(c.get("message", "")),
              reason=str(c.get("reason", "FieldValueInvalid")))
        for c in details.get("causes", []) or []
    ]
    message = str(status.get("message") or status.get("detail") or f"HTTP {http_code}")
    return cls(
        message,
        causes=causes,
        kind=details.get("kind"),
        name=details.get("name"),
        retry_after_seconds=details.get("retryAfterSeconds"),
    )

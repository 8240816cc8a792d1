"""Typed errors mapped from the API's one JSON error shape:
`{"error": {"code", "message", "status", "fields"?, "current"?}}`."""

from __future__ import annotations

from typing import Any


class LineError(Exception):
    """Base of every error this client raises."""


class ConnectionFailed(LineError):
    """The service could not be reached (after the retries)."""


class ApiError(LineError):
    status: int = 0

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: dict[str, Any] | None = None,
        current: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}
        # On 409: the intent's state now (status, phase, assigned_to, ...).
        self.current = current


class InvalidInput(ApiError):
    """400: the request was malformed; `fields` says which."""


class Unauthorized(ApiError):
    """401: no token or an unknown one."""


class Forbidden(ApiError):
    """403: the token's role or executor may not do this."""


class NotFound(ApiError):
    """404: no such intent or executor."""


class Conflict(ApiError):
    """409: not allowed in the intent's current state (e.g. work lost to another executor);
    `current` says what it is now."""


class PayloadTooLarge(ApiError):
    """413: the body is over the service's limit."""


class Unavailable(ApiError):
    """503: the service's database is down (retried before this is raised)."""


BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidInput,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    503: Unavailable,
}


def from_response(status: int, body: Any) -> ApiError:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {"code": "http_error", "message": str(body)[:500]}
    cls = BY_STATUS.get(status, ApiError)
    return cls(
        status,
        str(error.get("code", "error")),
        str(error.get("message", "")),
        fields=error.get("fields"),
        current=error.get("current"),
    )

"""Domain errors and the one JSON error shape every failure answers with:

    {"error": {"code": "...", "message": "...", "status": 409, "fields": {...}, "current": {...}}}

`fields` (validation problems by field) and `current` (the intent's state now, on 409) appear
only where they apply.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

log = structlog.get_logger("assemblyline.errors")


class LineError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, current: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.current = current


class InvalidInput(LineError):
    status = 400
    code = "invalid"


class NotAllowed(LineError):
    """The caller may not do this (role, or work that is not theirs)."""

    status = 403
    code = "forbidden"


class NotFound(LineError):
    status = 404
    code = "not_found"


class TransitionNotAllowed(LineError):
    """The change is not allowed in the intent's current state; `current` says what it is."""

    status = 409
    code = "transition_not_allowed"


def error_body(
    status: int,
    code: str,
    message: str,
    *,
    fields: Any = None,
    current: dict[str, Any] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if fields is not None:
        error["fields"] = fields
    if current is not None:
        error["current"] = current
    return {"error": error}


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            return f"{key}: {_first_message(value)}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error, domain or framework, in one shape."""
    headers: dict[str, str] = {}
    if isinstance(exc, LineError):
        body = error_body(exc.status, exc.code, exc.message, current=exc.current)
        return Response(body, status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body(413, "too_large", "request body is larger than the limit"), status=413
        )
    if isinstance(exc, (OperationalError, InterfaceError)):
        log.warning("database_unavailable", error=f"{type(exc).__name__}: {exc}")
        return Response(
            error_body(503, "database_unavailable", "the database is not reachable; retry"),
            status=503,
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, DatabaseError):
        return None  # a real bug: let it surface as a 500
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if not isinstance(exc, drf.APIException):
        return None
    status = exc.status_code
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        status = 401
        headers["WWW-Authenticate"] = 'Bearer realm="assembly-line"'
    if isinstance(exc, drf.ValidationError):
        body = error_body(400, "invalid", _first_message(exc.detail), fields=exc.detail)
    else:
        code = exc.default_code if isinstance(exc.default_code, str) else "error"
        body = error_body(status, code, _first_message(exc.detail))
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))  # type: ignore[attr-defined]
    return Response(body, status=status, headers=headers)


def json_not_found(request: Any, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body(404, "not_found", f"no such path: {request.path}"), status=404)


def json_server_error(request: Any) -> JsonResponse:
    return JsonResponse(error_body(500, "server_error", "internal error"), status=500)


def json_bad_request(request: Any, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body(400, "bad_request", "bad request"), status=400)

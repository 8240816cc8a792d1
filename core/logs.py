"""Logs: structlog, one JSON object per line on stdout (plain, readable lines when DEBUG is
on). Standard-library log records (Django, Daphne, our modules) go through the same
formatter, so every line on stdout has the same shape.

Two kinds of lines the operators rely on:
- `state_change`: one per committed event (kind, intent_id, executor_id, from/to status and
  phase, actor, request_id);
- `request`: one per HTTP request (method, path, status, duration_ms, request_id).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

from core.requeststats import stats

SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def logging_config(*, debug: bool, level: str) -> dict[str, Any]:
    """The LOGGING dict for settings, and structlog configured to feed it. Python warnings
    go through logging too, so they become log lines of the same shape."""
    logging.captureWarnings(True)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *SHARED_PROCESSORS,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if debug
        else structlog.processors.JSONRenderer(sort_keys=False)
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    renderer,
                ],
                "foreign_pre_chain": [*SHARED_PROCESSORS, structlog.stdlib.ExtraAdder()],
            },
        },
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "structlog",
            },
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "django.channels.server": {"level": "WARNING"},
            # Our request line replaces Django's own 4xx/5xx warnings (5xx keep their
            # traceback in django.request's ERROR record).
            "django.request": {"level": "ERROR"},
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }


events_log = structlog.get_logger("assemblyline.events")
requests_log = structlog.get_logger("assemblyline.requests")


def log_state_change(event: dict[str, Any]) -> None:
    events_log.info(
        "state_change",
        kind=event["type"],
        event_id=event["id"],
        intent_id=event["intent_id"],
        executor_id=event["executor_id"],
        from_status=event["from_status"],
        to_status=event["to_status"],
        from_phase=event["from_phase"],
        to_phase=event["to_phase"],
        actor=event["actor"],
    )


def _start(request: HttpRequest) -> tuple[str, float]:
    request_id = request.headers.get("X-Request-ID", "")[:100] or uuid.uuid4().hex
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    return request_id, time.perf_counter()


def _finish(
    request: HttpRequest, response: HttpResponse, request_id: str, started: float
) -> HttpResponse:
    response["X-Request-ID"] = request_id
    stats.record(response.status_code)
    requests_log.info(
        "request",
        method=request.method,
        path=request.path,
        status=response.status_code,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    structlog.contextvars.clear_contextvars()
    return response


@sync_and_async_middleware
def request_log_middleware(get_response: Callable[[HttpRequest], Any]) -> Any:
    """Binds a request id (the caller's X-Request-ID or a new one) for every log line of the
    request, answers it in X-Request-ID, logs one `request` line and counts it for the UDC
    `GET /state`."""
    if iscoroutinefunction(get_response):

        async def async_middleware(request: HttpRequest) -> HttpResponse:
            request_id, started = _start(request)
            response = await get_response(request)
            return _finish(request, response, request_id, started)

        return async_middleware

    def middleware(request: HttpRequest) -> HttpResponse:
        request_id, started = _start(request)
        response = get_response(request)
        return _finish(request, response, request_id, started)

    return middleware

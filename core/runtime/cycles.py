"""Breaking the reference cycles DRF and Django's middleware make through a request and its
answer, so both are freed by reference counting when the server lets them go, not by a later
garbage collection (which, under load, piled them up in the old generations)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBase

WRITTEN_FOR = {"djangorestframework": "3.16", "django": "5.2"}

# What Django's middleware puts on a request that points back at the request: the lazy user
# and `auser` (AuthenticationMiddleware), the message storage (MessageMiddleware).
REQUEST_CYCLES = ("user", "auser", "_messages")


def release_answer(response: HttpResponseBase) -> None:
    """Let a rendered REST answer's data go now: a DRF response and its view point at each
    other (`view.response`, `response.renderer_context["view"]`). Once rendered, only the
    bytes are sent."""
    if getattr(response, "is_rendered", False) and hasattr(response, "renderer_context"):
        context = response.renderer_context or {}
        if context.get("request") is not None:
            # {"view": ..., "request": itself}: the DRF request, its view and itself.
            context["request"].parser_context = None
        if context.get("view") is not None:
            # The view's request and response, and `head`, its own bound `get` (Django).
            context["view"].__dict__.clear()
        # A DRF Response (it has a renderer_context), which mypy cannot tell from the check.
        response.data = None  # type: ignore[attr-defined]
        response.renderer_context = None


def release_request(request: HttpRequest) -> None:
    """Drop what Django's own middleware put on the request that points back at it."""
    for name in REQUEST_CYCLES:
        request.__dict__.pop(name, None)

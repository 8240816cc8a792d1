"""Input limits outside the JSON body (core/parsers.py has those): NUL in the URL or a
header, and float fields that must be finite."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import serializers

from core.errors import error_body
from core.parsers import text_problem


def _url_or_header_problem(request: HttpRequest) -> str | None:
    problem = text_problem(request.path)
    if problem:
        return f"the path: {problem}"
    query = request.META.get("QUERY_STRING", "")
    if query and (problem := text_problem(unquote(query))):
        return f"the query string: {problem}"
    for key, value in request.META.items():
        if (key.startswith("HTTP_") or key == "CONTENT_TYPE") and "\x00" in str(value):
            return f"a header ({key}): NUL characters are not allowed"
    return None


def url_guard_middleware(get_response: Callable[[HttpRequest], HttpResponse]) -> Any:
    """NUL (or a lone surrogate) in the path, the query or a header → 400, before any view:
    PostgreSQL refuses NUL in text, so it was a 500 wherever such a value reached a query."""

    def middleware(request: HttpRequest) -> HttpResponse:
        problem = _url_or_header_problem(request)
        if problem:
            return JsonResponse(error_body(400, "bad_request", problem), status=400)
        return get_response(request)

    return middleware


class FiniteFloatField(serializers.FloatField):
    """A FloatField that refuses NaN and ±Infinity ("nan" and "inf" parse as floats and slip
    through min/max: NaN compares false with every bound)."""

    default_error_messages = {"not_finite": "A finite number is required (not NaN or Infinity)."}

    def to_internal_value(self, data: Any) -> float:
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("not_finite")
        return value

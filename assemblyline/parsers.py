"""The one JSON parser of the API, with the input limits (DESIGN §7: garbage in, clear 4xx out).

- Bodies larger than DATA_UPLOAD_MAX_MEMORY_SIZE (MAX_BODY_BYTES) → 413, checked on the
  declared length before anything is read, and on the bytes actually read.
- What JSON allows but the line cannot store or judge → 400, before any view runs:
  NaN/Infinity (and numbers too large for a float, which Python reads as infinity), NUL
  (PostgreSQL text and jsonb refuse it), lone surrogates (not encodable as UTF-8), anywhere in
  the document, keys included; and nesting deeper than MAX_JSON_DEPTH.
"""

from __future__ import annotations

import json
import math
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _no_constant(name: str) -> Any:
    raise ParseError(f"JSON parse error - {name} is not allowed: numbers must be finite")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ParseError(f"JSON parse error - {text[:40]} is not a finite number")
    return value


def text_problem(text: str) -> str | None:
    """Why a string cannot be stored (PostgreSQL text/jsonb, UTF-8), or None."""
    if "\x00" in text:
        return "NUL characters (\\u0000) are not allowed"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "lone surrogates (\\ud800-\\udfff) are not allowed"
    return None


def json_problem(data: Any, limit: int) -> str | None:
    """The first reason `data` is not acceptable (depth, NUL, surrogates), or None.
    Iterative: a deep document costs no recursion."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                return problem
            continue
        if isinstance(value, dict):
            children: Any = value.values()
            for key in value:
                problem = text_problem(key)
                if problem:
                    return f"{problem} (in a key)"
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return f"JSON nested deeper than {limit} levels"
        stack.extend((child, depth + 1) for child in children)
    return None


def loads(raw: bytes | str) -> Any:
    """JSON text → data, or ParseError with a message that says what is wrong."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise ParseError(f"JSON nested deeper than {settings.MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(f"JSON parse error - {exc}") from None
    problem = json_problem(data, settings.MAX_JSON_DEPTH)
    if problem:
        raise ParseError(problem)
    return data


class LimitedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise RequestDataTooBig("request body is larger than the limit")
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestDataTooBig("request body is larger than the limit")
        return loads(raw)

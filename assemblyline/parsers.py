"""The one JSON parser of the API, with the input limits (DESIGN §7: garbage in, clear 4xx out).

- Bodies larger than DATA_UPLOAD_MAX_MEMORY_SIZE (MAX_BODY_BYTES) → 413, checked on the
  declared length before anything is read, and on the bytes actually read.
- JSON nested deeper than MAX_JSON_DEPTH → 400 (it would otherwise cost recursion, or a 500).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def json_depth_exceeds(data: Any, limit: int) -> bool:
    """True when `data` nests containers deeper than `limit` (iterative: no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


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
        try:
            data = json.loads(raw.decode("utf-8"))
        except RecursionError:
            raise ParseError(f"JSON nested deeper than {settings.MAX_JSON_DEPTH} levels") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if json_depth_exceeds(data, settings.MAX_JSON_DEPTH):
            raise ParseError(f"JSON nested deeper than {settings.MAX_JSON_DEPTH} levels")
        return data

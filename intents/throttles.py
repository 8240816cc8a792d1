"""Request rate limits of the line's own API (DRF throttles)."""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

WINDOW_SECONDS = 60


class VerifyRateThrottle(BaseThrottle):
    """VERIFY_RATE `/verify` calls per intent per minute, whoever calls: each one may make
    the server probe a built service. A fixed one-minute window counted in the cache (Redis:
    shared by every process); while the cache is down nothing is limited."""

    def __init__(self) -> None:
        self.wait_seconds = 0.0

    def allow_request(self, request: Request, view: Any) -> bool:
        rate = int(settings.VERIFY_RATE)
        data = request.data
        intent_id = data.get("intent_id") if hasattr(data, "get") else None
        if rate <= 0 or not isinstance(intent_id, str):
            return True  # no limit, or no intent: the view answers 400
        now = time.time()
        start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        digest = hashlib.sha256(intent_id.encode(errors="replace")).hexdigest()[:32]
        key = f"verify-rate:{digest}:{start}"
        try:
            cache.add(key, 0, timeout=WINDOW_SECONDS + 5)
            count = cache.incr(key)
        except (RedisError, OSError, ValueError):
            return True
        self.wait_seconds = start + WINDOW_SECONDS - now
        return count <= rate

    def wait(self) -> float:
        return max(1, math.ceil(self.wait_seconds))

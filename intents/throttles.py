"""Request rate limits of the line's own API."""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError
from rest_framework.exceptions import Throttled

WINDOW_SECONDS = 60


def verify_rate_check(*, intent_id: str) -> None:
    """Rule: at most VERIFY_RATE `/verify` calls per intent per minute, whoever calls (each
    may make the server probe a built service); beyond it Throttled (429, Retry-After). A fixed
    one-minute window counted in the cache (Redis: shared by every process); while the cache
    is down nothing is limited. Called with a validated id, so malformed calls never count."""
    rate = int(settings.VERIFY_RATE)
    if rate <= 0:
        return
    now = time.time()
    start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
    key = f"verify-rate:{hashlib.sha256(intent_id.encode()).hexdigest()[:32]}:{start}"
    try:
        cache.add(key, 0, timeout=WINDOW_SECONDS + 5)
        count = cache.incr(key)
    except (RedisError, OSError, ValueError):
        return
    if count > rate:
        raise Throttled(wait=max(1, math.ceil(start + WINDOW_SECONDS - now)))

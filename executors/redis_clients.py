"""Every Redis connection pool the app makes itself (live status, event publishing, the cache).

One Redis at REDIS_URL, or, with REDIS_SENTINELS, whichever Redis the sentinels name primary
(settings.REDIS_SENTINEL_PRIMARY: the same entry the channel layer's subscriber is built from
by channels-redis). A sentinel pool asks the sentinels whenever it opens a connection, so
after a failover the next connection goes to the promoted replica; a connection to a primary
that became a replica fails on its first write and is replaced."""

from __future__ import annotations

from typing import Any

import redis
from django.conf import settings
from redis.sentinel import Sentinel, SentinelConnectionPool


def connection_pool(**options: Any) -> redis.ConnectionPool:
    """A pool for REDIS_URL, or for the sentinels' primary; `options` go to each connection."""
    if not settings.REDIS_SENTINELS:
        return redis.ConnectionPool.from_url(settings.REDIS_URL, **options)
    primary = dict(settings.REDIS_SENTINEL_PRIMARY)
    sentinel = Sentinel(primary.pop("sentinels"), sentinel_kwargs=primary.pop("sentinel_kwargs"))
    return SentinelConnectionPool(primary.pop("master_name"), sentinel, **{**primary, **options})


def client(**options: Any) -> redis.Redis:
    return redis.Redis(connection_pool=connection_pool(**options))

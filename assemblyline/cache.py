"""Django's Redis cache with one client, and so one connection pool, per process.

Django keeps cache objects in a context-local store. Under ASGI every request runs in a
context of its own, so each request that touched `cache` made a new `RedisCache`, a new
connection pool and a new TCP connection to Redis, and left the old ones to the garbage
collector. Measured on a server: one new Redis connection per `GET /assembly-line/state`.
Here the client is shared by every cache object of the same servers and options in the
process; redis-py's pool is thread-safe. The pool comes from the app's one factory
(executors/redis_clients.py): REDIS_URL's Redis, or with REDIS_SENTINELS the sentinels'
primary, so the cache follows a failover.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from executors.redis_clients import connection_pool


class LineCacheClient(RedisCacheClient):
    """Django's client on one pool from the app's factory (LOCATION is REDIS_URL)."""

    def _get_connection_pool(self, write: bool) -> Any:
        if 0 not in self._pools:
            self._pools[0] = connection_pool(**self._pool_options)
        return self._pools[0]


class ProcessRedisCache(RedisCache):
    _clients: ClassVar[dict[str, RedisCacheClient]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @property
    def _cache(self) -> Any:  # Django's is a cached_property: one client per cache object
        key = repr((self._servers, sorted(self._options.items())))
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = LineCacheClient(self._servers, **self._options)
        return client

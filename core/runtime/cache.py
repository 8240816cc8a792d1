"""Django's Redis cache with one client, and so one connection pool, per process.

Django keeps cache objects in a context-local store, and under ASGI every request runs in a
context of its own: each request made a new client, pool and TCP connection to Redis. Here
every cache object of the same servers and options shares one client; the pool comes from the
app's one factory (core/redis_clients.py), so the cache follows a Sentinel failover."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from core.redis_clients import connection_pool

WRITTEN_FOR = {"django": "5.2"}


class LineCacheClient(RedisCacheClient):
    """Django's client on one pool from the app's factory (LOCATION is REDIS_URL)."""

    # Set by RedisCacheClient.__init__; django-stubs does not declare them.
    _pools: dict[int, Any]
    _pool_options: dict[str, Any]

    def _get_connection_pool(self, write: bool) -> Any:
        if 0 not in self._pools:
            self._pools[0] = connection_pool(**self._pool_options)
        return self._pools[0]


class ProcessRedisCache(RedisCache):
    # Set by RedisCache.__init__; django-stubs does not declare them.
    _servers: list[str]
    _options: dict[str, Any]
    _class: type[RedisCacheClient]
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

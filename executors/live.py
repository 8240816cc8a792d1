"""Executors' live status in Redis (DESIGN §7), with PostgreSQL as the fallback.

Every executor call sets `al:hb:<executor_id>` with a TTL of EXECUTOR_OFFLINE_AFTER_SECONDS;
an executor whose key lapsed is offline. PostgreSQL keeps `last_heartbeat`, written behind.

Redis is a helper here, never a dependency: every call has a short timeout, and after a failure
the circuit stays open for REDIS_RETRY_SECONDS, during which callers get `None` at once and fall
back to PostgreSQL. The first call after that tries Redis again, so the service recovers by
itself when Redis returns. `/health` and the `assemblyline_redis_up` gauge report the state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
from django.conf import settings
from prometheus_client import Gauge

from core.redis_clients import client as redis_client

logger = logging.getLogger("assemblyline.live")

REDIS_UP = Gauge("assemblyline_redis_up", "1 when Redis answers, 0 when the line runs degraded")

T = TypeVar("T")

KEY_PREFIX = "al:hb:"
# Set for HEARTBEAT_WRITE_SECONDS when an executor's heartbeat is written to the database.
WRITTEN_PREFIX = "al:hbw:"


class LiveStatus:
    def __init__(self) -> None:
        self._client: redis.Redis | None = None
        self._lock = threading.Lock()
        self._down_until = 0.0
        self.error = ""

    def _redis(self) -> redis.Redis | None:
        if not settings.REDIS_URL:
            return None
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = redis_client(
                        socket_connect_timeout=settings.REDIS_TIMEOUT_SECONDS,
                        socket_timeout=settings.REDIS_TIMEOUT_SECONDS,
                    )
        return self._client

    @property
    def configured(self) -> bool:
        return bool(settings.REDIS_URL)

    @property
    def degraded(self) -> bool:
        """True while the circuit is open (Redis failed recently)."""
        return bool(self.error)

    def call(self, operation: Callable[[redis.Redis], T]) -> T | None:
        """Run one Redis operation, or return None when Redis is not configured or down."""
        client = self._redis()
        if client is None or time.monotonic() < self._down_until:
            return None
        try:
            result = operation(client)
        except redis.RedisError as exc:
            self._mark_down(exc)
            return None
        if self.error:
            logger.warning("redis is back; live status restored")
            self.error = ""
        REDIS_UP.set(1)
        return result

    def _mark_down(self, exc: Exception) -> None:
        if not self.error:
            logger.warning("redis unavailable, live status falls back to PostgreSQL: %s", exc)
        self.error = f"{type(exc).__name__}: {exc}"
        self._down_until = time.monotonic() + settings.REDIS_RETRY_SECONDS
        REDIS_UP.set(0)

    def ping(self) -> tuple[bool, str]:
        """A real round trip, ignoring the open circuit (for /health)."""
        client = self._redis()
        if client is None:
            return True, "not configured (in-memory channel layer)"
        try:
            client.ping()
        except redis.RedisError as exc:
            self._mark_down(exc)
            return False, self.error
        if self.error:
            logger.warning("redis is back; live status restored")
        self.error = ""
        self._down_until = 0.0
        REDIS_UP.set(1)
        return True, "ok"

    # --- heartbeats -------------------------------------------------------------------

    def beat(self, executor_id: str) -> bool | None:
        """Mark the executor alive. True when its key had lapsed (it was offline before),
        False when it was alive, None when Redis cannot tell."""
        ttl = settings.EXECUTOR_OFFLINE_AFTER_SECONDS
        previous: Any = self.call(lambda r: r.set(KEY_PREFIX + executor_id, b"1", ex=ttl, get=True))
        if previous is None and self.degraded or not self.configured:
            return None
        return previous is None

    def touch(
        self, executor_id: str, write_every: float, publish: Sequence[tuple[str, bytes]] = ()
    ) -> tuple[bool, bool] | None:
        """`beat`, and whether the database's copy of the heartbeat is due (at most once per
        `write_every` seconds, across processes), in one round trip: (lapsed, write_due);
        None when Redis cannot tell. `publish`: (channel, message) pairs sent in the same
        round trip, after the heartbeat (an executor call's events); with a None answer they
        may not have been sent."""
        ttl = settings.EXECUTOR_OFFLINE_AFTER_SECONDS

        def operation(r: redis.Redis) -> list[Any]:
            pipe = r.pipeline(transaction=False)
            pipe.set(KEY_PREFIX + executor_id, b"1", ex=ttl, get=True)
            pipe.set(
                WRITTEN_PREFIX + executor_id, b"1", px=max(int(write_every * 1000), 1), nx=True
            )
            for channel, message in publish:
                pipe.publish(channel, message)
            return pipe.execute()[:2]

        result = self.call(operation)
        if result is None:
            return None
        previous, written = result
        return previous is None, bool(written)

    def alive(self, executor_ids: list[str]) -> dict[str, bool] | None:
        """Which executors have a live key, in one round trip; None when Redis cannot tell."""
        if not executor_ids:
            return {} if self.configured and not self.degraded else None
        values = self.call(lambda r: r.mget([KEY_PREFIX + e for e in executor_ids]))
        if values is None:
            return None
        return {e: v is not None for e, v in zip(executor_ids, values, strict=True)}

    def forget(self, executor_id: str) -> None:
        self.call(lambda r: r.delete(KEY_PREFIX + executor_id))


live = LiveStatus()

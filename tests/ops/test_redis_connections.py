"""A server keeps its Redis connections: requests reuse them instead of opening new ones."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.conf import settings

from executors.models import Role
from executors.services import token_create
from tests.conftest import need
from tests.servers import RedisServer, Server


@pytest.mark.django_db(transaction=True)
def test_reads_of_the_queue_counts_reuse_one_redis_connection(postgres: Any) -> None:
    """/state reads the queue-counts snapshot from the Django cache. Django keeps cache objects
    per context, and under ASGI every request has its own, so its RedisCache opened a new
    connection pool and TCP connection on every request (core/runtime/cache.py)."""
    need(bool(settings.REDIS_URL), "Redis (REDIS_URL)")
    need(RedisServer.available(), "redis-server")
    own = RedisServer().start()  # its own, so that no other client's connections are counted
    token = token_create(name="watcher", role=Role.VIEWER)[1]
    server = Server({"REDIS_URL": own.url}).start()
    try:
        stats = redis.Redis.from_url(own.url)
        with server.client(token) as http:
            assert http.get("/assembly-line/state").status_code == 200
            before = stats.info("stats")["total_connections_received"]
            for _ in range(30):
                assert http.get("/assembly-line/state").status_code == 200
        after = stats.info("stats")["total_connections_received"]
        # The cache pool may grow by a connection when requests overlap; these are sequential.
        assert after - before <= 2, f"{after - before} new Redis connections for 30 requests"
    finally:
        server.stop()
        own.stop()

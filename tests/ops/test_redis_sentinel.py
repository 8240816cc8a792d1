"""Redis behind Sentinel: a primary, a replica and three sentinels of the test's own (Debian's
redis-server, in sentinel mode for the sentinels), a server started with REDIS_SENTINELS,
WebSocket viewers and executors at work; then the primary is killed with SIGKILL.

The line keeps answering from PostgreSQL while no primary is there (/health `degraded`), and
once the sentinels promote the replica it finds it by itself: /health `ok`, heartbeats in the
new primary, and events reach the viewers again. The timeline is printed (pytest -s)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import redis
from django.conf import settings

from executors.models import Role
from executors.services import token_create
from intents.models import Intent
from tests.conftest import SPEC_OK, need
from tests.reliability.test_faults import (
    ExecutorLoop,
    assert_never_held_twice,
    completed_count,
    make_fleet,
    submit_many,
    wait_until,
)
from tests.servers import ROOT, Server, free_port

pytestmark = pytest.mark.django_db(transaction=True)

MASTER = "linemaster"
# As in deploy/kubernetes/redis-values.yaml: Redis and the sentinels ask for one password, and
# the line uses a database other than 0 (both come from REDIS_URL).
PASSWORD = "s3cret/pw"
DB = 7
# Sentinel's own failure detection; production uses more (deploy/kubernetes/: 5 s).
DOWN_AFTER_MS = 1000
# Events must flow again at most this long after the sentinels promote the replica: the
# channel layer's subscriber retries once a second, the live-status circuit every 0.5 s here.
EVENTS_BACK_WITHIN_SECONDS = 5.0


class RedisNode:
    """A redis-server, or with `sentinel_of` a sentinel watching that primary's port."""

    def __init__(self, *, replica_of: int | None = None, sentinel_of: int | None = None) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="redis-sentinel-test-")
        config = [
            f"port {self.port}",
            "bind 127.0.0.1",
            f'dir "{self.dir}"',
            f'requirepass "{PASSWORD}"',
        ]
        if sentinel_of is not None:
            config += [
                f"sentinel monitor {MASTER} 127.0.0.1 {sentinel_of} 2",
                f'sentinel auth-pass {MASTER} "{PASSWORD}"',
                f'sentinel sentinel-pass "{PASSWORD}"',
                f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}",
                f"sentinel failover-timeout {MASTER} 10000",
            ]
        else:
            config += ['save ""', "appendonly no", f'masterauth "{PASSWORD}"']
            if replica_of is not None:
                config.append(f"replicaof 127.0.0.1 {replica_of}")
        self.config = Path(self.dir) / "redis.conf"
        self.config.write_text("\n".join(config) + "\n")  # a sentinel rewrites its file
        args = ["redis-server", str(self.config)] + (["--sentinel"] if sentinel_of else [])
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = redis.Redis(
            port=self.port,
            password=PASSWORD,
            db=0 if sentinel_of else DB,
            socket_timeout=1,
            decode_responses=True,
        )

    def answers(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def primary_port(sentinel: RedisNode) -> int:
    host_port = sentinel.client.execute_command("SENTINEL", "get-master-addr-by-name", MASTER)
    return int(host_port[1])


class Viewers(threading.Thread):
    """WebSocket viewers on their own event loop; `events[i]` holds viewer i's arrival times."""

    def __init__(self, url: str, token: str, count: int) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.count = url, token, count
        self.events: list[list[float]] = [[] for _ in range(count)]
        self.connected = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # reported by the test
            self.error = exc

    async def _run(self) -> None:
        from websockets.asyncio.client import connect

        clients = [
            await connect(
                self.url,
                additional_headers={"Authorization": f"Bearer {self.token}"},
                open_timeout=20,
            )
            for _ in range(self.count)
        ]
        for client in clients:
            assert json.loads(await client.recv())["type"] == "snapshot"
        self.connected.set()
        await asyncio.gather(*[self._listen(n, c) for n, c in enumerate(clients)])

    async def _listen(self, n: int, client: Any) -> None:
        while not self.stop.is_set():
            try:
                message = json.loads(await asyncio.wait_for(client.recv(), 0.5))
            except TimeoutError:
                continue
            if message["type"] in ("event", "events"):
                self.events[n].append(time.monotonic())
        await client.close()

    def first_after(self, moment: float) -> list[float | None]:
        return [next((t for t in times if t > moment), None) for times in self.events]


class Submitter(threading.Thread):
    """Submits an intent through the server every 0.3 s, so there is always news."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.url, self.headers = url, {"Authorization": f"Bearer {token}"}
        self.ids: list[str] = []
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.wait(0.3):
            n += 1
            try:
                answer = httpx.post(
                    self.url + "/assembly-line/intent",
                    headers=self.headers,
                    json={"title": f"sentinel-{n}", "spec_text": SPEC_OK},
                    timeout=10,
                )
            except httpx.HTTPError as exc:
                self.errors.append(repr(exc))
                continue
            if answer.status_code == 201:
                self.ids.append(answer.json()["intent_id"])
            else:
                self.errors.append(f"{answer.status_code} {answer.text[:200]}")


def health(url: str) -> str:
    return str(httpx.get(url + "/health", timeout=5).json()["status"])


@pytest.fixture
def sentinel_group() -> Iterator[tuple[RedisNode, RedisNode, list[RedisNode]]]:
    """A primary, its replica and three sentinels that know them and each other."""
    need(bool(settings.REDIS_URL), "Redis (REDIS_URL)")
    need(shutil.which("redis-server") is not None, "redis-server")
    nodes: list[RedisNode] = []

    def start(**kw: int) -> RedisNode:
        nodes.append(RedisNode(**kw))
        wait_until(nodes[-1].answers, 10, f"redis on port {nodes[-1].port}")
        return nodes[-1]

    try:
        primary = start()
        replica = start(replica_of=primary.port)
        wait_until(
            lambda: replica.client.info("replication")["master_link_status"] == "up",
            15,
            "the replica to sync",
        )
        sentinels = [start(sentinel_of=primary.port) for _ in range(3)]
        # Each sentinel has found the replica and the two other sentinels (hello messages).
        wait_until(
            lambda: all(
                len(s.client.execute_command("SENTINEL", "replicas", MASTER)) == 1
                and len(s.client.execute_command("SENTINEL", "sentinels", MASTER)) == 2
                for s in sentinels
            ),
            30,
            "the sentinels to know each other and the replica",
        )
        yield primary, replica, sentinels
    finally:
        for node in nodes:
            node.cleanup()


def test_primary_killed_line_degrades_then_follows_the_promoted_replica(
    postgres: Any, sentinel_group: tuple[RedisNode, RedisNode, list[RedisNode]]
) -> None:
    primary, replica, sentinels = sentinel_group
    tokens = make_fleet(3, prefix="sn")
    intent_ids = submit_many(6)
    server = Server(
        {
            "REDIS_URL": f"redis://:{quote(PASSWORD, safe='')}@unused/{DB}",
            "REDIS_SENTINEL_PASSWORD": PASSWORD,
            "REDIS_SENTINELS": ",".join(f"127.0.0.1:{s.port}" for s in sentinels),
            "REDIS_SENTINEL_MASTER": MASTER,
            "REDIS_RETRY_SECONDS": "0.5",
            "RETRY_BACKOFF_SECONDS": "0",
        }
    )
    stop = threading.Event()
    fleet = [ExecutorLoop(server.url, e, t, stop) for e, t in tokens.items()]
    viewers = Viewers(
        server.url.replace("http://", "ws://") + "/ws/assembly-line/",
        token_create(name="watchers", role=Role.VIEWER)[1],
        count=5,
    )
    submitter = Submitter(server.url, token_create(name="alice", role=Role.SUBMITTER)[1])
    try:
        server.start()
        assert health(server.url) == "ok"
        viewers.start()
        assert viewers.connected.wait(30), viewers.error
        for executor in fleet:
            executor.start()
        submitter.start()
        wait_until(lambda: completed_count(intent_ids) >= 3, 60, "work with the primary up")
        wait_until(lambda: all(viewers.events), 10, "every viewer's first event")
        assert primary.client.exists("al:hb:sn-00") == 1  # live status on the primary

        primary.kill()
        killed = time.monotonic()
        assert health(server.url) == "degraded"
        degraded_seen = time.monotonic()

        wait_until(
            lambda: primary_port(sentinels[0]) == replica.port,
            30,
            "the sentinels to promote the replica",
        )
        promoted = time.monotonic()
        wait_until(lambda: health(server.url) == "ok", 15, "/health to say ok again")
        healthy = time.monotonic()
        wait_until(
            lambda: all(viewers.first_after(promoted)),
            30,
            "events to reach every viewer through the new primary",
        )
        firsts = [t for t in viewers.first_after(promoted) if t is not None]
        beat = fleet[0].call(
            "POST", "/assembly-line/executors/heartbeat", json={"executor_id": "sn-00"}
        )
        assert beat is not None and beat.status_code == 200
        assert replica.client.exists("al:hb:sn-00") == 1  # live status on the new primary

        submitter.stop.set()
        submitter.join(15)
        everything = intent_ids + submitter.ids
        wait_until(
            lambda: completed_count(everything) == len(everything), 90, "every intent to complete"
        )
    finally:
        stop.set()
        submitter.stop.set()
        viewers.stop.set()
        for thread in [*fleet, viewers, submitter]:
            if thread.is_alive():
                thread.join(10)
        server.stop()

    print(
        f"\nfailover timeline (s after SIGKILL): degraded seen {degraded_seen - killed:.2f}, "
        f"sentinel promoted {promoted - killed:.2f}, /health ok {healthy - killed:.2f}, "
        f"first event at a viewer {min(firsts) - killed:.2f}, at every viewer "
        f"{max(firsts) - killed:.2f}"
    )
    assert viewers.error is None
    assert max(firsts) - promoted <= EVENTS_BACK_WITHIN_SECONDS
    assert Intent.objects.filter(pk__in=everything).count() == len(everything)
    assert_never_held_twice(everything)
    assert [e for executor in fleet for e in executor.errors] == []
    assert submitter.errors == []


def settings_of(env: dict[str, str], code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh process whose settings come from `env` (read at import)."""
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "assemblyline.settings",
            "REDIS_URL": "",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_pool_and_the_channel_layer_take_the_sentinels_password_and_database() -> None:
    result = settings_of(
        {
            "REDIS_SENTINELS": "10.0.0.1:26379, sentinel-b:26380,[::1]:26381",
            "REDIS_SENTINEL_MASTER": "line",
            "REDIS_URL": "redis://:p%2Fw@ignored:6379/7",
            "REDIS_SENTINEL_PASSWORD": "sp",
        },
        "from django.conf import settings\n"
        "from executors.redis_clients import connection_pool\n"
        "from executors.live import live\n"
        "from django.core.cache import cache\n"
        "pools = [connection_pool(), live._redis().connection_pool,\n"
        "         cache._cache.get_client().connection_pool]\n"
        "for pool in pools:\n"
        "    print(pool.service_name, pool.connection_kwargs['db'],\n"
        "          pool.connection_kwargs['password'],\n"
        "          [c.connection_pool.connection_kwargs['password']\n"
        "           for c in pool.sentinel_manager.sentinels],\n"
        "          [(c.connection_pool.connection_kwargs['host'],\n"
        "            c.connection_pool.connection_kwargs['port'])\n"
        "           for c in pool.sentinel_manager.sentinels])\n"
        "host = settings.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0]\n"
        "print(host['master_name'], host['db'], host['password'], host['sentinels'])\n",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sentinels = "[('10.0.0.1', 26379), ('sentinel-b', 26380), ('::1', 26381)]"
    assert result.stdout.splitlines() == [f"line 7 p/w ['sp', 'sp', 'sp'] {sentinels}"] * 3 + [
        f"line 7 p/w {sentinels}"
    ]


@pytest.mark.parametrize("value", ["sentinel-a", "sentinel-a:port", ":26379", "a:1,b"])
def test_a_sentinel_without_a_port_is_a_clear_error_at_start(value: str) -> None:
    result = settings_of({"REDIS_SENTINELS": value}, "")
    assert result.returncode != 0
    assert "ImproperlyConfigured: REDIS_SENTINELS wants host:port" in result.stderr

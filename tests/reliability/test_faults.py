"""Faults against real server processes, PostgreSQL and Redis: a server killed with SIGKILL
under load, Redis stopped mid-run, a PostgreSQL connection lost mid-request, the reaper loop."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

import httpx
import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection

from executors.models import Executor, Role
from executors.services import token_create
from intents import services
from intents.models import EventKind, Intent, IntentEvent
from tests.conftest import SPEC_OK, need, phase_artifacts
from tests.servers import RedisServer, Server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def real_servers(postgres: None) -> None:
    need(bool(settings.REDIS_URL), "Redis (REDIS_URL)")


def make_fleet(count: int, prefix: str = "ex") -> dict[str, str]:
    tokens = {}
    for n in range(count):
        executor = Executor.objects.create(
            executor_id=f"{prefix}-{n:02d}",
            environment="local" if n % 2 else "server",
            max_concurrent=1,
        )
        _, tokens[executor.pk] = token_create(
            name=executor.pk, role=Role.EXECUTOR, executor=executor
        )
    return tokens


def submit_many(count: int) -> list[str]:
    return [
        services.intent_submit(actor="load", title=f"load-{n}", spec_text=SPEC_OK).id
        for n in range(count)
    ]


class ExecutorLoop(threading.Thread):
    """An executor that claims, reports progress and completes until told to stop; it rides
    out a dead server by retrying, and drops work the line says it no longer holds (409).
    Like the real client, it keeps its connection open between calls (a new client per call
    cost the test process more CPU than the server spent answering)."""

    def __init__(self, url: str, executor_id: str, token: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.executor_id, self.stop = url, executor_id, stop
        self.http = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=5.0)
        self.completed = 0
        self.errors: list[str] = []

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response | None:
        while not self.stop.is_set():
            try:
                response = self.http.request(method, self.url + path, **kw)
            except httpx.HTTPError:
                time.sleep(0.1)  # the server is down: try again
                continue
            if response.status_code == 503:
                time.sleep(0.1)
                continue
            if response.status_code >= 500:
                self.errors.append(f"{path}: {response.status_code} {response.text[:200]}")
            return response
        return None

    def run(self) -> None:
        with self.http:
            self.work()

    def work(self) -> None:
        while not self.stop.is_set():
            answer = self.call(
                "GET", "/assembly-line/work/next", params={"executor_id": self.executor_id}
            )
            if answer is None:
                return
            if answer.status_code != 200 or not answer.json().get("assigned"):
                time.sleep(0.05)
                continue
            intent = answer.json()["intent"]
            phase = intent["current_phase"]
            progress = self.call(
                "POST",
                "/assembly-line/work/progress",
                json={
                    "intent_id": intent["id"],
                    "executor_id": self.executor_id,
                    "phase": phase,
                    "progress": 0.5,
                    "message": "working",
                },
            )
            if progress is None or progress.status_code == 409:
                continue
            done = self.call(
                "POST",
                "/assembly-line/work/complete",
                json={
                    "intent_id": intent["id"],
                    "executor_id": self.executor_id,
                    "status": "completed",
                    "artifacts": phase_artifacts(phase),
                },
            )
            if done is not None and done.status_code == 200:
                self.completed += 1


def assert_never_held_twice(intent_ids: list[str]) -> None:
    """Replaying each intent's events: an `assigned` never happens while another executor
    holds the intent (a lease expiry or a completion must come in between)."""
    holder: dict[str, str | None] = defaultdict(lambda: None)
    for event in IntentEvent.objects.filter(intent_id__in=intent_ids).order_by("created_at", "id"):
        if event.kind == EventKind.ASSIGNED:
            assert holder[event.intent_id] is None, (
                f"{event.intent_id} assigned to {event.executor_id} while "
                f"{holder[event.intent_id]} held it"
            )
            holder[event.intent_id] = event.executor_id
        elif event.kind in (
            EventKind.REQUEUED,
            EventKind.ADVANCED,
            EventKind.FAILED,
            EventKind.CANCELLED,
            EventKind.REVIEW_REQUESTED,
        ):
            holder[event.intent_id] = None


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def completed_count(intent_ids: list[str]) -> int:
    return Intent.objects.filter(pk__in=intent_ids, status="completed").count()


def test_server_killed_under_load_loses_nothing_and_hands_nothing_out_twice(
    real_servers: None,
) -> None:
    tokens = make_fleet(20)
    intent_ids = submit_many(60)
    env = {
        "LEASE_SECONDS": "4",
        "REAPER": "true",
        "REAPER_INTERVAL_SECONDS": "0.5",
        "RETRY_BACKOFF_SECONDS": "0",
        "MAX_ATTEMPTS": "20",
    }
    server = Server(env).start()
    stop = threading.Event()
    fleet = [ExecutorLoop(server.url, e, t, stop) for e, t in tokens.items()]
    try:
        for executor in fleet:
            executor.start()
        wait_until(lambda: completed_count(intent_ids) >= 10, 60, "the first completions")
        server.kill()  # SIGKILL, in the middle of claims and completions
        killed_at = completed_count(intent_ids)
        time.sleep(0.5)
        server.start()
        wait_until(
            lambda: completed_count(intent_ids) == len(intent_ids),
            120,
            "every intent to complete after the restart",
        )
    finally:
        stop.set()
        for executor in fleet:
            executor.join(10)
        server.stop()
    assert killed_at < len(intent_ids), "the kill came too late to test anything"
    assert Intent.objects.filter(pk__in=intent_ids).count() == len(intent_ids)
    assert_never_held_twice(intent_ids)
    assert [e for executor in fleet for e in executor.errors] == []
    # Every intent passed three phases; a claim or completion cut off by the kill was either
    # committed (and the executor got 409 on its retry) or re-queued by the reaper.
    for intent_id in intent_ids:
        advanced = IntentEvent.objects.filter(intent_id=intent_id, kind=EventKind.ADVANCED).count()
        assert advanced == 4  # spec→build at submit, build→test, test→production, done


def test_redis_stopped_mid_run_degrades_then_recovers(real_servers: None) -> None:
    need(RedisServer.available(), "redis-server")
    own = RedisServer().start()
    tokens = make_fleet(2, prefix="rd")
    intent_ids = submit_many(8)
    server = Server(
        {"REDIS_URL": own.url, "REDIS_RETRY_SECONDS": "0.5", "RETRY_BACKOFF_SECONDS": "0"}
    ).start()
    stop = threading.Event()
    fleet = [ExecutorLoop(server.url, e, t, stop) for e, t in tokens.items()]
    try:
        assert httpx.get(server.url + "/health").json()["status"] == "ok"
        for executor in fleet:
            executor.start()
        wait_until(lambda: completed_count(intent_ids) >= 2, 30, "work with Redis up")
        own.stop()
        more = submit_many(4)
        health = httpx.get(server.url + "/health").json()
        assert health["status"] == "degraded"
        assert health["checks"]["redis"]["ok"] is False and health["degraded"]
        wait_until(
            lambda: completed_count(intent_ids + more) == 12,
            60,
            "claims and completions to go on without Redis",
        )
        # Live status falls back to PostgreSQL meanwhile.
        state = fleet[0].call("GET", "/assembly-line/state")
        assert state is not None and state.status_code == 200
        assert state.json()["executors"]["rd-00"]["status"] in ("idle", "busy")

        revived = RedisServer()
        revived.port, revived.url = own.port, own.url
        revived.start()
        wait_until(
            lambda: httpx.get(server.url + "/health").json()["status"] == "ok",
            10,
            "/health to say ok again",
        )
        beat = fleet[0].call(
            "POST", "/assembly-line/executors/heartbeat", json={"executor_id": "rd-00"}
        )
        assert beat is not None and beat.status_code == 200
        assert redis.Redis.from_url(own.url).exists("al:hb:rd-00") == 1
        revived.stop()
    finally:
        stop.set()
        for executor in fleet:
            executor.join(10)
        server.stop()
        own.stop()
    assert [e for executor in fleet for e in executor.errors] == []


def test_postgres_connection_lost_mid_request_is_a_503_and_the_next_succeeds(
    real_servers: None,
) -> None:
    tokens = make_fleet(1, prefix="pg")
    (intent_id,) = submit_many(1)
    server = Server().start()
    db = connection.settings_dict
    conninfo = dict(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"] or "postgres",
        dbname=db["NAME"],
    )
    client = server.client(tokens["pg-00"])
    try:
        assert (
            client.get("/assembly-line/work/next", params={"executor_id": "pg-00"}).json()[
                "assigned"
            ]
            is True
        )
        result: dict[str, httpx.Response] = {}
        with (
            psycopg.connect(**conninfo) as holder,
            psycopg.connect(**conninfo, autocommit=True) as admin,
        ):
            # Hold the intent's row: the server's progress request waits on it, mid-request.
            holder.execute("SELECT id FROM intents_intent WHERE id = %s FOR UPDATE", [intent_id])
            request = threading.Thread(
                target=lambda: result.setdefault(
                    "r",
                    client.post(
                        "/assembly-line/work/progress",
                        json={
                            "intent_id": intent_id,
                            "executor_id": "pg-00",
                            "phase": "build",
                            "progress": 0.5,
                        },
                    ),
                )
            )
            request.start()
            waiting: list[Any] = []
            deadline = time.monotonic() + 10
            while not waiting and time.monotonic() < deadline:
                waiting = admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                ).fetchall()
                time.sleep(0.05)
            assert waiting, "the request never reached the database"
            admin.execute("SELECT pg_terminate_backend(%s)", [waiting[0][0]])
            request.join(15)
            holder.rollback()
        lost = result["r"]
        assert lost.status_code == 503, lost.text
        assert lost.json()["error"]["code"] == "database_unavailable"
        following = client.post(
            "/assembly-line/work/progress",
            json={
                "intent_id": intent_id,
                "executor_id": "pg-00",
                "phase": "build",
                "progress": 0.6,
            },
        )
        assert following.status_code == 200, following.text
    finally:
        client.close()
        server.stop()


def test_reaper_loop_runs_inside_the_server(real_servers: None) -> None:
    tokens = make_fleet(1, prefix="rp")
    (intent_id,) = submit_many(1)
    server = Server(
        {
            "LEASE_SECONDS": "1",
            "REAPER": "true",
            "REAPER_INTERVAL_SECONDS": "0.3",
            "RETRY_BACKOFF_SECONDS": "0",
        }
    ).start()
    try:
        with server.client(tokens["rp-00"]) as client:
            assert (
                client.get("/assembly-line/work/next", params={"executor_id": "rp-00"}).json()[
                    "assigned"
                ]
                is True
            )
        # The executor goes silent; the server's own reaper puts the work back.
        wait_until(
            lambda: Intent.objects.get(pk=intent_id).status == "queued",
            10,
            "the reaper to re-queue the lapsed lease",
        )
        event = IntentEvent.objects.filter(intent_id=intent_id, kind=EventKind.REQUEUED).get()
        assert event.payload["why"] == "lease_expired" and event.actor == "reaper"
    finally:
        server.stop()

"""Two real server processes on different ports sharing one PostgreSQL and one Redis: executors
claiming through both never get the same intent, and a WebSocket client connected to process A
receives the events of changes made through process B. A is served by Daphne
(`SERVER=daphne`) and B by uvicorn (production's), as in a rolling update from one server to
the other."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from typing import Any

import httpx
import pytest

from intents.models import EventKind, IntentEvent
from tests.reliability.test_faults import (
    ExecutorLoop,
    completed_count,
    make_fleet,
    real_servers,  # noqa: F401  (fixture)
    submit_many,
    wait_until,
)
from tests.servers import Server

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_processes_share_the_line(real_servers: None) -> None:  # noqa: F811
    from executors.models import Role
    from executors.services import token_create

    tokens = make_fleet(12, prefix="tp")
    viewer = token_create(name="tp-viewer", role=Role.VIEWER)[1]
    intent_ids = submit_many(40)
    env = {"RETRY_BACKOFF_SECONDS": "0", "SEPARATE_DUTIES_PHASES": "none"}
    a, b = Server({**env, "SERVER": "daphne"}).start(), Server(env).start()
    received: list[dict[str, Any]] = []
    connected = threading.Event()
    stop = threading.Event()

    async def watch_a() -> None:
        from websockets.asyncio.client import connect

        url = a.url.replace("http", "ws") + "/ws/assembly-line/"
        async with connect(url, additional_headers={"Authorization": f"Bearer {viewer}"}) as ws:
            connected.set()
            while not stop.is_set():
                try:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except TimeoutError:
                    continue
                if message["type"] == "event":
                    received.append(message["event"])

    watcher = threading.Thread(target=lambda: asyncio.run(watch_a()), daemon=True)
    fleet: list[ExecutorLoop] = []
    try:
        # Which server is which: Daphne names itself, uvicorn (server_header off) does not.
        assert httpx.get(a.url + "/health").headers.get("server") == "daphne"
        assert "server" not in httpx.get(b.url + "/health").headers
        watcher.start()
        assert connected.wait(10)
        # Half the fleet works through A, half through B, all at once.
        fleet = [
            ExecutorLoop((a if n % 2 else b).url, executor_id, token, stop)
            for n, (executor_id, token) in enumerate(tokens.items())
        ]
        # A change made only through B reaches the client on A.
        submitted = httpx.post(
            b.url + "/assembly-line/intent",
            headers={"Authorization": f"Bearer {tokens['tp-00']}"},
            json={
                "title": "through-b",
                "spec_text": (
                    "# x\n## Purpose\nx\n## Requirements\n- [ ] x\n## API Specs\nGET /health\n"
                    "## Dependencies\nNone\n## Success Criteria\n- [ ] x\n"
                ),
            },
            timeout=10,
        )
        assert submitted.status_code == 201
        through_b = submitted.json()["intent_id"]
        intent_ids.append(through_b)
        for loop in fleet:
            loop.start()
        wait_until(
            lambda: completed_count(intent_ids) == len(intent_ids), 120, "every intent to complete"
        )
        wait_until(
            lambda: any(e["intent_id"] == through_b and e["type"] == "submitted" for e in received),
            10,
            "B's submit event on A",
        )
    finally:
        stop.set()
        # Threads a failure before their start left unstarted cannot be joined.
        for thread in [*fleet, watcher]:
            if thread.ident is not None:
                thread.join(10)
        a.stop()
        b.stop()

    assert [e for loop in fleet for e in loop.errors] == []
    # Never the same intent to two executors: one claim per intent and phase.
    claims = Counter(
        IntentEvent.objects.filter(kind=EventKind.ASSIGNED, intent_id__in=intent_ids).values_list(
            "intent_id", "to_phase"
        )
    )
    assert claims and max(claims.values()) == 1, claims.most_common(3)
    assert len(claims) == len(intent_ids) * 3  # build, test, production each claimed once
    # Both processes handed out work.
    by_executor = Counter(
        IntentEvent.objects.filter(kind=EventKind.ASSIGNED, intent_id__in=intent_ids).values_list(
            "executor_id", flat=True
        )
    )
    via_a = sum(n for e, n in by_executor.items() if int(e.split("-")[1]) % 2)
    via_b = sum(by_executor.values()) - via_a
    assert via_a > 10 and via_b > 10, by_executor
    # The client on A saw the events of work done through B (and of A).
    seen = {(e["intent_id"], e["type"]) for e in received}
    for intent_id in intent_ids:
        assert (intent_id, "completed") in seen or (intent_id, "advanced") in seen

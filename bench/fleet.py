"""Load generators, each run in its own process: executors looping claim → 3 progress →
complete, a submitter keeping the queue fed, WebSocket viewers timestamping every event,
and idle long-pollers."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import sys
import threading
import time
from datetime import datetime
from typing import Any

import httpx

SPEC = """# bench - SPEC
## Purpose
x
## Requirements
- [ ] x
## API Specs
GET /health
## Dependencies
None
## Success Criteria
- [ ] x
"""

ARTIFACTS = {
    "build": {"build_output": "ok", "commit": "b", "files": ["app.py"]},
    "test": {
        "test_results": {"passed": 10, "failed": 0, "skipped": 0, "coverage": 90.0},
        "quality": {"lint_errors": 0, "type_errors": 0, "warnings": []},
        "security": {"high": 0, "medium": 0, "low": 0, "secrets": 0},
    },
    "production": {
        "rollback_plan": "previous",
        "files": ["README.md", "SPEC.md", "docs/api.md", "Dockerfile"],
    },
}


def executors(
    url: str,
    fleet: list[tuple[str, str]],
    seconds: float,
    interval: float,
    claims_only: bool,
    out: Any,
) -> None:
    """Threads, one per executor; latencies in ms per endpoint, cycles (completes).

    interval 0: each executor calls again as soon as it has its answer (a closed loop: the
    server's throughput). interval > 0: each executor makes one call per `interval` seconds
    (an offered load of executors / interval calls a second: latency below saturation).
    claims_only: claim after claim (executors with a large max_concurrent), no progress or
    complete: the HTTP claim rate, beside pgbench's.

    Paced executors start spread over one cycle (5 calls); the `seconds` measured begin one
    call after the last has started, so the rate is steady and each executor's first claim
    (it comes online then, on the ORM path) and a fresh process's first requests are not in
    the percentiles. Those earlier calls' latencies are under `warmup`."""
    # One process holds many executors' threads; each real executor is a process of its own.
    # With CPython's 5 ms switch interval a thread whose answer came in could wait that long
    # for the GIL, and the latencies measured would be the load generator's (the servers run
    # with 0.5 ms too: core/runtime/process.py).
    sys.setswitchinterval(0.0005)
    start = time.monotonic()
    steady = start + 6 * interval
    stop = steady + seconds
    lock = threading.Lock()
    result: dict[str, Any] = {
        "claim": [],
        "claim_empty": [],
        "progress": [],
        "complete": [],
        "warmup": [],
        "cycles": 0,
        "errors": 0,
    }

    def run(executor_id: str, token: str) -> None:
        local: dict[str, Any] = {
            k: [] for k in ("claim", "claim_empty", "progress", "complete", "warmup")
        }
        cycles = errors = 0
        # Executors start spread over a whole cycle (5 calls), so that their claims, progress
        # reports and completes are not all made in the same second.
        time.sleep(random.uniform(0, 5 * interval))
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http:

            def timed(kind: str, method: str, path: str, **kw: Any) -> dict[str, Any] | None:
                """The answer's JSON body (None for an error), its latency recorded under
                `kind` (a claim that got nothing under claim_empty)."""
                nonlocal errors
                warming = time.monotonic() < steady
                start = time.perf_counter()
                try:
                    response = http.request(method, path, **kw)
                except httpx.HTTPError:
                    errors += 1
                    return None
                elapsed = time.perf_counter() - start
                if response.status_code >= 500:
                    errors += 1
                body = response.json() if response.status_code == 200 else None
                if kind == "claim" and not (body and body.get("assigned")):
                    kind = "claim_empty"
                local["warmup" if warming else kind].append(elapsed * 1000)
                if interval > elapsed:
                    time.sleep(interval - elapsed)
                return body

            while time.monotonic() < stop:
                body = (
                    timed(
                        "claim",
                        "GET",
                        "/assembly-line/work/next",
                        params={"executor_id": executor_id},
                    )
                    or {}
                )
                if not body.get("assigned"):
                    time.sleep(0.02)
                    continue
                if claims_only:
                    continue
                intent, phase = body["intent"]["id"], body["intent"]["current_phase"]
                for step in (0.25, 0.5, 0.75):
                    timed(
                        "progress",
                        "POST",
                        "/assembly-line/work/progress",
                        json={
                            "intent_id": intent,
                            "executor_id": executor_id,
                            "phase": phase,
                            "progress": step,
                            "message": f"{phase} {step}",
                        },
                    )
                done = timed(
                    "complete",
                    "POST",
                    "/assembly-line/work/complete",
                    json={
                        "intent_id": intent,
                        "executor_id": executor_id,
                        "status": "completed",
                        "phase": phase,
                        "artifacts": ARTIFACTS[phase],
                    },
                )
                if done is not None:
                    cycles += 1
        with lock:
            for key, values in local.items():
                result[key].extend(values)
            result["cycles"] += cycles
            result["errors"] += errors

    threads = [threading.Thread(target=run, args=item) for item in fleet]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put(result)


def submitter(url: str, token: str, seconds: float, per_second: float, out: Any) -> None:
    stop = time.monotonic() + seconds
    sent = 0
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        while time.monotonic() < stop:
            http.post(
                "/assembly-line/intent",
                json={"title": f"fed-{sent}", "spec_text": SPEC, "priority": 5},
            )
            sent += 1
            time.sleep(1 / per_second)
    out.put({"submitted": sent})


# One viewer in this many parses every frame and timestamps its events; the others read and
# drop the bytes. The server sends each of them every frame all the same (its cost is what is
# measured); a full WebSocket client parsing every frame 1,000 times over would need more CPU
# than this 2-core machine has beside the servers.
TIMED_EVERY = 10


class Drain(asyncio.Protocol):
    """A WebSocket connection's client side that drops what it is sent: `upgraded` when the
    handshake's answer is in, `started` when the first bytes after it (the snapshot) are."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.upgraded: asyncio.Future[bytes] = loop.create_future()
        self.started: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.head = b""

    def data_received(self, data: bytes) -> None:
        if not self.upgraded.done():
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            head, _, data = self.head.partition(b"\r\n\r\n")
            self.upgraded.set_result(head)
        if data and not self.started.done():
            self.started.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.upgraded, self.started, self.closed):
            if not future.done():
                future.set_result(None)  # type: ignore[arg-type]


# Silent viewers read in bulk: their sockets are read once per SILENT_READ_SECONDS (the
# kernel holds what comes meanwhile), not once per frame, so that 900 of them cost this
# machine's CPU less than the servers they measure.
SILENT_READ_SECONDS = 0.1


async def silent_viewer(url: str, token: str, ready: Any) -> asyncio.Transport:
    """A WebSocket connection that drops what it is sent (handshake by hand); its transport,
    once the snapshot has begun to arrive."""
    host, _, port = url.removeprefix("http://").partition(":")
    key = base64.b64encode(os.urandom(16)).decode()
    transport, drain = await asyncio.get_running_loop().create_connection(Drain, host, int(port))
    transport.write(
        (
            f"GET /ws/assembly-line/?batch=1 HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    head = await drain.upgraded
    assert head and head.startswith(b"HTTP/1.1 101"), head[:40]
    await drain.started
    with ready.get_lock():
        ready.value += 1
    return transport


async def read_in_bulk(transports: list[asyncio.Transport], deadline: float) -> None:
    """Let the silent viewers' sockets be read for a moment every SILENT_READ_SECONDS."""
    while time.monotonic() < deadline:
        for transport in transports:
            transport.pause_reading()
        await asyncio.sleep(SILENT_READ_SECONDS)
        for transport in transports:
            transport.resume_reading()
        await asyncio.sleep(0.005)
    for transport in transports:
        transport.close()


def viewers(urls: list[str], token: str, count: int, seconds: float, ready: Any, out: Any) -> None:
    """`count` WebSocket clients spread over the servers, connected as the dashboard connects
    (`?batch=1`); latency = arrival − the event's timestamp (written in the committing
    transaction), on every TIMED_EVERY-th viewer. `ready` counts those that have (begun to
    get) their snapshot."""
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    connected = 0
    frames = 0  # event frames the timed viewers got (a frame carries one event or several)

    async def timed(url: str, deadline: float) -> None:
        nonlocal connected, frames
        async with connect(
            url.replace("http", "ws") + "/ws/assembly-line/?batch=1",
            additional_headers={"Authorization": f"Bearer {token}"},
            max_size=None,
            open_timeout=60,
        ) as ws:
            connected += 1
            snapshot = json.loads(await ws.recv())
            assert snapshot["type"] == "snapshot", snapshot["type"]
            with ready.get_lock():
                ready.value += 1
            while time.monotonic() < deadline:
                try:
                    raw = await asyncio.wait_for(ws.recv(), 1.0)
                except TimeoutError:
                    continue
                arrived = time.time()
                message = json.loads(raw)
                if message.get("type") == "event":
                    events = [message["event"]]
                elif message.get("type") == "events":
                    events = message["events"]
                else:
                    continue
                frames += 1
                for event in events:
                    stamp = datetime.fromisoformat(event["timestamp"]).timestamp()
                    if len(latencies) < 2_000_000:
                        latencies.append((arrived - stamp) * 1000)

    silent: list[asyncio.Transport] = []

    async def one(n: int, deadline: float) -> None:
        nonlocal connected
        url = urls[n % len(urls)]
        if n % TIMED_EVERY == 0:
            await timed(url, deadline)
        else:
            silent.append(await silent_viewer(url, token, ready))
            connected += 1

    async def main() -> None:
        deadline = time.monotonic() + seconds
        tasks = [asyncio.create_task(read_in_bulk(silent, deadline))]
        for start in range(0, count, 100):
            tasks += [
                asyncio.create_task(one(n, deadline)) for n in range(start, min(start + 100, count))
            ]
            await asyncio.sleep(0.2)
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    out.put(
        {
            "latencies": latencies,
            "frames": frames,
            "connected": connected,
            "timed": len(range(0, count, TIMED_EVERY)),
        }
    )


def idle_pollers(url: str, fleet: list[tuple[str, str]], seconds: float, out: Any) -> None:
    """Executors with nothing to do, long-polling with wait=30; after `seconds` it reports how
    long each finished poll was held, and what it answered."""
    held: list[float] = []
    answers: dict[str, int] = {}
    lock = threading.Lock()

    def run(executor_id: str, token: str) -> None:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as http:
            while True:
                start = time.perf_counter()
                try:
                    response = http.get(
                        "/assembly-line/work/next", params={"executor_id": executor_id, "wait": 30}
                    )
                    answer = str(response.status_code)
                except httpx.HTTPError as exc:
                    answer = type(exc).__name__
                with lock:
                    held.append(time.perf_counter() - start)
                    answers[answer] = answers.get(answer, 0) + 1

    for item in fleet:
        threading.Thread(target=run, args=item, daemon=True).start()
    time.sleep(seconds)
    with lock:
        ordered = sorted(held)
        out.put(
            {
                "polls": len(ordered),
                "answers": dict(answers),
                "held_p50_s": round(ordered[len(ordered) // 2], 2) if ordered else None,
                "held_min_s": round(ordered[0], 2) if ordered else None,
            }
        )

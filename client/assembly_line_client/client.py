"""Sync and async clients for unified-assembly-line. httpx only.

    from assembly_line_client import Client

    with Client("http://127.0.0.1:8950", token) as line:
        line.register("laptop-1", environment="local")
        with line.heartbeats("laptop-1"):
            work = line.next_work("laptop-1", wait=30)
            if work.assigned:
                line.progress(work.intent.id, "laptop-1", work.intent.current_phase, 0.5, "half")
                line.complete(work.intent.id, "laptop-1", {"build_output": "ok"})

Both clients retry connection errors and 503 answers with exponential backoff (`retries`
times) and raise the typed errors of `assembly_line_client.errors` for every other error
answer. Each request is described once (a `Call`) and run by either client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from httpx_ws import (
    AsyncWebSocketSession,
    WebSocketSession,
    WebSocketUpgradeError,
    aconnect_ws,
    connect_ws,
)

from assembly_line_client import errors
from assembly_line_client.models import Completion, Intent, Submitted, Verification, Work

T = TypeVar("T")
USER_AGENT = "assembly-line-client/1.0"


@dataclass
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, Any] | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None


def _json(response: httpx.Response) -> Any:
    return response.json()


def _submitted(response: httpx.Response) -> Submitted:
    data = response.json()
    return Submitted(
        data["intent_id"],
        data["status"],
        data.get("current_phase", ""),
        data.get("estimated_start", ""),
        response.headers.get("Idempotent-Replayed") == "true",
        data,
    )


def _work(response: httpx.Response) -> Work:
    return Work.from_json(response.json())


def _completion(response: httpx.Response) -> Completion:
    return Completion.from_json(response.json())


def _verification(response: httpx.Response) -> Verification:
    return Verification.from_json(response.json())


def _intent(response: httpx.Response) -> Intent:
    return Intent.from_json(response.json())


class Calls:
    """What each API operation sends and how its answer is read."""

    @staticmethod
    def submit(
        title: str,
        *,
        spec_path: str | None = None,
        spec_text: str | None = None,
        priority: int = 5,
        environment_preference: str = "either",
        requires_human_review: bool = False,
        required_capabilities: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> Call[Submitted]:
        body: dict[str, Any] = {
            "title": title,
            "priority": priority,
            "environment_preference": environment_preference,
            "requires_human_review": requires_human_review,
        }
        if spec_path:
            body["spec_path"] = spec_path
        if spec_text:
            body["spec_text"] = spec_text
        if required_capabilities:
            body["required_capabilities"] = required_capabilities
        # Retrying a submit is safe: the key makes the service answer the first result.
        key = idempotency_key or str(uuid.uuid4())
        return Call(
            "POST", "/assembly-line/intent", _submitted, body=body, headers={"Idempotency-Key": key}
        )

    @staticmethod
    def register(executor_id: str, **details: Any) -> Call[dict[str, Any]]:
        body = {"executor_id": executor_id, **{k: v for k, v in details.items() if v is not None}}
        return Call("POST", "/assembly-line/executors/register", _json, body=body)

    @staticmethod
    def heartbeat(executor_id: str) -> Call[dict[str, Any]]:
        return Call(
            "POST", "/assembly-line/executors/heartbeat", _json, body={"executor_id": executor_id}
        )

    @staticmethod
    def next_work(executor_id: str, wait: float = 0) -> Call[Work]:
        params: dict[str, Any] = {"executor_id": executor_id}
        if wait:
            params["wait"] = wait
        return Call(
            "GET",
            "/assembly-line/work/next",
            _work,
            params=params,
            timeout=wait + 15 if wait else None,
        )

    @staticmethod
    def progress(
        intent_id: str, executor_id: str, phase: str, progress: float, message: str = ""
    ) -> Call[dict[str, Any]]:
        return Call(
            "POST",
            "/assembly-line/work/progress",
            _json,
            body={
                "intent_id": intent_id,
                "executor_id": executor_id,
                "phase": phase,
                "progress": progress,
                "message": message[:500],
            },
        )

    @staticmethod
    def complete(
        intent_id: str,
        executor_id: str,
        artifacts: dict[str, Any] | None = None,
        *,
        status: str = "completed",
        phase: str | None = None,
    ) -> Call[Completion]:
        body: dict[str, Any] = {
            "intent_id": intent_id,
            "executor_id": executor_id,
            "status": status,
            "artifacts": artifacts or {},
        }
        if phase:
            body["phase"] = phase
        return Call("POST", "/assembly-line/work/complete", _completion, body=body, timeout=120)

    @staticmethod
    def release(
        intent_id: str, executor_id: str, *, phase: str | None = None, reason: str = ""
    ) -> Call[dict[str, Any]]:
        body: dict[str, Any] = {
            "intent_id": intent_id,
            "executor_id": executor_id,
            "reason": reason[:500],
        }
        if phase:
            body["phase"] = phase
        return Call("POST", "/assembly-line/work/release", _json, body=body)

    @staticmethod
    def verify(
        intent_id: str, level: int, phase: str, artifacts: dict[str, Any] | None = None
    ) -> Call[Verification]:
        body: dict[str, Any] = {"intent_id": intent_id, "verification_level": level, "phase": phase}
        if artifacts:
            body["artifacts"] = artifacts
        return Call("POST", "/assembly-line/verify", _verification, body=body, timeout=120)

    @staticmethod
    def state() -> Call[dict[str, Any]]:
        return Call("GET", "/assembly-line/state", _json)

    @staticmethod
    def intent(intent_id: str) -> Call[Intent]:
        # Quoted: an id is one path segment ("../state" must not name another endpoint).
        return Call("GET", f"/assembly-line/intents/{quote(intent_id, safe='')}", _intent)

    @staticmethod
    def cancel(intent_id: str, reason: str = "") -> Call[dict[str, Any]]:
        return Call(
            "POST",
            f"/assembly-line/intents/{quote(intent_id, safe='')}/cancel",
            _json,
            body={"reason": reason},
        )


def _answer(call: Call[T], response: httpx.Response) -> T:
    if response.is_success:
        return call.parse(response)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    raise errors.from_response(response.status_code, body)


def _retryable(response: httpx.Response) -> bool:
    return response.status_code == 503


class _Base:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "User-Agent": USER_AGENT}

    def _delay(self, attempt: int) -> float:
        return min(self.max_backoff, self.backoff * 2.0**attempt) * random.uniform(0.5, 1.0)

    def _request_kwargs(self, call: Call[Any]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"params": call.params, "headers": call.headers}
        if call.body is not None:
            kwargs["json"] = call.body
        if call.timeout is not None:
            kwargs["timeout"] = call.timeout
        return kwargs

    def _ws_url(self) -> str:
        # batch=1: events that come together arrive in one frame; `messages` splits them.
        return self.base_url.replace("http", "ws", 1) + "/ws/assembly-line/?batch=1"


def messages(text: str) -> list[dict[str, Any]]:
    """One WebSocket frame as the stream's messages: a `snapshot`, or one `event` message per
    state change (a batched `events` frame is split)."""
    message = json.loads(text)
    if message.get("type") == "events":
        return [{"type": "event", "event": event} for event in message.get("events", [])]
    return [message]


class Client(_Base):
    """The synchronous client (httpx.Client)."""

    def __init__(self, base_url: str, token: str, **kwargs: Any) -> None:
        super().__init__(base_url, token, **kwargs)
        self.http = httpx.Client(
            base_url=self.base_url, headers=self._headers(), timeout=self.timeout
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def run(self, call: Call[T]) -> T:
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self.http.request(call.method, call.path, **self._request_kwargs(call))
            except httpx.TransportError as exc:
                if last:
                    raise errors.ConnectionFailed(f"{call.method} {call.path}: {exc}") from exc
            else:
                if not _retryable(response) or last:
                    return _answer(call, response)
            time.sleep(self._delay(attempt))
        raise AssertionError("unreachable")

    # The operations ---------------------------------------------------------------------
    def submit(self, title: str, **kwargs: Any) -> Submitted:
        return self.run(Calls.submit(title, **kwargs))

    def register(
        self,
        executor_id: str,
        *,
        environment: str | None = None,
        executor_type: str | None = None,
        capabilities: list[str] | None = None,
        max_concurrent: int | None = None,
    ) -> dict[str, Any]:
        return self.run(
            Calls.register(
                executor_id,
                environment=environment,
                executor_type=executor_type,
                capabilities=capabilities,
                max_concurrent=max_concurrent,
            )
        )

    def heartbeat(self, executor_id: str) -> dict[str, Any]:
        return self.run(Calls.heartbeat(executor_id))

    def next_work(self, executor_id: str, wait: float = 0) -> Work:
        return self.run(Calls.next_work(executor_id, wait))

    def progress(
        self, intent_id: str, executor_id: str, phase: str, progress: float, message: str = ""
    ) -> dict[str, Any]:
        return self.run(Calls.progress(intent_id, executor_id, phase, progress, message))

    def complete(
        self,
        intent_id: str,
        executor_id: str,
        artifacts: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Completion:
        return self.run(Calls.complete(intent_id, executor_id, artifacts, **kwargs))

    def release(
        self, intent_id: str, executor_id: str, *, phase: str | None = None, reason: str = ""
    ) -> dict[str, Any]:
        """Hand claimed work back unfinished: it is re-queued at once (`why: released`)."""
        return self.run(Calls.release(intent_id, executor_id, phase=phase, reason=reason))

    def verify(
        self, intent_id: str, level: int, phase: str, artifacts: dict[str, Any] | None = None
    ) -> Verification:
        return self.run(Calls.verify(intent_id, level, phase, artifacts))

    def state(self) -> dict[str, Any]:
        return self.run(Calls.state())

    def intent(self, intent_id: str) -> Intent:
        return self.run(Calls.intent(intent_id))

    def cancel(self, intent_id: str, reason: str = "") -> dict[str, Any]:
        return self.run(Calls.cancel(intent_id, reason))

    @contextlib.contextmanager
    def heartbeats(self, executor_id: str, interval: float = 20.0) -> Iterator[threading.Event]:
        """Heartbeat from a background thread while the block runs."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(interval):
                with contextlib.suppress(errors.LineError):
                    self.heartbeat(executor_id)

        thread = threading.Thread(target=beat, name=f"heartbeat-{executor_id}", daemon=True)
        thread.start()
        try:
            yield stop
        finally:
            stop.set()
            thread.join(timeout=5)

    def watch(self, *, reconnect: bool = True) -> Iterator[dict[str, Any]]:
        """The WebSocket stream: a `snapshot` message first (and after every reconnect), then
        one `event` message per state change."""
        attempt = 0
        ws: WebSocketSession
        while True:
            try:
                with connect_ws(self._ws_url(), self.http) as ws:
                    attempt = 0
                    while True:
                        yield from messages(ws.receive_text())
            except WebSocketUpgradeError as exc:
                raise errors.Unauthorized(
                    exc.response.status_code,
                    "websocket_refused",
                    "the event stream refused this token",
                ) from exc
            except Exception as exc:
                if not reconnect:
                    raise errors.ConnectionFailed(f"event stream: {exc}") from exc
            time.sleep(self._delay(min(attempt, 6)))
            attempt += 1


class AsyncClient(_Base):
    """The asyncio client (httpx.AsyncClient), same operations as `Client`."""

    def __init__(self, base_url: str, token: str, **kwargs: Any) -> None:
        super().__init__(base_url, token, **kwargs)
        self.http = httpx.AsyncClient(
            base_url=self.base_url, headers=self._headers(), timeout=self.timeout
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def run(self, call: Call[T]) -> T:
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = await self.http.request(
                    call.method, call.path, **self._request_kwargs(call)
                )
            except httpx.TransportError as exc:
                if last:
                    raise errors.ConnectionFailed(f"{call.method} {call.path}: {exc}") from exc
            else:
                if not _retryable(response) or last:
                    return _answer(call, response)
            await asyncio.sleep(self._delay(attempt))
        raise AssertionError("unreachable")

    async def submit(self, title: str, **kwargs: Any) -> Submitted:
        return await self.run(Calls.submit(title, **kwargs))

    async def register(
        self,
        executor_id: str,
        *,
        environment: str | None = None,
        executor_type: str | None = None,
        capabilities: list[str] | None = None,
        max_concurrent: int | None = None,
    ) -> dict[str, Any]:
        return await self.run(
            Calls.register(
                executor_id,
                environment=environment,
                executor_type=executor_type,
                capabilities=capabilities,
                max_concurrent=max_concurrent,
            )
        )

    async def heartbeat(self, executor_id: str) -> dict[str, Any]:
        return await self.run(Calls.heartbeat(executor_id))

    async def next_work(self, executor_id: str, wait: float = 0) -> Work:
        return await self.run(Calls.next_work(executor_id, wait))

    async def progress(
        self, intent_id: str, executor_id: str, phase: str, progress: float, message: str = ""
    ) -> dict[str, Any]:
        return await self.run(Calls.progress(intent_id, executor_id, phase, progress, message))

    async def complete(
        self,
        intent_id: str,
        executor_id: str,
        artifacts: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Completion:
        return await self.run(Calls.complete(intent_id, executor_id, artifacts, **kwargs))

    async def release(
        self, intent_id: str, executor_id: str, *, phase: str | None = None, reason: str = ""
    ) -> dict[str, Any]:
        return await self.run(Calls.release(intent_id, executor_id, phase=phase, reason=reason))

    async def verify(
        self, intent_id: str, level: int, phase: str, artifacts: dict[str, Any] | None = None
    ) -> Verification:
        return await self.run(Calls.verify(intent_id, level, phase, artifacts))

    async def state(self) -> dict[str, Any]:
        return await self.run(Calls.state())

    async def intent(self, intent_id: str) -> Intent:
        return await self.run(Calls.intent(intent_id))

    async def cancel(self, intent_id: str, reason: str = "") -> dict[str, Any]:
        return await self.run(Calls.cancel(intent_id, reason))

    @contextlib.asynccontextmanager
    async def heartbeats(
        self, executor_id: str, interval: float = 20.0
    ) -> AsyncIterator[asyncio.Task[None]]:
        """Heartbeat from a background task while the block runs."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(interval)
                with contextlib.suppress(errors.LineError):
                    await self.heartbeat(executor_id)

        task = asyncio.create_task(beat())
        try:
            yield task
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @contextlib.asynccontextmanager
    async def watch(self, *, reconnect: bool = True) -> AsyncIterator[EventStream]:
        """The WebSocket stream, as `Client.watch`, read by a background task:

        async with line.watch() as stream:
            async for message in stream: ...
        """
        queue: asyncio.Queue[dict[str, Any] | Exception] = asyncio.Queue()

        async def pump() -> None:
            attempt = 0
            ws: AsyncWebSocketSession
            while True:
                try:
                    async with aconnect_ws(self._ws_url(), self.http) as ws:
                        attempt = 0
                        while True:
                            for message in messages(await ws.receive_text()):
                                await queue.put(message)
                except WebSocketUpgradeError as exc:
                    await queue.put(
                        errors.Unauthorized(
                            exc.response.status_code,
                            "websocket_refused",
                            "the event stream refused this token",
                        )
                    )
                    return
                except Exception as exc:
                    if not reconnect:
                        await queue.put(errors.ConnectionFailed(f"event stream: {exc}"))
                        return
                await asyncio.sleep(self._delay(min(attempt, 6)))
                attempt += 1

        task = asyncio.create_task(pump())
        try:
            yield EventStream(queue)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class EventStream:
    """Messages from `AsyncClient.watch`: `await anext(stream)` or `async for`."""

    def __init__(self, queue: asyncio.Queue[dict[str, Any] | Exception]) -> None:
        self.queue = queue

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        item = await self.queue.get()
        if isinstance(item, Exception):
            raise item
        return item

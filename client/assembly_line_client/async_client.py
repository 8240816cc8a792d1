"""The asyncio client: the operations of `Client` on httpx.AsyncClient."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_ws import AsyncWebSocketSession, WebSocketUpgradeError, aconnect_ws

from assembly_line_client import errors
from assembly_line_client.calls import Call, Calls, ClientBase, T, answer, messages, retryable
from assembly_line_client.models import Completion, Intent, Submitted, Verification, Work


class AsyncClient(ClientBase):
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
                if not retryable(response) or last:
                    return answer(call, response)
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

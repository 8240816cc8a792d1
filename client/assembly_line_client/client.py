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
answer. Each request is described once (a `Call`, `calls.py`) and run by either client
(`AsyncClient`: `async_client.py`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
from httpx_ws import WebSocketSession, WebSocketUpgradeError, connect_ws

from assembly_line_client import errors
from assembly_line_client.async_client import AsyncClient, EventStream
from assembly_line_client.calls import Call, Calls, ClientBase, T, answer, messages, retryable
from assembly_line_client.models import Completion, Intent, Submitted, Verification, Work

# Where they were first defined: `from assembly_line_client.client import …` keeps working.
__all__ = ["AsyncClient", "Call", "Calls", "Client", "EventStream", "messages"]


class Client(ClientBase):
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
                if not retryable(response) or last:
                    return answer(call, response)
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

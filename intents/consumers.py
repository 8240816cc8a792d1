"""WebSocket `ws/assembly-line/`: a snapshot of the line on connect, then every committed event
(`{"type": "event"}` each; with `?batch=1`, `{"type": "events"}` for several that came
together: intents/fanout.py).

Authenticated by the Django session (the dashboard; the page's Origin must match the host, so
another site cannot ride a logged-in browser's cookie) or, for programs, the API token in an
`Authorization: Bearer` header on the handshake. Anyone else is refused at the handshake
(HTTP 403). A client may send `{"action": "snapshot"}` to get the state again.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, urlparse

import structlog
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from rest_framework.exceptions import ParseError

from core.parsers import loads
from executors.authentication import Principal, principal_for_user, verify_token
from intents.fanout import fanout
from intents.metrics import WEBSOCKET_CONNECTIONS
from intents.selectors import line_state

if TYPE_CHECKING:
    from asgiref.typing import WebSocketSendEvent

log = structlog.get_logger("assemblyline.websocket")

# A viewer only ever sends a small command (`{"action": "snapshot"}`): a longer frame closes
# the connection.
MAX_MESSAGE_CHARS = 64 * 1024
# Close codes: RFC 6455's 1003 (unsupported data) and 1009 (too big) in the application range,
# 4000 + code: Daphne's WebSocket library lets a server close only with 1000 or 3000-4999.
CLOSE_BINARY = 4003
CLOSE_TOO_BIG = 4009
# Frames a viewer may have waiting to be written. A viewer further behind (a stalled browser,
# a slow link) gets a fresh snapshot instead of the backlog, so its memory stays bounded.
MAX_BACKLOG_FRAMES = 200


def _header(scope: Mapping[str, Any], name: bytes) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _same_origin(scope: Mapping[str, Any]) -> bool:
    origin, host = _header(scope, b"origin"), _header(scope, b"host")
    return origin is None or (host is not None and urlparse(origin).netloc == host)


@database_sync_to_async
def _principal(scope: Mapping[str, Any]) -> Principal | None:
    authorization = _header(scope, b"authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        # NUL cannot be in a token, and PostgreSQL refuses it in the lookup (a crash, not a 4401).
        if scheme.lower() != "bearer" or not token.strip() or "\x00" in token:
            return None
        return verify_token(token.strip())
    if not _same_origin(scope):
        return None
    return principal_for_user(scope.get("user"))


class LineConsumer(AsyncJsonWebsocketConsumer):
    # No channel of its own: events come through the process's one listener (fanout). With
    # the default, every viewer subscribed a Redis pub/sub channel it never used (a round
    # trip on connect and on close, a queue and a waiting task per viewer).
    # get_channel_layer(None) finds no layer; types-channels allows only an alias string here.
    channel_layer_alias = None  # type: ignore[assignment]

    async def connect(self) -> None:
        self.principal = await _principal(self.scope)
        if self.principal is None:
            log.info("websocket_refused", path=self.scope.get("path"))
            await self.close(code=4401)
            return
        await self.accept()
        self.counted = True
        WEBSOCKET_CONNECTIONS.inc()
        log.info("websocket_connect", principal=self.principal.name)
        # Events from here on, through the process's one listener (intents/fanout.py), wait
        # in the outbox; those that come while the snapshot is read are sent after it.
        self.batched = parse_qs(self.scope.get("query_string", b"").decode()).get("batch") == ["1"]
        self.outbox: deque[str] = deque()
        self.waiting = asyncio.Event()
        self.behind = False
        await fanout().add_viewer(self)
        await self.send_snapshot()
        self.writer = asyncio.get_running_loop().create_task(self.write())

    def deliver(self, frames: list[str]) -> None:
        """Events from the fanout, already framed for this viewer: queued, never awaited."""
        if len(self.outbox) + len(frames) > MAX_BACKLOG_FRAMES:
            self.outbox.clear()
            self.behind = True
        else:
            self.outbox.extend(frames)
        self.waiting.set()

    async def write(self) -> None:
        """This viewer's writer: its socket's pace is its own."""
        try:
            while True:
                await self.waiting.wait()
                self.waiting.clear()
                while self.behind or self.outbox:
                    if self.behind:
                        # What it missed is in the snapshot, read from now on.
                        self.behind = False
                        self.outbox.clear()
                        log.info("websocket_resync", backlog=MAX_BACKLOG_FRAMES)
                        await self.send_snapshot()
                    else:
                        # The server's send itself: AsyncWebsocketConsumer.send would only build
                        # this message, two coroutines deeper, for every frame of every viewer.
                        # As that send builds it: text alone (asgiref's type has `bytes` too).
                        message = {"type": "websocket.send", "text": self.outbox.popleft()}
                        await self.base_send(cast("WebSocketSendEvent", message))
        except Exception:  # the connection went away between frames
            fanout().remove_viewer(self)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # However the consumer ends (a disconnect, an error, a cancelled task), it leaves the
        # fanout and the connections gauge: `disconnect` alone does not run after an error.
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.forget(code=None)

    async def disconnect(self, code: int) -> None:
        self.forget(code=code)

    def forget(self, *, code: int | None) -> None:
        if getattr(self, "counted", False):
            assert self.principal is not None  # counted only once a principal was accepted
            WEBSOCKET_CONNECTIONS.dec()
            self.counted = False
            log.info("websocket_disconnect", principal=self.principal.name, code=code)
        fanout().remove_viewer(self)
        writer = getattr(self, "writer", None)
        if writer is not None:
            writer.cancel()

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """Frames a viewer may send: small JSON text. Binary → close 4003 (unsupported data),
        too long → close 4009 (too big); text that is not acceptable JSON → an error message,
        and the connection stays."""
        if text_data is None:
            await self.close(code=CLOSE_BINARY)
            return
        if len(text_data) > MAX_MESSAGE_CHARS:
            await self.close(code=CLOSE_TOO_BIG)
            return
        try:
            content = loads(text_data)
        except ParseError as exc:
            await self.send_error(str(exc.detail))
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("action") == "snapshot":
            await self.send_snapshot()
        else:
            await self.send_error('send {"action": "snapshot"}')

    async def send_error(self, error: str) -> None:
        # `message` as before, `error` as the REST API's errors have it.
        await self.send_json({"type": "error", "error": error, "message": error})

    async def send_snapshot(self) -> None:
        await self.send(text_data=await fanout().snapshot(read_snapshot))


@database_sync_to_async
def read_snapshot() -> str:
    return json.dumps({"type": "snapshot", "state": line_state()})

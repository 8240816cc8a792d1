"""WebSocket `ws/assembly-line/`: a snapshot of the line on connect, then every committed event
(`{"type": "event"}` each; with `?batch=1`, `{"type": "events"}` for several that came
together: intents/fanout.py).

Authenticated by the Django session (the dashboard; the page's Origin must match the host, so
another site cannot ride a logged-in browser's cookie) or, for programs, the API token in an
`Authorization: Bearer` header on the handshake. Anyone else is refused at the handshake
(HTTP 403). A client may send `{"action": "snapshot"}` to get the state again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlparse

import structlog
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from assemblyline.metrics import WEBSOCKET_CONNECTIONS
from executors.authentication import Principal, principal_for_user, verify_token
from intents.fanout import fanout
from intents.selectors import line_state

log = structlog.get_logger("assemblyline.websocket")


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
        if scheme.lower() != "bearer" or not token.strip():
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
        # Events from here on, through the process's one listener (intents/fanout.py); those
        # that come while the snapshot is read are held and sent after it.
        self.batched = parse_qs(self.scope.get("query_string", b"").decode()).get(
            "batch") == ["1"]
        self.held: list[str] | None = []
        await fanout().add_viewer(self)
        await self.send_snapshot()
        held, self.held = self.held, None
        for text in held:
            await self.send(text_data=text)

    async def deliver(self, frames: list[str]) -> None:
        """Events from the fanout, already framed for this viewer."""
        if self.held is not None:
            self.held.extend(frames)
            return
        for text in frames:
            await self.send(text_data=text)

    async def disconnect(self, code: int) -> None:
        if getattr(self, "counted", False):
            assert self.principal is not None  # counted only once a principal was accepted
            WEBSOCKET_CONNECTIONS.dec()
            self.counted = False
            log.info("websocket_disconnect", principal=self.principal.name, code=code)
        fanout().remove_viewer(self)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("action") == "snapshot":
            await self.send_snapshot()
        else:
            await self.send_json({"type": "error", "message": 'send {"action": "snapshot"}'})

    async def send_snapshot(self) -> None:
        await self.send(text_data=await fanout().snapshot(read_snapshot))


@database_sync_to_async
def read_snapshot() -> str:
    return json.dumps({"type": "snapshot", "state": line_state()})

"""The WebSocket route's auth stack: Channels' AuthMiddlewareStack without its session
wrapper's `send` on every frame.

Channels' SessionMiddleware hands the application a wrapped `send` that saves the session and
sets its cookie on `http.response.start`, which a WebSocket never sends; on a dashboard's socket
it was only a coroutine and two session lookups per frame, ~15% of a fanout process's CPU with
1,000 viewers (docs/performance.md). Here the session is resolved the same way (so
`scope["user"]` is the same), and the application gets the server's `send` itself."""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, InstanceSessionWrapper, SessionMiddleware

WRITTEN_FOR = {"channels": "4.3"}


class WebSocketSessionMiddleware(SessionMiddleware):
    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            return await super().__call__(scope, receive, send)
        wrapper = InstanceSessionWrapper(scope, send)
        await wrapper.resolve_session()
        inner: Any = self.inner  # an ASGI 3 application (types-channels allows ASGI 2 too)
        return await inner(wrapper.scope, receive, send)


def websocket_auth_stack(inner: Any) -> Any:
    """As AuthMiddlewareStack(inner)."""
    return CookieMiddleware(WebSocketSessionMiddleware(AuthMiddleware(inner)))

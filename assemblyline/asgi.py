"""ASGI entry point: HTTP (Django) and WebSocket (Channels) on one port, served by uvicorn
(assemblyline/serve.py starts it; importing this module tunes and registers nothing).

The first request (or connection) a process serves also starts its reaper loop
(intents/reaper.py) when REAPER_ENABLED."""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assemblyline.settings")
get_asgi_application()  # django.setup(), as Django's own entry point does

from assemblyline.handlers import SyncChainASGIHandler  # noqa: E402
from core.runtime import check_versions  # noqa: E402

# The framework patches of core/runtime/ run only on the versions they were written for.
check_versions()

# Django's handler, with the middleware chain run in one call (assemblyline/handlers.py).
django_asgi_app = SyncChainASGIHandler()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from core.runtime.channels_session import websocket_auth_stack  # noqa: E402
from intents.consumers import LineConsumer  # noqa: E402
from intents.reaper import start_reaper  # noqa: E402

# Django's path() routes an ASGI app for channels; django-stubs and types-channels type it and
# URLRouter's routes for views and a check-only pattern class.
websocket_urls = [path("ws/assembly-line/", LineConsumer.as_asgi())]  # type: ignore[arg-type]


class StartsReaper:
    """Starts this process's reaper with the first scope it serves."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.started = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        if not self.started:
            self.started = True
            start_reaper()
        return await self.app(scope, receive, send)


application = StartsReaper(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            # AuthMiddlewareStack less its per-frame session `send` (core/runtime/).
            "websocket": websocket_auth_stack(URLRouter(websocket_urls)),  # type: ignore[arg-type]
        }
    )
)

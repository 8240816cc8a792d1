"""Long poll for `GET /assembly-line/work/next?wait=N`: hold the request until work for this
executor arrives or N seconds pass, without holding a thread.

The claim itself stays the DRF view (auth, validation, errors, the spec's answer). This async
wrapper calls it; when nothing was assigned and `wait` is left, it waits on the channel layer's
work group (told after commit whenever an intent enters a queue, from any process through
Redis) and tries again. It also retries every LONG_POLL_RECHECK_SECONDS without a notice, so
work whose backoff ends, or a notice lost while Redis was away, is still picked up."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from intents.events import WORK_GROUP


def requested_wait(request: HttpRequest) -> float:
    """The wait asked for; invalid values are left to the view's validation (400)."""
    try:
        return max(0.0, min(float(request.GET.get("wait", 0)), settings.LONG_POLL_MAX_SECONDS))
    except ValueError:
        return 0.0


def wants_more(response: HttpResponse) -> bool:
    data = getattr(response, "data", None)
    return response.status_code == 200 and isinstance(data, dict) and not data.get("assigned")


class WorkSignal:
    """A channel in the work group; `wait(timeout)` returns when a notice arrives."""

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.channel = ""

    async def __aenter__(self) -> WorkSignal:
        if self.layer is not None:
            try:
                self.channel = await self.layer.new_channel("work.")
                await self.layer.group_add(WORK_GROUP, self.channel)
            except Exception:  # Redis away: fall back to re-checking on a timer
                self.channel = ""
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self.channel:
            with contextlib.suppress(Exception):
                await self.layer.group_discard(WORK_GROUP, self.channel)

    async def wait(self, timeout: float) -> None:
        if not self.channel:
            await asyncio.sleep(timeout)
            return
        try:
            await asyncio.wait_for(self.layer.receive(self.channel), timeout)
        except TimeoutError:
            pass
        except Exception:
            await asyncio.sleep(timeout)


def long_poll(view: Callable[..., HttpResponse]) -> Callable[..., Any]:
    """Wrap a sync claim view; the wrapper keeps its attributes (`cls` for the schema)."""
    sync_view = sync_to_async(view)

    @functools.wraps(view)
    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = await sync_view(request, *args, **kwargs)
        wait = requested_wait(request)
        if wait <= 0 or not wants_more(response):
            return response
        deadline = time.monotonic() + wait
        async with WorkSignal() as signal:
            # A notice may have come between the first try and joining the group.
            response = await sync_view(request, *args, **kwargs)
            while wants_more(response):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                await signal.wait(min(left, settings.LONG_POLL_RECHECK_SECONDS))
                response = await sync_view(request, *args, **kwargs)
        return response

    return wrapper

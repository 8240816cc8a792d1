"""Long poll for `GET /assembly-line/work/next?wait=N`: hold the request until work for this
executor arrives or N seconds pass, without holding a thread.

The claim itself stays the DRF view (auth, validation, errors, the spec's answer). This async
wrapper calls it; when nothing was assigned and `wait` is left, it waits for a work notice
(told after commit whenever an intent enters a queue, from any process through Redis, to the
process's one listener: intents/fanout.py) and tries again. Every LONG_POLL_RECHECK_SECONDS
without a notice it takes a cheap look (one indexed query) and claims when something is queued,
so work whose backoff ends, or a notice lost while Redis was away, is still picked up. An idle
executor costs one full claim per wait, and holds no database connection while it waits."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse

from intents.fanout import fanout


def requested_wait(request: HttpRequest) -> float:
    """The wait asked for; invalid values are left to the view's validation (400)."""
    try:
        return max(0.0, min(float(request.GET.get("wait", 0)), settings.LONG_POLL_MAX_SECONDS))
    except ValueError:
        return 0.0


def wants_more(response: HttpResponse) -> bool:
    data = getattr(response, "data", None)
    return response.status_code == 200 and isinstance(data, dict) and not data.get("assigned")


def queue_has_work() -> bool:
    """A cheap look (one indexed query) before the full claim: is anything claimable now?"""
    from django.db.models import Q
    from django.utils import timezone

    from intents.models import Intent, Status

    now = timezone.now()
    return Intent.objects.filter(
        Q(not_before__isnull=True) | Q(not_before__lte=now), status=Status.QUEUED
    ).exists()


def long_poll(view: Callable[..., HttpResponse]) -> Callable[..., Any]:
    """Wrap a sync claim view; the wrapper keeps its attributes (`cls` for the schema).
    Between tries the request gives its database connection back (to the pool), so a few
    hundred waiting executors hold no connections."""
    sync_view = sync_to_async(view)
    release = sync_to_async(connections.close_all)
    has_work = sync_to_async(queue_has_work)

    @functools.wraps(view)
    async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = await sync_view(request, *args, **kwargs)
        wait = requested_wait(request)
        if wait <= 0 or not wants_more(response):
            return response
        deadline = time.monotonic() + wait
        listener = fanout()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                # Nothing came: the first answer (assigned: false, and why) stands.
                return response
            await release()
            noticed = await listener.wait_for_work(min(left, settings.LONG_POLL_RECHECK_SECONDS))
            # The full claim (auth, rules, locks) only when work may be there: a notice,
            # or a queued intent seen by a cheap look (backoffs ending, lost notices).
            if noticed or await has_work():
                attempt = await sync_view(request, *args, **kwargs)
                if not wants_more(attempt):
                    return attempt
                response = attempt

    # Read by assemblyline/handlers.py: a claim that does not wait needs no async chain.
    wrapper.waits = requested_wait  # type: ignore[attr-defined]
    return wrapper

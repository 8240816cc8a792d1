"""Long poll for `GET /assembly-line/work/next?wait=N`: hold the request until work for this
executor arrives or N seconds pass, without holding a thread or a database connection.

The claim itself stays the DRF view (auth, validation, errors, the spec's answer), marked
with `long_poll`. The server's handler (assemblyline/handlers.py) answers it like any request;
when nothing was assigned and `wait` is left, it calls `hold`, which waits for a work notice
(told after commit whenever an intent enters a queue, from any process through Redis, to the
process's one listener: intents/fanout.py) and has the handler try again. Every
LONG_POLL_RECHECK_SECONDS without a notice it takes a cheap look (one indexed query) and tries
when something is queued, so work whose backoff ends, or a notice lost while Redis was away,
is still picked up. Each try is a request of its own to the middleware (one log line each).
An idle executor costs one claim per wait; while it waits it holds no thread and no database
connection (each try returns its connection to the pool when it ends).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone

from intents.dispatch import anything_claimable
from intents.fanout import fanout


def requested_wait(request: HttpRequest) -> float:
    """The wait asked for; invalid values are left to the view's validation (400)."""
    try:
        return max(0.0, min(float(request.GET.get("wait", 0)), settings.LONG_POLL_MAX_SECONDS))
    except ValueError:
        return 0.0


def wants_more(response: HttpResponseBase) -> bool:
    data = getattr(response, "data", None)
    return response.status_code == 200 and isinstance(data, dict) and not data.get("assigned")


def queue_has_work() -> bool:
    """A cheap look (one indexed query) before the full claim: is anything claimable now?"""
    return anything_claimable(timezone.now())


def long_poll(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a claim view as one the handler may hold (assemblyline/handlers.py)."""
    view.waits = requested_wait  # type: ignore[attr-defined]
    return view


async def hold(
    request: HttpRequest,
    response: HttpResponseBase,
    *,
    again: Callable[[], Awaitable[HttpResponseBase]],
    look: Callable[[], Awaitable[bool]],
) -> HttpResponseBase:
    """`response` is the claim's first answer; while it assigned nothing and the wait is not
    over, wait for work and ask `again` (the whole request once more). `look` runs
    `queue_has_work` (on a worker thread)."""
    wait = requested_wait(request)
    if wait <= 0 or not wants_more(response):
        return response
    deadline = time.monotonic() + wait
    listener = fanout()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            # Nothing came: the last answer (assigned: false, and why) stands.
            return response
        noticed = await listener.wait_for_work(min(left, settings.LONG_POLL_RECHECK_SECONDS))
        if not noticed and time.monotonic() >= deadline:
            return response
        # The full claim (auth, rules, locks) only when work may be there: a notice, or a
        # queued intent seen by a cheap look (backoffs ending, lost notices).
        if noticed or await look():
            attempt = await again()
            if not wants_more(attempt):
                return attempt
            response = attempt

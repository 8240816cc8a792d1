"""The ASGI handler for HTTP: Django's, with the middleware chain run synchronously.

Under ASGI Django runs its middleware in async mode, and every `MiddlewareMixin` middleware
(all of Django's own, django-prometheus's) then calls its `process_request` and
`process_response` through `sync_to_async`: two hops to a worker thread and back per
middleware, about twenty per request here. Measured with the benchmark (bench/), that was
~6 ms of CPU for `GET /health` and most of the cost of every executor call.

Here the chain is built in sync mode, as under WSGI, and a request to a synchronous view (all
the REST API, admin, the dashboard) makes one hop: the whole chain and the view run in one
call, on one of REQUEST_THREADS worker threads. The long poll
(`GET /assembly-line/work/next?wait=N`) is held here between its tries (intents/longpoll.py),
without a thread. (The views are all synchronous; Django would run an async one through
`async_to_sync` on a worker thread.)

Why a small, fixed pool rather than Django's thread per request: the event loop (HTTP
parsing, WebSocket frames) needs the GIL too. With a thread per request, fifty busy executors
meant fifty threads taking turns on the GIL with the loop, which then fell seconds behind
(bench/); requests beyond the pool's size now wait in the loop, where waiting is cheap.
A worker thread gives its database connection back (to the pool when DB_POOL is on) at the
end of each request, as Django does.
"""

from __future__ import annotations

import gc
import os
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import structlog
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.urls import Resolver404, resolve

from assemblyline.errors import error_body
from intents import longpoll

T = TypeVar("T")

log = structlog.get_logger("assemblyline.requests")


class BodyTooLarge(Exception):
    """A request body over DATA_UPLOAD_MAX_MEMORY_SIZE, found while reading it (→ 413)."""


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self.workers = ThreadPoolExecutor(settings.REQUEST_THREADS,
                                          thread_name_prefix="request")
        self.in_worker = sync_to_async(self.run_in_worker, thread_sensitive=False,
                                       executor=self.workers)
        # Admin logins hash passwords (slow on purpose): on threads of their own, so a burst
        # of them waits here instead of taking every request thread (LOGIN_THREADS).
        self.login_workers = ThreadPoolExecutor(settings.LOGIN_THREADS,
                                                thread_name_prefix="login")
        self.in_login_worker = sync_to_async(self.run_in_worker, thread_sensitive=False,
                                             executor=self.login_workers)
        # Views that run live checks (verification/egress.py `live_checks`) wait on the
        # services they probe, up to LIVE_CHECK_DEADLINE: each kind on a pool of its own
        # (/verify apart from /work/complete), so /health, claims and an executor's
        # completion never queue behind a flood of verifies; beyond a pool's size they wait
        # in the loop.
        self.live_workers: dict[str, Callable[..., Any]] = {}

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        checks_password = request.method == "POST" and request.path == settings.LOGIN_URL
        pool = live_check_pool(request)
        if checks_password:
            in_worker = self.in_login_worker
        elif pool is not None:
            in_worker = self.in_live_worker(pool)
        else:
            in_worker = self.in_worker
        response = await in_worker(self.get_response, request)
        # The view Django resolved for this request (None for a 404), not resolved again.
        view = request.resolver_match.func if request.resolver_match else None
        if getattr(view, "waits", None) is not None:
            # A long poll (intents/longpoll.py): held here, between tries, without a thread.
            response = await longpoll.hold(
                request, response,
                again=lambda: self.in_worker(self.get_response, request),
                look=lambda: self.in_worker(longpoll.queue_has_work))
        release_answer(response)
        if not response.streaming:  # a stream's content may still read the request
            release_request(request)
        return response

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().handle(scope, receive, send)
        except BodyTooLarge:
            # Answered before the middleware ran: logged here, as the request log would.
            log.warning("request_too_large", method=scope.get("method"), path=scope.get("path"),
                        limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
            response = JsonResponse(
                error_body(413, "too_large", "request body is larger than the limit"),
                status=413,
            )
            await self.send_response(response, send)

    async def read_body(self, receive: Any) -> Any:
        """Django's, with the body size limit (DATA_UPLOAD_MAX_MEMORY_SIZE) applied to the
        bytes that arrive, declared length or not: a chunked body has none, so neither
        Django's check nor the JSON parser's could see its size."""
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body_file = tempfile.SpooledTemporaryFile(
            max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b"
        )
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                body_file.close()
                raise RequestAborted()
            chunk = message.get("body", b"")
            size += len(chunk)
            if limit is not None and size > limit:
                body_file.close()
                raise BodyTooLarge()
            body_file.write(chunk)
            if not message.get("more_body", False):
                break
        body_file.seek(0)
        return body_file

    def create_request(self, scope: Any, body_file: Any) -> Any:
        """A body without Content-Length (chunked) gets the length it was read with: DRF
        treats a request with no or a zero Content-Length as having no body."""
        request, error = super().create_request(scope, body_file)
        if request is not None and not request.META.get("CONTENT_LENGTH"):
            size = body_file.seek(0, os.SEEK_END)
            body_file.seek(0)
            if size:
                request.META["CONTENT_LENGTH"] = str(size)
        return request, error

    async def listen_for_disconnect(self, receive: Any) -> None:
        """Django's, returning on the client's disconnect where Django's raises
        RequestAborted. `handle` treats the two alike (it ignores the exception), but the
        raised exception's traceback holds `handle`'s frame, and that frame holds the task that
        holds the exception: a cycle that kept each request's whole object graph (request,
        session, view, answer) alive until the next full enough garbage collection. Daphne
        sends the disconnect after every answer, so that was every request."""
        message = await receive()
        if message["type"] != "http.disconnect":
            raise AssertionError(f"Invalid ASGI message after request body: {message['type']}")

    def in_live_worker(self, pool: str) -> Callable[..., Any]:
        """The runner of live-check pool `pool`, made on first use (on the event loop's
        thread, so never twice)."""
        runner = self.live_workers.get(pool)
        if runner is None:
            threads = ThreadPoolExecutor(settings.LIVE_CHECK_CONCURRENCY,
                                         thread_name_prefix=f"live-{pool}")
            runner = self.live_workers[pool] = sync_to_async(
                self.run_in_worker, thread_sensitive=False, executor=threads)
        return runner

    @staticmethod
    def run_in_worker(function: Callable[..., T], *args: Any) -> T:
        """On a worker thread, with its database connection checked before and given back
        (to the pool, or closed) after, as Django does around every request."""
        close_old_connections()
        try:
            return function(*args)
        finally:
            close_old_connections()


def live_check_pool(request: HttpRequest) -> str | None:
    """The live-check pool the request's view runs on, or None for the request pool."""
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    return getattr(match.func, "live_checks", None)


def tune_process() -> None:
    """Once per server process, after start-up (measured with bench/, where both halved the
    executor calls' p99 under load):

    - the garbage collector: what start-up made is frozen (never scanned again), and a young
      collection runs after GC_GEN0_THRESHOLD allocations, not 700: the ORM allocates a lot
      per request, and the default made full collections stall every thread and the event
      loop for tens of milliseconds, many times a second;
    - the GIL switch interval (GIL_SWITCH_SECONDS, 5 ms by default in Python): the event loop
      and a request waiting on the database get the interpreter back sooner from a thread
      that is computing.
    """
    gc.freeze()
    gc.set_threshold(settings.GC_GEN0_THRESHOLD, 20, 20)
    if settings.GIL_SWITCH_SECONDS:
        sys.setswitchinterval(settings.GIL_SWITCH_SECONDS)


def release_answer(response: HttpResponseBase) -> None:
    """Let a rendered REST answer's data go now. A DRF response and its view point at each
    other (`view.response`, `response.renderer_context["view"]`), so the answer's whole tree
    of dicts and lists (/state: ~600 of them) outlived the request as cyclic garbage. Measured
    in a server: young collections of ~40,000 such objects every ~50 `/state` calls, ~20 ms
    each, the p99 of `/state`. Once rendered, only the bytes are sent."""
    if getattr(response, "is_rendered", False) and hasattr(response, "renderer_context"):
        context = response.renderer_context or {}
        if context.get("request") is not None:
            # {"view": ..., "request": itself}: the DRF request, its view and itself.
            context["request"].parser_context = None
        if context.get("view") is not None:
            # The view's request and response, and `head`, its own bound `get` (Django).
            context["view"].__dict__.clear()
        # A DRF Response (it has a renderer_context), which mypy cannot tell from the check.
        response.data = None  # type: ignore[attr-defined]
        response.renderer_context = None


# What Django's middleware puts on a request that points back at the request: the lazy user
# and `auser` (AuthenticationMiddleware), the message storage (MessageMiddleware).
REQUEST_CYCLES = ("user", "auser", "_messages")


def release_request(request: HttpRequest) -> None:
    """Break the cycles Django's own middleware makes through a request once its answer is
    made, so the request (its body, headers, session) is freed by reference counting when the
    server lets it go, not by a later garbage collection. Under load, with hundreds of
    requests in flight, young collections moved most of them to the older generations, where
    they piled up by the hundreds of thousands of objects (bench/, peak RSS)."""
    for name in REQUEST_CYCLES:
        request.__dict__.pop(name, None)


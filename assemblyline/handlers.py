"""The ASGI handler for HTTP: Django's, with the middleware chain run synchronously.

Under ASGI Django runs each `MiddlewareMixin` middleware through `sync_to_async`, two thread
hops per middleware per request. Here the chain is built in sync mode, as under WSGI, and a
request makes one hop: chain and view run in one call on one of REQUEST_THREADS worker
threads (a small fixed pool, so busy requests do not starve the event loop of the GIL). The
long poll is held here between its tries, without a thread (intents/longpoll.py). Why and how
much: docs/performance.md. Django internals it overrides: core/runtime/asgi.py.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signals
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponseBase
from django.urls import Resolver404, resolve

from core.runtime.asgi import LimitedBodyMixin, OneHopMixin, QuietDisconnectMixin
from core.runtime.cycles import release_answer, release_request
from intents import longpoll

T = TypeVar("T")


class SyncChainASGIHandler(QuietDisconnectMixin, LimitedBodyMixin, OneHopMixin, ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self.workers = ThreadPoolExecutor(settings.REQUEST_THREADS, thread_name_prefix="request")
        self.in_worker = sync_to_async(
            self.run_in_worker, thread_sensitive=False, executor=self.workers
        )
        # Admin logins hash passwords (slow on purpose): on threads of their own, so a burst
        # of them waits here instead of taking every request thread (LOGIN_THREADS).
        self.login_workers = ThreadPoolExecutor(settings.LOGIN_THREADS, thread_name_prefix="login")
        self.in_login_worker = sync_to_async(
            self.run_in_worker, thread_sensitive=False, executor=self.login_workers
        )
        # Views that run live checks (verification/egress.py `live_checks`) wait on the
        # services they probe, up to LIVE_CHECK_DEADLINE: each kind on a pool of its own
        # (/verify apart from /work/complete), so /health, claims and an executor's
        # completion never queue behind a flood of verifies; beyond a pool's size they wait
        # in the loop.
        self.live_workers: dict[str, Callable[..., Any]] = {}

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        self.token_api = TokenApiHandler()

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        checks_password = request.method == "POST" and request.path == settings.LOGIN_URL
        pool = live_check_pool(request)
        if checks_password:
            in_worker = self.in_login_worker
        elif pool is not None:
            in_worker = self.in_live_worker(pool)
        else:
            in_worker = self.in_worker
        response = await in_worker(self.respond, request)
        # The view Django resolved for this request (None for a 404), not resolved again.
        view = request.resolver_match.func if request.resolver_match else None
        if getattr(view, "waits", None) is not None:
            # A long poll (intents/longpoll.py): held here, between tries, without a thread.
            response = await longpoll.hold(
                request,
                response,
                again=lambda: self.in_worker(self.respond, request),
                look=lambda: self.in_worker(longpoll.queue_has_work),
            )
        release_answer(response)
        if not response.streaming:  # a stream's content may still read the request
            release_request(request)
        return response

    def respond(self, request: HttpRequest) -> HttpResponseBase:
        """One request cycle, on the worker thread (OneHopMixin): request_started, the chain,
        and a whole answer's close (request_finished). A long poll's every try is one."""
        signals.request_started.send(sender=self.__class__, scope=getattr(request, "scope", None))
        handler = self.token_api if token_api_call(request) else self
        response = handler.get_response(request)
        if not response.streaming:
            response.close()
        return response

    def in_live_worker(self, pool: str) -> Callable[..., Any]:
        """The runner of live-check pool `pool`, made on first use (on the event loop's
        thread, so never twice)."""
        runner = self.live_workers.get(pool)
        if runner is None:
            threads = ThreadPoolExecutor(
                settings.LIVE_CHECK_CONCURRENCY, thread_name_prefix=f"live-{pool}"
            )
            runner = self.live_workers[pool] = sync_to_async(
                self.run_in_worker, thread_sensitive=False, executor=threads
            )
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


class TokenApiHandler(BaseHandler):
    """Django's request handling with the token API's chain (settings.TOKEN_API_MIDDLEWARE),
    for `token_api_call`s. Django builds a chain from settings.MIDDLEWARE only: it is read
    once here, in place of MIDDLEWARE, while this chain is built."""

    def __init__(self) -> None:
        super().__init__()
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.TOKEN_API_MIDDLEWARE
        try:
            self.load_middleware(is_async=False)
        finally:
            settings.MIDDLEWARE = full


def token_api_call(request: HttpRequest) -> bool:
    """A call to the executor endpoints with a bearer token: a session, a CSRF token or a
    browser's cookies play no part in it (a bad token is a 401 either way)."""
    return (
        request.path.startswith(settings.TOKEN_API_PREFIXES)
        and request.META.get("HTTP_AUTHORIZATION", "")[:7].lower() == "bearer "
    )


def live_check_pool(request: HttpRequest) -> str | None:
    """The live-check pool the request's view runs on, or None for the request pool."""
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    return getattr(match.func, "live_checks", None)

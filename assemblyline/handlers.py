"""The ASGI handler for HTTP: Django's, with the middleware chain run synchronously.

Under ASGI Django runs its middleware in async mode, and every `MiddlewareMixin` middleware
(all of Django's own, django-prometheus's) then calls its `process_request` and
`process_response` through `sync_to_async`: two hops to a worker thread and back per
middleware, about twenty per request here. Measured with the benchmark (bench/), that was
~6 ms of CPU for `GET /health` and most of the cost of every executor call.

Here the chain is built in sync mode, as under WSGI, and a request to a synchronous view (all
the REST API, admin, the dashboard) makes one hop: the whole chain and the view run in one
call on the request's thread. A request to an async view (the long poll,
`GET /assembly-line/work/next?wait=N`, which waits without holding a thread) goes through
Django's own async chain, unchanged.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase
from django.urls import Resolver404, get_resolver


class SyncChainASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self.async_chain = ASGIHandler()  # Django's own, for async views

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        if async_view(request):
            return await self.async_chain.get_response_async(request)
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


def async_view(request: HttpRequest) -> bool:
    try:
        match = get_resolver().resolve(request.path_info)
    except Resolver404:
        return False
    return iscoroutinefunction(match.func)

"""Overrides of Django's ASGIHandler internals (assemblyline/handlers.py builds on them)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from typing import Any

import structlog
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import HttpResponseBase, JsonResponse
from django.urls import set_script_prefix

from core.errors import error_body

WRITTEN_FOR = {"django": "5.2"}

log = structlog.get_logger("assemblyline.requests")


class BodyTooLarge(Exception):
    """A request body over DATA_UPLOAD_MAX_MEMORY_SIZE, found while reading it (→ 413)."""


class LimitedBodyMixin(ASGIHandler):
    """The body size limit applied to the bytes that arrive, declared length or not: a chunked
    body has none, so neither Django's check nor the JSON parser's could see its size."""

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().handle(scope, receive, send)
        except BodyTooLarge:
            # Answered before the middleware ran: logged here, as the request log would.
            log.warning(
                "request_too_large",
                method=scope.get("method"),
                path=scope.get("path"),
                limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
            )
            response = JsonResponse(
                error_body(413, "too_large", "request body is larger than the limit"),
                status=413,
            )
            await self.send_response(response, send)

    async def read_body(self, receive: Any) -> Any:
        """Django's, stopping at DATA_UPLOAD_MAX_MEMORY_SIZE."""
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


class QuietDisconnectMixin(ASGIHandler):
    async def listen_for_disconnect(self, receive: Any) -> None:
        """Django's, returning on the client's disconnect where Django's raises
        RequestAborted: the raised exception's traceback held `handle`'s frame, which held
        the task that held the exception, a cycle that kept every request's object graph
        alive until a full garbage collection (Daphne sends the disconnect after every
        answer)."""
        message = await receive()
        if message["type"] != "http.disconnect":
            raise AssertionError(f"Invalid ASGI message after request body: {message['type']}")


class OneHopMixin(ASGIHandler):
    """Django's `__call__` and `handle`, without the thread hops of their own around the view's:
    no ThreadSensitiveContext (it starts a thread for each request, for the next two hops), no
    `request_started.asend` and no `sync_to_async(response.close)`. The subclass's
    `get_response_async` sends request_started and closes a whole answer (request_finished)
    on the worker thread that runs the request, where the connections those signals look
    after live. A streaming answer is closed after it is sent, as Django does."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None  # Django makes one when it makes no request
            body_file.close()
            await self.send_response(error_response, send)
            await sync_to_async(error_response.close, thread_sensitive=False)()
            return

        async def process_request() -> HttpResponseBase:
            response = await self.run_get_response(request)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass  # the client went away while it was sent
            return response

        # As Django: the client's disconnect cancels the request (a held long poll ends).
        listen = asyncio.create_task(self.listen_for_disconnect(receive))
        process = asyncio.create_task(process_request())
        await asyncio.wait([listen, process], return_when=asyncio.FIRST_COMPLETED)
        for task in (listen, process):
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        if not process.cancelled() and process.exception() is None:
            response = process.result()
            if response.streaming:
                await sync_to_async(response.close, thread_sensitive=False)()
        body_file.close()

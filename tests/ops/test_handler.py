"""The ASGI handler lets a REST answer's data, and the request, go once the answer is made:
freed by reference counting, not left as cyclic garbage for the collector."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import weakref
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from django.test import override_settings
from django.urls import path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from assemblyline.handlers import SyncChainASGIHandler
from core.runtime.cycles import release_answer


class Tree(dict[str, Any]):
    """A dict that can be weakly referenced, to see when it is freed."""


class TreeApi(APIView):
    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    def get(self, request: Any) -> Response:
        return Response(Tree(executors=[{"id": n} for n in range(3)]))


def test_a_rendered_answer_frees_its_data_without_the_garbage_collector() -> None:
    gc.disable()  # what is freed here is freed by reference counting alone
    try:
        response = TreeApi.as_view()(APIRequestFactory().get("/tree"))
        response.render()
        data = weakref.ref(response.data)
        # The view and the response point at each other: without release_answer the data
        # would wait for a collection.
        assert response.renderer_context["view"].response is response
        release_answer(response)
        assert data() is None
        assert response.data is None and response.renderer_context is None
        assert json.loads(response.content) == {"executors": [{"id": 0}, {"id": 1}, {"id": 2}]}
    finally:
        gc.enable()


def test_an_answer_not_yet_rendered_keeps_its_data() -> None:
    response = TreeApi.as_view()(APIRequestFactory().get("/tree"))
    release_answer(response)
    assert response.data == {"executors": [{"id": 0}, {"id": 1}, {"id": 2}]}
    assert response.render().status_code == 200


# --- a request through the whole handler and middleware ---------------------------------------

served: list[weakref.ref[Any]] = []


class EchoApi(APIView):
    """GET and POST (a view with `get` points at itself: Django sets `head = get`); POST
    validates its body with a serializer, as the executor endpoints do."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    class InputSerializer(serializers.Serializer[Any]):
        name = serializers.CharField(max_length=20)

    def get(self, request: Any) -> Response:
        served.append(weakref.ref(request._request))
        return Response(Tree(ok=True))

    def post(self, request: Any) -> Response:
        from core.api import validate_input

        served.append(weakref.ref(request._request))
        return Response(Tree(name=validate_input(self.InputSerializer, request.data)["name"]))


urlpatterns = [path("echo", EchoApi.as_view())]


async def served_by_handler(method: str, body: bytes = b"") -> tuple[int, bytes]:
    """One request through SyncChainASGIHandler and the project's middleware, ended as Daphne
    ends it: the client's disconnect comes after the answer."""
    app = ApplicationCommunicator(
        SyncChainASGIHandler(),
        {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": "/echo",
            "raw_path": b"/echo",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000),
        },
    )
    await app.send_input({"type": "http.request", "body": body, "more_body": False})
    start = await app.receive_output(5)
    content = await app.receive_output(5)
    await app.send_input({"type": "http.disconnect"})
    await app.wait(5)
    return start["status"], content["body"]


@pytest.mark.parametrize(("method", "body"), [("GET", b""), ("POST", b'{"name": "x"}')])
@override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["127.0.0.1"])
async def test_a_served_request_is_freed_without_the_garbage_collector(
    method: str, body: bytes
) -> None:
    served.clear()
    await served_by_handler(method, body)  # warm: the first request imports and caches
    gc.collect()
    gc.disable()
    try:
        status, content = await served_by_handler(method, body)
        assert status == 200, content
        assert json.loads(content) in ({"ok": True}, {"name": "x"})
        # Before: the disconnect's RequestAborted (its traceback held the handler's frame),
        # the lazy user, `auser` and message storage, the DRF request's parser context and the
        # view's `head` each kept the request in a cycle. A pool thread may drop its last
        # reference a moment after the answer; a cycle would never be freed with gc off.
        for _ in range(200):
            if served[-1]() is None:
                break
            await asyncio.sleep(0.01)
        assert served[-1]() is None
    finally:
        gc.enable()


# --- one thread hop per request ---------------------------------------------------------------


@override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["127.0.0.1"])
async def test_a_request_runs_its_signals_and_view_on_one_pool_thread() -> None:
    """request_started, the view and request_finished run on the handler's own worker thread,
    the one whose database connection close_old_connections looks after. Django's handler
    ran the signals on a thread started for each request (its ThreadSensitiveContext): two
    more hops and a new thread per request, more than the view itself costs."""
    from django.core import signals

    seen: list[tuple[str, str]] = []

    def started(**kwargs: Any) -> None:
        seen.append(("started", threading.current_thread().name))

    def finished(**kwargs: Any) -> None:
        seen.append(("finished", threading.current_thread().name))

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        for method, body in [("GET", b""), ("POST", b'{"name": "x"}')] * 5:
            assert (await served_by_handler(method, body))[0] == 200
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert [kind for kind, _ in seen] == ["started", "finished"] * 10
    # The pool's threads are named request_N; a thread of Django's per-request context is not.
    assert all(name.startswith("request_") for _, name in seen), seen

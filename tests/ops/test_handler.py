"""The ASGI handler lets a REST answer's data go once the answer is rendered."""

from __future__ import annotations

import gc
import json
import weakref
from typing import Any

from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from assemblyline.handlers import release_answer


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

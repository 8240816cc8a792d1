"""Chunked request bodies (issue 16, finding 11), on a real server: a body sent with
`Transfer-Encoding: chunked` (no Content-Length) is read like any other, under the same size
limit. It was ignored: a valid chunked submit answered 400 "title required", and a 10 MB
chunked body 400 instead of 413."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from executors.models import Role
from executors.services import token_create
from intents.models import Intent
from tests.conftest import SPEC_OK
from tests.servers import Server

pytestmark = pytest.mark.django_db(transaction=True)


# The `server` of these tests (tests/conftest.py): one process for the module.
SERVER_ENV = {"MAX_BODY_BYTES": str(1024 * 1024)}


def chunks(data: bytes, size: int = 1000) -> Iterator[bytes]:
    """A generator body: httpx sends it chunked, with no Content-Length."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_chunked_submit_is_read(server: Server) -> None:
    token = token_create(name="chunky", role=Role.SUBMITTER)[1]
    body = json.dumps({"title": "chunked", "spec_text": SPEC_OK, "priority": 7}).encode()
    with server.client(token) as client:
        request = client.build_request(
            "POST",
            "/assembly-line/intent",
            content=chunks(body),
            headers={"Content-Type": "application/json"},
        )
        assert request.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in request.headers
        response = client.send(request)
    assert response.status_code == 201, response.text
    intent = Intent.objects.get(pk=response.json()["intent_id"])
    assert (intent.title, intent.priority) == ("chunked", 7)


def test_a_chunked_body_over_the_limit_is_a_413(server: Server) -> None:
    token = token_create(name="chunky", role=Role.SUBMITTER)[1]
    body = json.dumps({"title": "big", "spec_text": "x" * (10 * 1024 * 1024)}).encode()
    with server.client(token) as client:
        response = client.post(
            "/assembly-line/intent",
            content=chunks(body, 64 * 1024),
            headers={"Content-Type": "application/json"},
            timeout=60.0,
        )
    assert response.status_code == 413, response.text[:300]
    assert response.json()["error"]["code"] == "too_large"
    assert Intent.objects.count() == 0
    # The server is fine afterwards, and nothing was a 500.
    assert httpx.get(server.url + "/health", timeout=10).status_code == 200
    assert "Traceback" not in server.output_all()


def test_a_chunked_complete_reaches_the_gate(server: Server) -> None:
    """Executors hand in artifacts: a chunked hand-in is the same as a sized one."""
    from tests.conftest import make_executor, phase_artifacts

    executor = make_executor("chunk-1", "local")
    token = token_create(name="chunky", role=Role.SUBMITTER)[1]
    with server.client(token) as client:
        intent_id = client.post(
            "/assembly-line/intent", json={"title": "t", "spec_text": SPEC_OK}
        ).json()["intent_id"]
    with server.client(executor.token) as client:
        claimed = client.get("/assembly-line/work/next", params={"executor_id": "chunk-1"})
        assert claimed.json()["intent"]["id"] == intent_id
        body = json.dumps(
            {
                "intent_id": intent_id,
                "executor_id": "chunk-1",
                "artifacts": phase_artifacts("build"),
            }
        ).encode()
        response = client.post(
            "/assembly-line/work/complete",
            content=chunks(body, 50),
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["next_phase"] == "test"

"""Each role against each endpoint: 401 without a token, 403 for a role that may not."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from executors.models import ApiToken
from tests.conftest import Actor, submit

pytestmark = pytest.mark.django_db

SUBMIT = {"title": "t", "spec_path": "demo.md", "priority": 5, "environment_preference": "either"}


def call(client: Any, endpoint: str, executor_id: str) -> Any:
    if endpoint == "submit":
        return client.post("/assembly-line/intent", SUBMIT, format="json")
    if endpoint == "next":
        return client.get("/assembly-line/work/next", {"executor_id": executor_id})
    if endpoint == "progress":
        return client.post(
            "/assembly-line/work/progress",
            {
                "intent_id": "int_none",
                "executor_id": executor_id,
                "phase": "build",
                "progress": 0.5,
            },
            format="json",
        )
    if endpoint == "complete":
        return client.post(
            "/assembly-line/work/complete",
            {
                "intent_id": "int_none",
                "executor_id": executor_id,
                "status": "completed",
                "artifacts": {},
            },
            format="json",
        )
    if endpoint == "state":
        return client.get("/assembly-line/state")
    if endpoint == "list":
        return client.get("/assembly-line/intents/")
    if endpoint == "register":
        return client.post(
            "/assembly-line/executors/register",
            {"executor_id": executor_id, "environment": "local"},
            format="json",
        )
    if endpoint == "heartbeat":
        return client.post(
            "/assembly-line/executors/heartbeat", {"executor_id": executor_id}, format="json"
        )
    if endpoint == "health":
        return client.get("/health")
    raise AssertionError(endpoint)


# What each role gets; 404 on progress/complete means "allowed, but no such intent".
EXPECTED = {
    "anonymous": {
        "submit": 401,
        "next": 401,
        "progress": 401,
        "complete": 401,
        "state": 401,
        "list": 401,
        "register": 401,
        "heartbeat": 401,
        "health": 200,
    },
    "viewer": {
        "submit": 403,
        "next": 403,
        "progress": 403,
        "complete": 403,
        "state": 200,
        "list": 200,
        "register": 403,
        "heartbeat": 403,
        "health": 200,
    },
    "submitter": {
        "submit": 201,
        "next": 403,
        "progress": 403,
        "complete": 403,
        "state": 200,
        "list": 200,
        "register": 403,
        "heartbeat": 403,
        "health": 200,
    },
    "executor": {
        "submit": 201,
        "next": 200,
        "progress": 404,
        "complete": 404,
        "state": 200,
        "list": 200,
        "register": 200,
        "heartbeat": 200,
        "health": 200,
    },
    "admin": {
        "submit": 201,
        "next": 200,
        "progress": 404,
        "complete": 404,
        "state": 200,
        "list": 200,
        "register": 200,
        "heartbeat": 200,
        "health": 200,
    },
}


@pytest.mark.parametrize("role", list(EXPECTED))
@pytest.mark.parametrize("endpoint", list(EXPECTED["admin"]))
def test_auth_matrix(role: str, endpoint: str, request: Any, executor: Actor) -> None:
    client = (
        request.getfixturevalue("anonymous")
        if role == "anonymous"
        else (request.getfixturevalue(role).client)
    )
    response = call(client, endpoint, "laptop-1")
    assert response.status_code == EXPECTED[role][endpoint], response.content
    if response.status_code == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["error"]["status"] == 401


def test_revoked_and_bogus_tokens_are_401(executor: Actor, anonymous: Any) -> None:
    ApiToken.objects.filter(executor_id="laptop-1").update(revoked_at=timezone.now())
    assert executor.client.get("/assembly-line/state").status_code == 401
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer al0000000000.nope")
    assert anonymous.get("/assembly-line/state").status_code == 401
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer")
    assert anonymous.get("/assembly-line/state").status_code == 401


def test_tokens_are_stored_hashed(executor: Actor) -> None:
    stored = ApiToken.objects.get(executor_id="laptop-1")
    assert executor.token not in (stored.hashed, stored.prefix)
    assert stored.matches(executor.token)
    assert executor.token.startswith(stored.prefix + ".")


def test_executor_token_registers_only_itself(executor: Actor, outsider: Actor) -> None:
    response = executor.client.post(
        "/assembly-line/executors/register", {"executor_id": "laptop-2"}, format="json"
    )
    assert response.status_code == 403


def test_admin_registers_new_executor_and_gets_its_token(admin: Actor) -> None:
    response = admin.client.post(
        "/assembly-line/executors/register",
        {
            "executor_id": "fresh-1",
            "executor_type": "server_ai",
            "environment": "server",
            "capabilities": ["python", "docker"],
            "availability": "always",
            "max_concurrent": 2,
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["executor_id"] == "fresh-1" and body["status"] == "idle"
    assert body["capabilities"] == ["docker", "python"]
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert client.get("/assembly-line/work/next", {"executor_id": "fresh-1"}).json() == {
        "assigned": False,
        "reason": "no queued intent matches this executor",
    }


def test_executors_submit_intents_too(executor: Actor) -> None:
    body = submit(executor)
    assert body["status"] == "queued"

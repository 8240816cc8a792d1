"""Garbage in, clear JSON 4xx out, nothing stored; idempotent submission."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from intents.models import Intent, IntentEvent
from tests.conftest import SPEC_OK, Actor, claim, complete, submit

pytestmark = pytest.mark.django_db


def post_raw(actor: Actor, path: str, body: bytes | str) -> Any:
    return actor.client.generic("POST", path, body, content_type="application/json")


def assert_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert body["status"] == status and body["message"]
    return body


# Bodies a careless or hostile client sends; each must get a 4xx JSON error and store nothing.
MALFORMED = [
    b"",
    b"{",
    b"null",
    b"[]",
    b'"a string"',
    b"12",
    b'{"title": null}',
    b'{"title": ""}',
    b'{"title": 5, "spec_path": []}',
    b'{"title": "x"}',
    b'{"title": "x", "spec_path": "a.md", "priority": 0}',
    b'{"title": "x", "spec_path": "a.md", "priority": 11}',
    b'{"title": "x", "spec_path": "a.md", "priority": "high"}',
    b'{"title": "x", "spec_path": "a.md", "priority": 1.5}',
    b'{"title": "x", "spec_path": "a.md", "environment_preference": "mars"}',
    b'{"title": "x", "spec_path": "a.md", "required_capabilities": "python"}',
    b'{"title": "x", "spec_path": "a.md", "required_capabilities": [[]]}',
    b'{"title": "x", "spec_path": "a.md", "max_attempts": -1}',
    b'{"title": "x", "spec_path": "a.md", "requires_human_review": "maybe"}',
    b'{"title": "\xff\xfe", "spec_path": "a.md"}',
    ("{" + '"title": "' + "t" * 201 + '", "spec_path": "a.md"}').encode(),
    b'{"title": "x", "spec_path": "' + b"p" * 501 + b'"}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 40 + b"1" + b"}" * 40,
]


@pytest.mark.parametrize("body", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_submissions_are_clear_4xx_and_store_nothing(
    submitter: Actor, body: bytes
) -> None:
    response = post_raw(submitter, "/assembly-line/intent", body)
    assert 400 <= response.status_code < 500, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["status"] == response.status_code
    assert Intent.objects.count() == 0 and IntentEvent.objects.count() == 0


def test_work_endpoints_reject_garbage_without_changing_anything(
    submitter: Actor, executor: Actor
) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    before = Intent.objects.get(pk=intent_id)
    events = IntentEvent.objects.count()
    for path, body in [
        (
            "/assembly-line/work/progress",
            {"intent_id": intent_id, "executor_id": "laptop-1", "phase": "build", "progress": 1.5},
        ),
        (
            "/assembly-line/work/progress",
            {"intent_id": intent_id, "executor_id": "laptop-1", "phase": "nope", "progress": 0.5},
        ),
        (
            "/assembly-line/work/complete",
            {"intent_id": intent_id, "executor_id": "laptop-1", "status": "done"},
        ),
        (
            "/assembly-line/work/complete",
            {"intent_id": intent_id, "executor_id": "laptop-1", "artifacts": "not a dict"},
        ),
        (
            "/assembly-line/work/complete",
            {
                "intent_id": intent_id,
                "executor_id": "laptop-1",
                "artifacts": {"log": "x" * 600_000},
            },
        ),
        ("/assembly-line/executors/heartbeat", {"executor_id": ["laptop-1"]}),
        ("/assembly-line/executors/register", {"executor_id": "laptop-1", "environment": "moon"}),
    ]:
        response = post_raw(executor, path, json.dumps(body))
        assert response.status_code in (400, 413), (path, body, response.content[:300])
    after = Intent.objects.get(pk=intent_id)
    assert (after.status, after.phase_progress, after.artifacts) == (
        before.status,
        before.phase_progress,
        before.artifacts,
    )
    assert IntentEvent.objects.count() == events


def test_body_size_cap_is_a_413(settings: Any, submitter: Actor) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"title": "x", "spec_text": "y" * 20_000})
    error = assert_error(post_raw(submitter, "/assembly-line/intent", body), 413)
    assert error["code"] == "too_large"
    assert Intent.objects.count() == 0


def test_json_depth_limit(settings: Any, submitter: Actor) -> None:
    settings.MAX_JSON_DEPTH = 5
    deep = '{"title": "x", "spec_text": "y", "extra": [[[[[[1]]]]]]}'
    error = assert_error(post_raw(submitter, "/assembly-line/intent", deep), 400)
    assert "nested deeper than 5" in error["message"]


def test_idempotency_key_returns_the_first_answer(submitter: Actor) -> None:
    body = {"title": "once", "spec_text": SPEC_OK}
    first = submitter.client.post(
        "/assembly-line/intent", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    again = submitter.client.post(
        "/assembly-line/intent", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Intent.objects.count() == 1
    other = submitter.client.post(
        "/assembly-line/intent", body, format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    assert other.json()["intent_id"] != first.json()["intent_id"]
    changed = submitter.client.post(
        "/assembly-line/intent",
        {**body, "title": "twice"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert_error(changed, 409)
    assert "different request body" in changed.json()["error"]["message"]
    assert Intent.objects.count() == 2
    blank = submitter.client.post(
        "/assembly-line/intent", body, format="json", HTTP_IDEMPOTENCY_KEY=" "
    )
    assert_error(blank, 400)


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_with_one_key_make_one_intent(
    postgres: None, submitter: Actor
) -> None:
    answers: list[Any] = []
    start = threading.Barrier(8)

    def send() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {submitter.token}")
        start.wait()
        answers.append(
            client.post(
                "/assembly-line/intent",
                {"title": "race", "spec_text": SPEC_OK},
                format="json",
                HTTP_IDEMPOTENCY_KEY="race-1",
            )
        )
        connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [201] * 8
    assert len({a.json()["intent_id"] for a in answers}) == 1
    assert Intent.objects.count() == 1


def test_completion_artifacts_limit_keeps_the_intent(
    submitter: Actor, executor: Actor, settings: Any
) -> None:
    settings.MAX_ARTIFACTS_BYTES = 1000
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    response = complete(executor, intent_id, {"build_output": "x" * 2000})
    assert "limit is 1000" in str(assert_error(response, 400)["fields"])
    assert Intent.objects.get(pk=intent_id).status == "assigned"

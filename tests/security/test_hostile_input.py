"""Hostile input (issue 16, finding 5): NaN, Infinity, NUL, lone surrogates, over-long fields
and NUL in the URL are clear JSON 400s that change nothing, never 500s; a level check treats a
number that is not finite as failing. On PostgreSQL, which rejects NUL and NaN in JSON and
over-long strings, each of these was a 500 with the transaction rolled back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from intents.models import Intent, IntentEvent
from tests.conftest import GOOD_TESTS, Actor, claim, submit
from verification.checks.reported import CodeQualityCheck, SecurityScanCheck, TestCoverageCheck
from verification.models import VerificationRun

pytestmark = pytest.mark.django_db


def post_raw(actor: Actor, path: str, body: str, **headers: Any) -> Any:
    return actor.client.generic("POST", path, body, content_type="application/json", **headers)


def raw_object(**members: str) -> str:
    """A JSON object from members given as raw JSON text (NaN and \\u0000 included)."""
    return "{" + ", ".join(f'"{key}": {value}' for key, value in members.items()) + "}"


def assert_400(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["status"] == 400 and error["message"]
    return error


@pytest.fixture
def held(submitter: Actor, executor: Actor) -> str:
    """An intent the executor holds (its build phase): what the hostile calls aim at."""
    intent_id = submit(submitter)["intent_id"]
    assert claim(executor)["assigned"]
    return intent_id


def unchanged(intent_id: str) -> tuple[Any, ...]:
    intent = Intent.objects.get(pk=intent_id)
    return (
        intent.status,
        intent.phase_progress,
        intent.artifacts,
        intent.deployment_url,
        intent.build_output,
        IntentEvent.objects.count(),
        VerificationRun.objects.count(),
    )


# Progress values as raw JSON text: the parser, not only the serializer, must refuse them.
BAD_PROGRESS = ["NaN", "Infinity", "-Infinity", "1e400", '"NaN"', '"inf"', '"-Infinity"']


@pytest.mark.parametrize("value", BAD_PROGRESS)
def test_progress_that_is_not_a_finite_number_is_a_400(
    held: str, executor: Actor, value: str
) -> None:
    before = unchanged(held)
    body = raw_object(
        intent_id=f'"{held}"', executor_id='"laptop-1"', phase='"build"', progress=value
    )
    error = assert_400(post_raw(executor, "/assembly-line/work/progress", body))
    assert "NaN" in error["message"] or "finite" in error["message"], error
    assert unchanged(held) == before


# Artifacts a careless or hostile executor hands in, as raw JSON text (NaN and \u0000 cannot
# be written with json.dumps' defaults).
BAD_ARTIFACTS = {
    "nan_value": '{"test_results": {"passed": 3, "failed": 0, "coverage": NaN}}',
    "infinity_value": '{"metrics": [1, 2, Infinity]}',
    "huge_float": '{"metrics": {"p95": -1e999}}',
    "nul_in_key": '{"bad\\u0000key": "x"}',
    "nul_in_nested_key": '{"notes": {"a": [{"b\\u0000": 1}]}}',
    "nul_in_value": '{"notes": "before\\u0000after"}',
    "nul_in_build_output": '{"build_output": "built\\u0000"}',
    "nul_in_spec_text": '{"spec_text": "# spec\\u0000"}',
    "lone_surrogate": '{"notes": "\\ud800"}',
    "lone_surrogate_key": '{"\\udfff": 1}',
    "long_deployment_url": json.dumps({"deployment_url": "http://x.example/" + "a" * 600}),
    "deployment_url_not_text": '{"deployment_url": {"href": "http://x"}}',
    "build_output_not_text": '{"build_output": ["a", "b"]}',
    "deep": '{"notes": ' + "[" * 40 + "]" * 40 + "}",
}


@pytest.mark.parametrize("artifacts", BAD_ARTIFACTS.values(), ids=BAD_ARTIFACTS.keys())
def test_hostile_artifacts_on_complete_are_a_400_before_any_check(
    held: str, executor: Actor, artifacts: str
) -> None:
    before = unchanged(held)
    body = raw_object(intent_id=f'"{held}"', executor_id='"laptop-1"', artifacts=artifacts)
    assert_400(post_raw(executor, "/assembly-line/work/complete", body))
    assert unchanged(held) == before


@pytest.mark.parametrize("artifacts", BAD_ARTIFACTS.values(), ids=BAD_ARTIFACTS.keys())
def test_hostile_artifacts_on_verify_are_a_400_and_record_no_run(
    held: str, submitter: Actor, artifacts: str
) -> None:
    body = raw_object(
        intent_id=f'"{held}"', verification_level="3", phase='"build"', artifacts=artifacts
    )
    runs = VerificationRun.objects.count()
    assert_400(post_raw(submitter, "/assembly-line/verify", body))
    assert VerificationRun.objects.count() == runs


@pytest.mark.parametrize(
    "body",
    [
        '{"title": "t\\u0000", "spec_path": "demo.md"}',
        '{"title": "t", "spec_text": "# spec\\u0000"}',
        '{"title": "t", "spec_path": "demo.md", "required_capabilities": ["py\\u0000"]}',
        '{"title": "\\ud83d", "spec_path": "demo.md"}',
        '{"title": "t", "spec_path": "demo.md", "priority": NaN}',
        '{"title": "t", "spec_path": "demo.md", "max_attempts": Infinity}',
        '{"title": "t", "spec_path": "demo.md", "extra\\u0000": 1}',
    ],
)
def test_hostile_submissions_are_a_400_and_store_nothing(submitter: Actor, body: str) -> None:
    assert_400(post_raw(submitter, "/assembly-line/intent", body))
    assert Intent.objects.count() == 0


def test_nul_in_a_udc_message_payload_is_a_400(submitter: Actor) -> None:
    assert_400(post_raw(submitter, "/message", '{"payload": {"k": "\\u0000"}}'))


@pytest.mark.parametrize(
    "path",
    [
        "/assembly-line/intents/%00",
        "/assembly-line/intents/abc%00def",
        "/assembly-line/intents/%00/cancel",
        "/assembly-line/intents/%00/approve",
        "/assembly-line/intents/%00/reject",
        "/assembly-line/intents/%00/requeue",
        "/assembly-line/intents/?created_by=%00",
        "/assembly-line/intents/?executor=a%00",
        "/assembly-line/work/next?executor_id=%00",
        "/admin/intents/intent/?q=%00",
    ],
)
def test_nul_in_the_url_is_a_json_400(admin: Actor, path: str) -> None:
    method = (
        "POST" if path.rsplit("/", 1)[-1] in ("cancel", "approve", "reject", "requeue") else "GET"
    )
    response = admin.client.generic(method, path, "{}", content_type="application/json")
    error = assert_400(response)
    assert "NUL" in error["message"]


def test_nul_in_a_header_is_a_json_400(submitter: Actor) -> None:
    body = json.dumps({"title": "t", "spec_path": "demo.md"})
    response = post_raw(submitter, "/assembly-line/intent", body, HTTP_IDEMPOTENCY_KEY="key\x00one")
    assert "NUL" in assert_400(response)["message"]
    assert Intent.objects.count() == 0


def test_wait_that_is_not_a_finite_number_is_a_400(executor: Actor) -> None:
    for wait in ("nan", "NaN", "inf", "-inf"):
        response = executor.client.get(
            "/assembly-line/work/next", {"executor_id": "laptop-1", "wait": wait}
        )
        assert_400(response)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_level_checks_fail_numbers_that_are_not_finite(value: float) -> None:
    """NaN compares false with everything, so `coverage <= 80` was False and NaN passed."""
    intent = Intent(title="t")
    coverage = TestCoverageCheck(level=3)
    for key in ("passed", "failed", "coverage"):
        result = coverage.run(intent, {"test_results": {**GOOD_TESTS, key: value}})
        assert result.passed is False, (key, value, result)
    assert coverage.run(intent, {"test_results": GOOD_TESTS}).passed
    quality = CodeQualityCheck(level=4)
    assert not quality.run(intent, {"quality": {"lint_errors": value, "type_errors": 0}}).passed
    security = SecurityScanCheck(level=5)
    assert not security.run(intent, {"security": {"high": value, "secrets": 0}}).passed


@pytest.mark.django_db(transaction=True)
def test_on_a_real_server_nul_in_the_url_or_a_header_is_a_json_400(
    postgres: None, admin: Actor
) -> None:
    """As deploy/start.sh serves it (Daphne decodes %00 in the path to NUL)."""
    import socket

    import httpx

    from tests.servers import Server

    server = Server().start()
    try:
        headers = {"Authorization": f"Bearer {admin.token}"}
        for path in (
            "/assembly-line/intents/%00",
            "/assembly-line/intents/%00/cancel",
            "/assembly-line/intents/?created_by=%00",
        ):
            method = "POST" if path.endswith("cancel") else "GET"
            response = httpx.request(method, server.url + path, headers=headers, timeout=10)
            assert response.status_code == 400, (path, response.text)
            assert "NUL" in response.json()["error"]["message"]
        # A header with NUL (httpx will not send one): written on the socket.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"GET /assembly-line/state HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: Bearer " + admin.token.encode() + b"\r\n"
                b"X-Note: a\x00b\r\nConnection: close\r\n\r\n"
            )
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.split(b"\r\n", 1)[0].split(b" ")[1] == b"400", answer[:300]
    finally:
        server.stop()
    assert "Traceback" not in server.output_all(), server.output()

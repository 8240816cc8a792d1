"""The logs of a real server process over a lifecycle: every line on its stdout is JSON;
one `state_change` line per event with its fields and the request id of the request that made
it; one `request` line per request. With DEBUG on, the lines are plain text instead."""

from __future__ import annotations

import json

import httpx
import pytest

from executors.models import Executor, Role
from executors.services import token_create
from tests.conftest import SPEC_OK
from tests.intents.test_lifecycle import phase_artifacts
from tests.servers import Server

pytestmark = pytest.mark.django_db(transaction=True)

STATE_FIELDS = {
    "event",
    "kind",
    "event_id",
    "intent_id",
    "executor_id",
    "from_status",
    "to_status",
    "from_phase",
    "to_phase",
    "actor",
    "request_id",
    "timestamp",
    "level",
    "logger",
}
REQUEST_FIELDS = {
    "event",
    "method",
    "path",
    "status",
    "duration_ms",
    "request_id",
    "timestamp",
    "level",
}


def test_every_log_line_of_a_lifecycle_is_json_with_the_fields(postgres: None) -> None:
    executor = Executor.objects.create(executor_id="logger-1", environment="local")
    worker = token_create(name="logger-1", role=Role.EXECUTOR, executor=executor)[1]
    submitter = token_create(name="log-user", role=Role.SUBMITTER)[1]
    # One executor does every phase here: no separation of duties.
    server = Server({"DEBUG": "false", "REAPER": "true", "SEPARATE_DUTIES_PHASES": "none"}).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:

            def call(method: str, path: str, token: str, request_id: str, **kw: object) -> dict:
                response = http.request(
                    method,
                    path,
                    headers={"Authorization": f"Bearer {token}", "X-Request-ID": request_id},
                    **kw,
                )
                assert response.status_code < 300, response.text
                assert response.headers["X-Request-ID"] == request_id
                return response.json()

            intent_id = call(
                "POST",
                "/assembly-line/intent",
                submitter,
                "req-submit",
                json={"title": "logged", "spec_text": SPEC_OK},
            )["intent_id"]
            for phase in ("build", "test", "production"):
                call(
                    "GET",
                    "/assembly-line/work/next",
                    worker,
                    f"req-claim-{phase}",
                    params={"executor_id": "logger-1"},
                )
                call(
                    "POST",
                    "/assembly-line/work/progress",
                    worker,
                    f"req-progress-{phase}",
                    json={
                        "intent_id": intent_id,
                        "executor_id": "logger-1",
                        "phase": phase,
                        "progress": 0.5,
                        "message": "half",
                    },
                )
                call(
                    "POST",
                    "/assembly-line/work/complete",
                    worker,
                    f"req-complete-{phase}",
                    json={
                        "intent_id": intent_id,
                        "executor_id": "logger-1",
                        "status": "completed",
                        "artifacts": phase_artifacts(phase),
                    },
                )
            missing = http.get(
                "/assembly-line/intents/int_nope", headers={"Authorization": f"Bearer {submitter}"}
            )
            assert missing.status_code == 404
    finally:
        server.stop()

    lines = [line for line in server.output_all().splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON log line: {line!r}")
    changes = [
        r for r in records if r["event"] == "state_change" and r.get("intent_id") == intent_id
    ]
    for record in changes:
        assert STATE_FIELDS <= set(record), record
    by_request = {(r["request_id"], r["kind"]) for r in changes}
    assert ("req-submit", "submitted") in by_request
    assert ("req-claim-build", "assigned") in by_request
    assert ("req-progress-test", "progress") in by_request
    assert ("req-complete-production", "completed") in by_request
    done = next(r for r in changes if r["kind"] == "advanced" and r["from_phase"] == "production")
    assert (done["to_status"], done["actor"], done["request_id"]) == (
        "completed",
        "executor:logger-1",
        "req-complete-production",
    )
    kinds = [r["kind"] for r in changes]
    assert kinds.count("assigned") == 3 and kinds.count("verified") == 4

    requests = [r for r in records if r["event"] == "request"]
    for record in requests:
        assert REQUEST_FIELDS <= set(record), record
    complete = next(r for r in requests if r["request_id"] == "req-complete-test")
    assert (complete["method"], complete["path"], complete["status"]) == (
        "POST",
        "/assembly-line/work/complete",
        200,
    )
    assert complete["duration_ms"] > 0
    assert any(
        r["path"] == "/assembly-line/intents/int_nope" and r["status"] == 404 for r in requests
    )


def test_debug_logs_are_plain_lines(postgres: None) -> None:
    server = Server({"DEBUG": "true"}).start()
    try:
        httpx.get(server.url + "/health", headers={"X-Request-ID": "plain-1"})
    finally:
        server.stop()
    line = next(line for line in server.output_all().splitlines() if "plain-1" in line)
    assert not line.startswith("{")
    assert "request" in line and "path=/health" in line

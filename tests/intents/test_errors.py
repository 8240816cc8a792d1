"""Every failure answers with the one JSON error shape and the right status; nothing changes."""

from __future__ import annotations

from typing import Any

import pytest

from intents.models import Intent, IntentEvent
from tests.conftest import Actor, claim, complete, phase_artifacts, progress, submit

pytestmark = pytest.mark.django_db


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["status"] == status
    assert error["message"]
    if code:
        assert error["code"] == code
    return error


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"priority": 0}, "priority"),
        ({"priority": 11}, "priority"),
        ({"priority": "high"}, "priority"),
        ({"environment_preference": "moon"}, "environment_preference"),
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"spec_path": ""}, "spec_path"),
    ],
)
def test_submit_rejects_invalid_bodies(submitter: Actor, body: dict[str, Any], field: str) -> None:
    payload = {
        "title": "t",
        "spec_path": "demo.md",
        "priority": 5,
        "environment_preference": "either",
        **body,
    }
    error = assert_error(
        submitter.client.post("/assembly-line/intent", payload, format="json"), 400, "invalid"
    )
    assert field in error["fields"]
    assert Intent.objects.count() == 0


def test_submit_rejects_missing_title_and_non_object_body(submitter: Actor) -> None:
    error = assert_error(
        submitter.client.post("/assembly-line/intent", {"spec_path": "demo.md"}, format="json"), 400
    )
    assert "title" in error["fields"]
    assert_error(submitter.client.post("/assembly-line/intent", [1, 2], format="json"), 400)
    assert_error(
        submitter.client.post(
            "/assembly-line/intent", "{not json", content_type="application/json"
        ),
        400,
        "parse_error",
    )
    assert Intent.objects.count() == 0


def test_progress_outside_0_1_and_unknown_phase_are_400(submitter: Actor, executor: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    assert_error(progress(executor, intent_id, "build", 1.5), 400)
    assert_error(progress(executor, intent_id, "build", -0.1), 400)
    assert_error(progress(executor, intent_id, "deploy", 0.5), 400)
    intent = Intent.objects.get(pk=intent_id)
    assert intent.status == "assigned" and intent.phase_progress == {}


def test_complete_requires_fields(executor: Actor) -> None:
    error = assert_error(
        executor.client.post(
            "/assembly-line/work/complete", {"executor_id": "laptop-1"}, format="json"
        ),
        400,
    )
    assert "intent_id" in error["fields"]
    assert_error(complete(executor, "int_x", status="done"), 400)
    assert_error(complete(executor, "int_x", artifacts="nope"), 400)  # type: ignore[arg-type]


def test_work_next_needs_executor_id(executor: Actor) -> None:
    error = assert_error(executor.client.get("/assembly-line/work/next"), 400)
    assert "executor_id" in error["fields"]


def test_unknown_intent_is_404(executor: Actor, viewer: Actor) -> None:
    assert_error(progress(executor, "int_nope", "build", 0.5), 404, "not_found")
    assert_error(complete(executor, "int_nope"), 404, "not_found")
    assert_error(viewer.client.get("/assembly-line/intents/int_nope"), 404, "not_found")


def test_unknown_executor_is_404(admin: Actor) -> None:
    assert_error(admin.client.get("/assembly-line/work/next", {"executor_id": "ghost"}), 404)
    # A long poll on an empty queue takes the cheap path, which checks too.
    assert_error(
        admin.client.get("/assembly-line/work/next", {"executor_id": "ghost", "wait": 1}), 404
    )
    assert_error(
        admin.client.post(
            "/assembly-line/work/progress",
            {
                "intent_id": "int_nope",
                "executor_id": "ghost",
                "phase": "build",
                "progress": 0.5,
            },
            format="json",
        ),
        404,
    )


def test_unknown_path_is_json_404(anonymous: Any) -> None:
    assert_error(anonymous.get("/assembly-line/nothing-here"), 404)


def test_phase_mismatch_is_409_with_current_state(submitter: Actor, executor: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    error = assert_error(progress(executor, intent_id, "test", 0.5), 409, "transition_not_allowed")
    assert error["current"] == {
        "intent_id": intent_id,
        "status": "assigned",
        "phase": "build",
        "assigned_to": "laptop-1",
        "attempts": 0,
    }
    assert_error(complete(executor, intent_id, phase_artifacts("build"), phase="test"), 409)
    intent = Intent.objects.get(pk=intent_id)
    assert (intent.status, intent.current_phase) == ("assigned", "build")
    assert not intent.artifacts


def test_completing_work_not_in_progress_is_409(submitter: Actor, executor: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    events_before = IntentEvent.objects.count()
    error = assert_error(complete(executor, intent_id, phase_artifacts("build")), 409)
    assert error["current"]["status"] == "queued"
    assert IntentEvent.objects.count() == events_before


def test_reporting_on_someone_elses_work_is_403(
    submitter: Actor, executor: Actor, outsider: Actor
) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    assert_error(progress(outsider, intent_id, "build", 0.5), 403, "forbidden")
    assert_error(complete(outsider, intent_id, phase_artifacts("build")), 403, "forbidden")
    intent = Intent.objects.get(pk=intent_id)
    assert intent.status == "assigned" and intent.assigned_to_id == "laptop-1"


def test_claiming_as_another_executor_is_403(executor: Actor, outsider: Actor) -> None:
    response = executor.client.get("/assembly-line/work/next", {"executor_id": "laptop-2"})
    assert_error(response, 403)


def test_completed_intent_cannot_be_completed_again(submitter: Actor, executor: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    assert complete(executor, intent_id, phase_artifacts("build")).status_code == 200
    assert_error(complete(executor, intent_id, phase_artifacts("build")), 409)


def test_cancel_by_submitter_and_conflict_when_final(
    submitter: Actor, executor: Actor, admin: Actor
) -> None:
    intent_id = submit(submitter)["intent_id"]
    mine = submit(executor)["intent_id"]
    # Another submitter's intent: an executor token may not cancel it.
    assert_error(executor.client.post(f"/assembly-line/intents/{intent_id}/cancel"), 403)
    response = submitter.client.post(
        f"/assembly-line/intents/{intent_id}/cancel", {"reason": "changed my mind"}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert_error(submitter.client.post(f"/assembly-line/intents/{intent_id}/cancel"), 409)
    assert admin.client.post(f"/assembly-line/intents/{mine}/cancel").status_code == 200

"""The whole life of an intent, gate failures and retries."""

from __future__ import annotations

from typing import Any

import pytest

from intents.models import Intent, IntentEvent
from tests.conftest import (
    GOOD_TESTS,
    SPEC_OK,
    Actor,
    claim,
    complete,
    phase_artifacts,
    progress,
    submit,
)
from verification.models import VerificationRun

pytestmark = pytest.mark.django_db


def test_submit_with_complete_spec_is_queued_for_build(submitter: Actor) -> None:
    body = submit(submitter)
    assert body["status"] == "queued"
    assert body["intent_id"].startswith("int_")
    assert "T" in body["estimated_start"]
    intent = Intent.objects.get(pk=body["intent_id"])
    assert intent.current_phase == "build"
    kinds = list(intent.events.values_list("kind", flat=True))
    assert kinds == ["submitted", "verified", "advanced"]


def test_submit_with_incomplete_spec_waits_in_spec_phase(submitter: Actor) -> None:
    body = submit(submitter, spec_path="", spec_text="# just a title\n")
    intent = Intent.objects.get(pk=body["intent_id"])
    assert (intent.current_phase, intent.status) == ("spec", "queued")
    run = VerificationRun.objects.get(intent=intent)
    assert not run.passed
    assert "missing sections" in run.checks["spec_complete"]["detail"]


def drive_phase(actor: Actor, phase: str, artifacts: dict[str, Any] | None = None) -> Any:
    work = claim(actor)
    assert work["assigned"] is True, work
    intent = work["intent"]
    assert intent["current_phase"] == phase
    assert intent["status"] == "assigned"
    first = progress(actor, intent["id"], phase, 0.3, f"working on {phase}")
    assert first.status_code == 200, first.content
    expected = "testing" if phase == "test" else "in_progress"
    assert first.json() == {**first.json(), "updated": True, "current_state": expected}
    assert progress(actor, intent["id"], phase, 0.9, "nearly").status_code == 200
    return complete(
        actor, intent["id"], artifacts if artifacts is not None else phase_artifacts(phase)
    )


def test_full_life_from_submit_to_completed_through_all_four_phases(
    submitter: Actor, executor: Actor
) -> None:
    body = submit(submitter, spec_path="", spec_text="# draft\n")
    intent_id = body["intent_id"]
    for phase, following in [
        ("spec", "build"),
        ("build", "test"),
        ("test", "production"),
        ("production", "completed"),
    ]:
        response = drive_phase(executor, phase)
        assert response.status_code == 200, response.content
        data = response.json()
        assert data["completed"] is True
        assert data["auto_advanced"] is True
        assert data["next_phase"] == following
    intent = Intent.objects.get(pk=intent_id)
    assert intent.status == "completed"
    assert intent.current_phase == "production"
    # Levels 1, 2 and 6 have no checker registered here, so they pass vacuously.
    assert intent.verification_level == 6
    assert intent.test_results == GOOD_TESTS
    assert intent.finished_at is not None
    assert intent.phase_progress == {"spec": 1.0, "build": 1.0, "test": 1.0, "production": 1.0}
    kinds = list(intent.events.values_list("kind", flat=True))
    assert kinds[:2] == ["submitted", "verified"]
    assert kinds.count("assigned") == 4
    assert kinds.count("advanced") == 4
    assert kinds[-1] == "advanced"
    last = intent.events.last()
    assert (last.from_status, last.to_status) == ("in_progress", "completed")
    executor_row = intent.previous_executor
    assert executor_row.builds_completed == 4
    assert executor_row.success_rate == 1.0
    assert executor_row.avg_build_time >= 0.0


def test_every_transition_writes_its_event(submitter: Actor, executor: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    drive_phase(executor, "build")
    events = IntentEvent.objects.filter(intent_id=intent_id).order_by("id")
    chain = [(e.kind, e.from_status, e.to_status) for e in events]
    assert chain[3:] == [
        ("assigned", "queued", "assigned"),
        ("progress", "assigned", "in_progress"),
        ("progress", "in_progress", "in_progress"),
        ("completed", "in_progress", "in_progress"),
        ("verified", "in_progress", "in_progress"),
        ("advanced", "in_progress", "queued"),
    ]
    assert events.last().to_phase == "test"


def test_gate_failure_requeues_with_attempts_and_then_passes(
    submitter: Actor, executor: Actor
) -> None:
    intent_id = submit(submitter)["intent_id"]
    drive_phase(executor, "build")
    bad = {**phase_artifacts("test"), "test_results": {**GOOD_TESTS, "failed": 2}}
    response = drive_phase(executor, "test", bad)
    assert response.status_code == 200
    data = response.json()
    assert data["auto_advanced"] is False
    assert data["next_phase"] == "test"
    assert data["status"] == "queued"
    assert data["attempts"] == 1
    assert data["gate"]["checks"]["test_coverage"] == {
        "passed": False,
        "detail": "2 test(s) failed",
        "level": 3,
        "blocking": True,
    }
    requeued = IntentEvent.objects.filter(intent_id=intent_id, kind="requeued").get()
    assert requeued.payload["reason"] == {"test_coverage": "2 test(s) failed"}
    # The retry passes.
    response = drive_phase(executor, "test")
    assert response.json()["next_phase"] == "production"
    assert Intent.objects.get(pk=intent_id).attempts == 0


def test_gate_failure_at_max_attempts_fails_the_intent(submitter: Actor, executor: Actor) -> None:
    intent_id = submit(submitter, max_attempts=2)["intent_id"]
    drive_phase(executor, "build")
    bad = {**phase_artifacts("test"), "test_results": {**GOOD_TESTS, "coverage": 50}}
    assert drive_phase(executor, "test", bad).json()["status"] == "queued"
    data = drive_phase(executor, "test", bad).json()
    assert data["status"] == "failed"
    intent = Intent.objects.get(pk=intent_id)
    assert intent.status == "failed" and intent.attempts == 2
    assert intent.events.last().kind == "failed"
    assert intent.assigned_to is None
    assert claim(executor) == {
        "assigned": False,
        "reason": "no queued intent matches this executor",
    }


def test_executor_may_report_a_failed_phase(submitter: Actor, executor: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    work = claim(executor)
    response = complete(executor, intent_id, {"build_output": "compile error"}, status="failed")
    assert response.status_code == 200
    assert response.json()["auto_advanced"] is False
    intent = Intent.objects.get(pk=work["intent"]["id"])
    assert (intent.status, intent.attempts) == ("queued", 1)
    assert intent.build_output == "compile error"
    assert intent.previous_executor is None
    executor_row = intent.events.filter(kind="requeued").get()
    assert executor_row.payload["reason"] == {"executor": "the executor reported the phase failed"}


def test_complete_without_progress_is_accepted(submitter: Actor, executor: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    response = complete(executor, intent_id, phase_artifacts("build"))
    assert response.json()["next_phase"] == "test"


def test_artifacts_merge_phase_by_phase(submitter: Actor, executor: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    drive_phase(executor, "build", {**phase_artifacts("build"), "custom": {"a": 1}})
    drive_phase(executor, "test")
    intent = Intent.objects.get(pk=intent_id)
    assert intent.artifacts["custom"] == {"a": 1}
    assert intent.artifacts["test_results"] == GOOD_TESTS
    assert intent.deployment_url == "http://127.0.0.1:9/"
    work = claim(executor)
    assert work["intent"]["artifacts"]["commit"] == "abc123"


def test_spec_phase_reads_spec_text_handed_in(submitter: Actor, executor: Actor) -> None:
    intent_id = submit(submitter, spec_path="missing.md")["intent_id"]
    assert Intent.objects.get(pk=intent_id).current_phase == "spec"
    response = drive_phase(executor, "spec", {"spec_text": SPEC_OK})
    assert response.json()["next_phase"] == "build"

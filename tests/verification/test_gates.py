"""Every phase gate with all six levels on (live checks included, against a real HTTP
server): one intent whose every gate first fails, visibly in /verify and in the events, and
then passes, ending completed at level 6. `transaction=True`: the live checks refuse to run
inside a transaction, as they would in a request holding locks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings

import assemblyline.settings as base_settings
from intents.models import Intent, IntentEvent
from tests.conftest import (
    GOOD_QUALITY,
    GOOD_SECURITY,
    GOOD_TESTS,
    SPEC_OK,
    Actor,
    claim,
    complete,
    submit,
)
from tests.verification.fakeservice import FakeService
from verification.models import VerificationRun

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def service(settings: Any) -> Iterator[FakeService]:
    settings.ASSEMBLY_LINE_VERIFIERS = base_settings.ASSEMBLY_LINE_VERIFIERS
    assert any("live" in str(v["NAME"]) for v in django_settings.ASSEMBLY_LINE_VERIFIERS)
    with FakeService() as svc:
        yield svc


def verify(actor: Actor, intent_id: str, level: int, phase: str) -> dict[str, Any]:
    response = actor.client.post(
        "/assembly-line/verify",
        {"intent_id": intent_id, "verification_level": level, "phase": phase},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()


def last_gate(intent_id: str) -> dict[str, Any]:
    event = IntentEvent.objects.filter(intent_id=intent_id, kind="verified").latest("id")
    return event.payload


def take(actor: Actor, intent_id: str, phase: str) -> None:
    work = claim(actor)
    assert work["assigned"] and work["intent"]["id"] == intent_id, work
    assert work["intent"]["current_phase"] == phase


def hand_in(actor: Actor, intent_id: str, artifacts: dict[str, Any]) -> dict[str, Any]:
    response = complete(actor, intent_id, artifacts)
    assert response.status_code == 200, response.content
    return response.json()


def test_each_gate_fails_then_passes_through_all_four_phases(
    service: FakeService, submitter: Actor, executor: Actor
) -> None:
    spec_missing = SPEC_OK.replace("## Dependencies\nNone\n", "")
    intent_id = submit(submitter, spec_path="", spec_text=spec_missing)["intent_id"]

    # SPEC: the gate fails on the missing section; /verify says so; then a full spec passes.
    assert last_gate(intent_id)["passed"] is False
    take(executor, intent_id, "spec")
    answer = verify(executor, intent_id, 1, "spec")
    assert answer["can_advance"] is False
    assert "missing sections: Dependencies" in answer["checks"]["spec_complete"]["detail"]
    assert hand_in(executor, intent_id, {"spec_text": spec_missing})["auto_advanced"] is False
    assert "missing sections: Dependencies" in str(last_gate(intent_id)["checks"])
    take(executor, intent_id, "spec")
    answer = hand_in(executor, intent_id, {"spec_text": SPEC_OK})
    assert answer == {**answer, "completed": True, "auto_advanced": True, "next_phase": "build"}

    # BUILD (levels 1-2): the built service's /health answers 500, then it is fixed.
    service.mode = "health_500"
    take(executor, intent_id, "build")
    build = {"build_output": "ok", "commit": "abc", "deployment_url": service.url}
    answer = verify(executor, intent_id, 2, "build")  # before handing in: no URL yet
    assert answer["checks"]["live_health"]["detail"].startswith("no deployment_url")
    assert hand_in(executor, intent_id, build)["auto_advanced"] is False
    failed = last_gate(intent_id)
    assert failed["checks"]["live_health"]["detail"] == "GET /health: status 500"
    take(executor, intent_id, "build")  # /verify is the holder's (or submitter's, admin's)
    answer = verify(executor, intent_id, 2, "build")
    assert (answer["passed"], answer["can_advance"]) == (False, False)
    assert answer["checks"]["udc_compliance"]["passed"] is False
    service.mode = "good"
    answer = verify(executor, intent_id, 2, "build")
    assert (answer["passed"], answer["can_advance"]) == (True, True)
    assert all(c["passed"] for c in answer["checks"].values()), answer
    assert hand_in(executor, intent_id, build)["next_phase"] == "test"
    assert Intent.objects.get(pk=intent_id).verification_level == 2

    # TEST (levels 3-5, 4 warns): coverage too low, then good reports.
    take(executor, intent_id, "test")
    low = {**GOOD_TESTS, "coverage": 75.0}
    reports = {
        "test_results": low,
        "quality": {**GOOD_QUALITY, "lint_errors": 3},
        "security": GOOD_SECURITY,
    }
    assert hand_in(executor, intent_id, reports)["auto_advanced"] is False
    checks = last_gate(intent_id)["checks"]
    assert "not above 80%" in checks["test_coverage"]["detail"]
    assert checks["code_quality"] == {**checks["code_quality"], "passed": False, "blocking": False}
    take(executor, intent_id, "test")
    answer = verify(executor, intent_id, 5, "test")
    assert answer["can_advance"] is False and answer["verified_level"] == 2
    reports["test_results"] = GOOD_TESTS
    assert hand_in(executor, intent_id, reports)["next_phase"] == "production"
    intent = Intent.objects.get(pk=intent_id)
    assert intent.verification_level == 5  # level 4 warned but did not block
    assert intent.quality_score is not None and intent.quality_score < 1

    # PRODUCTION (level 6): no rollback plan, then one.
    take(executor, intent_id, "production")
    files = {"files": ["README.md", "SPEC.md", "docs/api.md", "Dockerfile"]}
    assert hand_in(executor, intent_id, files)["auto_advanced"] is False
    assert "no rollback_plan" in last_gate(intent_id)["checks"]["production_artifacts"]["detail"]
    take(executor, intent_id, "production")
    answer = verify(executor, intent_id, 6, "production")
    assert answer["can_advance"] is False
    done = hand_in(executor, intent_id, {**files, "rollback_plan": "redeploy v1"})
    assert done == {**done, "completed": True, "auto_advanced": True, "next_phase": "completed"}

    intent = Intent.objects.get(pk=intent_id)
    assert intent.status == "completed"
    assert intent.verification_level == 6
    gates = VerificationRun.objects.filter(intent_id=intent_id, gate=True)
    assert [(r.phase, r.passed) for r in gates.order_by("id")] == [
        ("spec", False),
        ("spec", False),
        ("spec", True),
        ("build", False),
        ("build", True),
        ("test", False),
        ("test", True),
        ("production", False),
        ("production", True),
    ]
    assert VerificationRun.objects.filter(intent_id=intent_id, gate=False).count() == 6
    kinds = list(
        IntentEvent.objects.filter(intent_id=intent_id, kind="requeued").values_list(
            "payload", flat=True
        )
    )
    assert len(kinds) == 4 and all(k["why"] == "gate_failed" for k in kinds)


def test_verify_never_moves_the_intent(
    service: FakeService, submitter: Actor, executor: Actor
) -> None:
    intent_id = submit(submitter)["intent_id"]
    take(executor, intent_id, "build")
    before = Intent.objects.filter(pk=intent_id).values().get()
    answer = verify(executor, intent_id, 6, "build")
    assert set(answer) >= {"passed", "level", "checks", "can_advance"}
    assert answer["level"] == 6
    assert Intent.objects.filter(pk=intent_id).values().get() == before


def test_verify_errors(submitter: Actor, viewer: Actor, executor: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    bad = executor.client.post(
        "/assembly-line/verify",
        {"intent_id": intent_id, "verification_level": 7, "phase": "build"},
        format="json",
    )
    assert bad.status_code == 400 and "verification_level" in bad.json()["error"]["fields"]
    missing = executor.client.post(
        "/assembly-line/verify",
        {"intent_id": "int_nope", "verification_level": 1, "phase": "build"},
        format="json",
    )
    assert missing.status_code == 404
    denied = viewer.client.post(
        "/assembly-line/verify",
        {"intent_id": intent_id, "verification_level": 1, "phase": "build"},
        format="json",
    )
    assert denied.status_code == 403

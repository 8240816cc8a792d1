"""The rules that make the line fit AI executors: handoff, stall detection, separation of
duties, retry elsewhere, spillover, fair share, the review inbox and queue-wait figures.

They run on the real PostgreSQL in CI (and on SQLite on a laptop)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from executors.models import ApiToken, Role
from executors.services import token_create
from intents.models import EventKind, Intent, IntentEvent
from intents.services import sweeps
from tests.conftest import (
    Actor,
    _client,
    claim,
    complete,
    make_executor,
    phase_artifacts,
    progress,
    submit,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def duties(settings: Any) -> None:
    settings.SEPARATE_DUTIES_PHASES = ["test", "production"]


def heartbeat(actor: Actor) -> None:
    response = actor.client.post(
        "/assembly-line/executors/heartbeat", {"executor_id": actor.executor_id}, format="json"
    )
    assert response.status_code == 200, response.content


def make_submitter(name: str) -> Actor:
    _, token = token_create(name=name, role=Role.SUBMITTER)
    return Actor(_client(token), token, name)


def to_test(builder: Actor, submitter: Actor) -> str:
    """An intent built by `builder`, now queued in the test phase."""
    intent_id = submit(submitter)["intent_id"]
    assert claim(builder)["intent"]["id"] == intent_id
    assert complete(builder, intent_id, phase_artifacts("build")).status_code == 200
    assert Intent.objects.get(pk=intent_id).current_phase == "test"
    return intent_id


# --- handoff ---------------------------------------------------------------------------


def test_first_claim_handoff_is_a_fresh_start(submitter: Actor, executor: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    answer = claim(executor)
    assert answer["intent"]["id"] == intent_id
    handoff = answer["handoff"]
    assert handoff["phase"] == "build" and handoff["attempt"] == 1
    assert handoff["resumed"] is False and handoff["returned"] is None
    assert handoff["recent_progress"] == []


def test_handoff_after_a_failed_gate_carries_checks_artifacts_and_messages(
    submitter: Actor, executor: Actor, outsider: Actor
) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    progress(executor, intent_id, "build", 0.3, "scaffolded the app")
    progress(executor, intent_id, "build", 0.7, "wrote the handlers")
    # Built, but the test phase's evidence is missing: hand in a failing test gate later.
    complete(executor, intent_id, phase_artifacts("build"))
    heartbeat(outsider)
    claimed = claim(executor)
    assert claimed["intent"]["id"] == intent_id and claimed["intent"]["current_phase"] == "test"
    progress(executor, intent_id, "test", 0.5, "ran the suite: 3 failures")
    bad = {"test_results": {"passed": 10, "failed": 3, "skipped": 0, "coverage": 60.0}}
    assert complete(executor, intent_id, bad).json()["auto_advanced"] is False

    handoff = claim(outsider)["handoff"]
    assert handoff["phase"] == "test" and handoff["attempt"] == 2 and handoff["resumed"] is True
    assert handoff["returned"]["why"] == "gate_failed"
    assert handoff["returned"]["failed_by"] == "laptop-1"
    assert "coverage" in str(handoff["returned"]["reason"]).lower()
    assert handoff["artifacts"]["commit"] == "abc123"
    assert handoff["artifacts"]["test_results"]["failed"] == 3
    messages = [p["message"] for p in handoff["recent_progress"]]
    assert messages == ["scaffolded the app", "wrote the handlers", "ran the suite: 3 failures"]
    assert handoff["recent_progress"][-1]["executor_id"] == "laptop-1"
    assert handoff["built_by"] == "laptop-1"


def test_handoff_after_a_review_rejection_carries_the_reviewers_reason(
    submitter: Actor, executor: Actor, admin: Actor
) -> None:
    intent_id = submit(submitter, requires_human_review=True)["intent_id"]
    for phase in ("build", "test"):
        claim(executor)
        complete(executor, intent_id, phase_artifacts(phase))
    assert Intent.objects.get(pk=intent_id).status == "awaiting_review"
    response = admin.client.post(
        f"/assembly-line/intents/{intent_id}/reject", {"reason": "no load test"}, format="json"
    )
    assert response.status_code == 200, response.content
    handoff = claim(executor)["handoff"]
    assert handoff["returned"]["why"] == "review_rejected"
    assert handoff["returned"]["reason"] == {"review": "no load test"}
    # `by` is the reviewer's identity (names are labels: two tokens may share one).
    root = ApiToken.objects.get(name="root")
    assert handoff["returned"]["by"] == f"token:{root.pk}"


def test_handoff_after_a_stall_requeue(submitter: Actor, executor: Actor, outsider: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    progress(executor, intent_id, "build", 0.4, "thinking")
    sweeps.stall_sweep(now=timezone.now() + timedelta(hours=1))
    heartbeat(outsider)
    handoff = claim(outsider)["handoff"]
    assert handoff["returned"]["why"] == "stalled"
    assert handoff["returned"]["reason"]["message"] == "thinking"
    assert handoff["recent_progress"][-1]["message"] == "thinking"


# --- stall detection ---------------------------------------------------------------------


def test_heartbeating_executor_with_frozen_progress_is_flagged_then_requeued(
    settings: Any, submitter: Actor, executor: Actor, outsider: Actor, viewer: Actor
) -> None:
    settings.STALL_AFTER_SECONDS = 600
    settings.STALL_REQUEUE_AFTER_SECONDS = 1800
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    progress(executor, intent_id, "build", 0.2, "reading the spec")
    started = Intent.objects.get(pk=intent_id).last_progress_at
    # Alive and repeating itself: heartbeats and an unchanged report do not count as progress.
    heartbeat(executor)
    assert progress(executor, intent_id, "build", 0.2, "reading the spec").status_code == 200
    assert Intent.objects.get(pk=intent_id).last_progress_at == started

    assert sweeps.stall_sweep(now=started + timedelta(seconds=599)).stalled == []
    flagged = sweeps.stall_sweep(now=started + timedelta(seconds=601))
    assert flagged.stalled == [intent_id] and flagged.requeued == []
    intent = Intent.objects.get(pk=intent_id)
    assert intent.stalled_at is not None and intent.status == "in_progress"
    event = IntentEvent.objects.filter(intent_id=intent_id, kind=EventKind.STALLED).get()
    assert event.executor_id == "laptop-1"
    assert event.payload["seconds_without_progress"] == pytest.approx(601, abs=1)
    # Flagged once only.
    assert sweeps.stall_sweep(now=started + timedelta(seconds=900)).stalled == []
    stalled = viewer.client.get("/assembly-line/state").json()["stalled"]
    assert [s["intent_id"] for s in stalled] == [intent_id]

    requeued = sweeps.stall_sweep(now=started + timedelta(seconds=1801))
    assert requeued.requeued == [intent_id]
    intent = Intent.objects.get(pk=intent_id)
    assert intent.status == "queued" and intent.attempts == 1
    assert intent.avoid_executor_id == "laptop-1" and intent.stalled_at is None
    # Another executor takes it; the stalled one gets something else or nothing.
    heartbeat(outsider)
    assert claim(executor)["assigned"] is False
    assert claim(outsider)["intent"]["id"] == intent_id


def test_a_changed_report_clears_the_stall(submitter: Actor, executor: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    progress(executor, intent_id, "build", 0.2, "stuck?")
    sweeps.stall_sweep(now=timezone.now() + timedelta(seconds=700))
    assert Intent.objects.get(pk=intent_id).stalled_at is not None
    progress(executor, intent_id, "build", 0.3, "unstuck")
    intent = Intent.objects.get(pk=intent_id)
    assert intent.stalled_at is None
    last = IntentEvent.objects.filter(intent_id=intent_id, kind=EventKind.PROGRESS).last()
    assert last is not None and last.payload["unstalled"] is True


# --- separation of duties ------------------------------------------------------------


def test_builder_never_gets_its_own_test_phase_while_another_can(
    duties: None, submitter: Actor, executor: Actor, outsider: Actor, viewer: Actor
) -> None:
    intent_id = to_test(executor, submitter)
    answer = claim(executor)
    assert answer["assigned"] is False
    assert "separation of duties" in answer["reason"]
    # Only the builder is online: the intent waits, with the reason in /state.
    waiting = viewer.client.get("/assembly-line/state").json()["waiting"]
    assert [w["intent_id"] for w in waiting] == [intent_id]
    assert "separation of duties" in waiting[0]["reason"] and "laptop-1" in waiting[0]["reason"]
    # Another executor comes: it takes the test phase, then production goes to it too.
    tested = claim(outsider)
    assert tested["intent"]["id"] == intent_id
    assert complete(outsider, intent_id, phase_artifacts("test")).status_code == 200
    assert claim(executor)["assigned"] is False
    assert claim(outsider)["intent"]["current_phase"] == "production"
    assert viewer.client.get("/assembly-line/state").json()["waiting"] == []


def test_separation_of_duties_can_be_switched_off(
    settings: Any, submitter: Actor, executor: Actor
) -> None:
    settings.SEPARATE_DUTIES_PHASES = []
    intent_id = to_test(executor, submitter)
    assert claim(executor)["intent"]["id"] == intent_id


def test_a_submitter_cannot_review_their_own_intent(
    settings: Any, executor: Actor, admin: Actor
) -> None:
    intent_id = submit(admin, requires_human_review=True)["intent_id"]
    for phase in ("build", "test"):
        claim(executor)
        complete(executor, intent_id, phase_artifacts(phase))
    for action, body in (("approve", {}), ("reject", {"reason": "mine"})):
        response = admin.client.post(
            f"/assembly-line/intents/{intent_id}/{action}", body, format="json"
        )
        assert response.status_code == 403, response.content
        assert "submitted" in response.json()["error"]["message"]
    assert Intent.objects.get(pk=intent_id).status == "awaiting_review"
    settings.REVIEWER_NOT_SUBMITTER = False
    approved = admin.client.post(f"/assembly-line/intents/{intent_id}/approve", {}, format="json")
    assert approved.status_code == 200


# --- retry on a different executor -----------------------------------------------------


def test_retry_goes_to_another_executor_when_one_is_available(
    submitter: Actor, executor: Actor, outsider: Actor
) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    complete(executor, intent_id, status="failed")
    heartbeat(outsider)
    assert claim(executor)["assigned"] is False
    assert claim(outsider)["intent"]["id"] == intent_id


def test_retry_comes_back_to_the_same_executor_when_nobody_else_can_take_it(
    submitter: Actor, executor: Actor, outsider: Actor
) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    complete(executor, intent_id, status="failed")
    # The other executor exists but is offline (no heartbeat): the failed one retries.
    assert claim(executor)["intent"]["id"] == intent_id


def test_retry_comes_back_when_the_other_executor_is_busy(
    submitter: Actor, executor: Actor
) -> None:
    failed = submit(submitter)["intent_id"]
    assert claim(executor)["intent"]["id"] == failed
    other = make_executor("laptop-3", "local", max_concurrent=1)
    busy_with = submit(submitter)["intent_id"]
    assert claim(other)["intent"]["id"] == busy_with
    complete(executor, failed, status="failed")
    assert claim(executor)["intent"]["id"] == failed


# --- spillover ----------------------------------------------------------------------------


def test_spillover_after_the_wait_and_not_before(
    settings: Any, submitter: Actor, executor: Actor, viewer: Actor
) -> None:
    settings.PHASE_ROUTING = {"build": "server"}
    settings.SPILLOVER_SECONDS = 120
    intent_id = submit(submitter)["intent_id"]
    assert claim(executor)["assigned"] is False
    waiting = viewer.client.get("/assembly-line/state").json()["waiting"]
    assert "first-choice environment server" in waiting[0]["reason"]
    Intent.objects.filter(pk=intent_id).update(queued_at=timezone.now() - timedelta(seconds=110))
    assert claim(executor)["assigned"] is False
    Intent.objects.filter(pk=intent_id).update(queued_at=timezone.now() - timedelta(seconds=121))
    answer = claim(executor)
    assert answer["intent"]["id"] == intent_id and answer["intent"]["spilled"] is True
    event = IntentEvent.objects.filter(intent_id=intent_id, kind=EventKind.ASSIGNED).get()
    assert event.payload["spilled"] is True and event.payload["environment"] == "local"


def test_first_choice_environment_is_served_at_once(
    settings: Any, submitter: Actor, server_executor: Actor
) -> None:
    settings.PHASE_ROUTING = {"build": "server"}
    intent_id = submit(submitter)["intent_id"]
    answer = claim(server_executor)
    assert answer["intent"]["id"] == intent_id and answer["intent"]["spilled"] is False


def test_explicit_preference_never_spills(settings: Any, submitter: Actor, executor: Actor) -> None:
    settings.SPILLOVER_SECONDS = 0
    submit(submitter, environment_preference="server")
    assert claim(executor)["assigned"] is False


# --- fair share ---------------------------------------------------------------------------


def test_two_submitters_both_served_within_the_first_ten_claims(executor: Actor) -> None:
    busy, quiet = make_submitter("busy"), make_submitter("quiet")
    for _ in range(50):
        submit(busy, priority=5)
    for _ in range(5):
        submit(quiet, priority=5)
    worker = make_executor("many", "local", max_concurrent=100)
    owners = [
        Intent.objects.get(pk=claim(worker)["intent"]["id"]).created_by_label for _ in range(10)
    ]
    assert "busy" in owners and "quiet" in owners
    # Round-robin: they alternate while both have work queued.
    assert owners == ["busy", "quiet"] * 5


def test_fair_share_stays_inside_priority_order(settings: Any, executor: Actor) -> None:
    busy, quiet = make_submitter("busy"), make_submitter("quiet")
    for _ in range(3):
        submit(busy, priority=9)
    submit(quiet, priority=2)
    worker = make_executor("many", "local", max_concurrent=100)
    owners = [
        Intent.objects.get(pk=claim(worker)["intent"]["id"]).created_by_label for _ in range(4)
    ]
    assert owners == ["busy", "busy", "busy", "quiet"]


# --- review inbox and queue wait ------------------------------------------------------------


def test_review_inbox_with_sla_and_overdue_event(
    settings: Any, submitter: Actor, executor: Actor, viewer: Actor
) -> None:
    settings.REVIEW_SLA_SECONDS = 3600
    intent_id = submit(submitter, requires_human_review=True)["intent_id"]
    for phase in ("build", "test"):
        claim(executor)
        complete(executor, intent_id, phase_artifacts(phase))
    inbox = viewer.client.get("/assembly-line/state").json()["review_inbox"]
    assert [i["intent_id"] for i in inbox] == [intent_id]
    entry = inbox[0]
    assert entry["overdue"] is False and entry["sla_seconds"] == 3600
    assert 3500 < entry["sla_remaining_seconds"] <= 3600
    assert entry["admin_url"] == f"/admin/intents/intent/{intent_id}/change/"
    assert entry["last_checks"] and all(c["passed"] for c in entry["last_checks"].values())
    assert "test_results" in entry["artifacts"]

    requested = Intent.objects.get(pk=intent_id).review_requested_at
    assert sweeps.review_sla_sweep(now=requested + timedelta(seconds=3599)).overdue == []
    assert sweeps.review_sla_sweep(now=requested + timedelta(seconds=3601)).overdue == [intent_id]
    assert sweeps.review_sla_sweep(now=requested + timedelta(seconds=7200)).overdue == []
    event = IntentEvent.objects.get(intent_id=intent_id, kind=EventKind.REVIEW_OVERDUE)
    assert event.payload["sla_seconds"] == 3600
    Intent.objects.filter(pk=intent_id).update(
        review_requested_at=timezone.now() - timedelta(seconds=3601)
    )
    entry = viewer.client.get("/assembly-line/state").json()["review_inbox"][0]
    assert entry["overdue"] is True and entry["sla_remaining_seconds"] < 0


def test_queue_wait_figures(submitter: Actor, executor: Actor, viewer: Actor) -> None:
    first = submit(submitter)["intent_id"]
    second = submit(submitter)["intent_id"]
    Intent.objects.filter(pk=first).update(queued_at=timezone.now() - timedelta(seconds=100))
    Intent.objects.filter(pk=second).update(queued_at=timezone.now() - timedelta(seconds=10))
    oldest = viewer.client.get("/assembly-line/state").json()["metrics"]["queue_wait"]["oldest"]
    assert oldest["intent_id"] == first and oldest["waiting_seconds"] >= 100
    worker = make_executor("many", "local", max_concurrent=5)
    claim(worker)
    claim(worker)
    wait = viewer.client.get("/assembly-line/state").json()["metrics"]["queue_wait"]
    assert wait["claims"] == 2 and wait["oldest"] is None
    assert 9 <= wait["p50_seconds"] <= 11 and 99 <= wait["p95_seconds"] <= 102
    assert wait["by_phase"]["build"]["claims"] == 2
    assert wait["by_environment"]["local"]["claims"] == 2

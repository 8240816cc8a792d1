"""GET /health, /assembly-line/state, the intent list and detail, heartbeats."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from intents.models import EventKind, Intent, IntentEvent, Status
from intents.selectors import event_data
from tests.conftest import Actor, claim, complete, phase_artifacts, progress, submit

pytestmark = pytest.mark.django_db


def test_health_is_open_and_has_the_spec_shape(anonymous: Any) -> None:
    body = anonymous.get("/health").json()
    assert body["status"] == "ok"
    assert body["service"] == "unified-assembly-line"
    assert body["version"] == "1.0.0"
    assert "T" in body["timestamp"]


def test_state_counts_queue_work_and_executors(
    submitter: Actor, executor: Actor, outsider: Actor, viewer: Actor
) -> None:
    ids = [submit(submitter)["intent_id"] for _ in range(3)]
    claim(executor)
    progress(executor, ids[0], "build", 0.5, "compiling")
    state = viewer.client.get("/assembly-line/state").json()
    assert state["queue_depth"] == 2
    assert state["in_progress"] == 1
    laptop = state["executors"]["laptop-1"]
    assert laptop["status"] == "busy"
    assert laptop["current_work"] == ids[0]
    assert set(laptop) >= {
        "executor_id",
        "executor_type",
        "environment",
        "status",
        "current_work",
        "capabilities",
        "availability",
        "builds_completed",
        "avg_build_time",
        "success_rate",
        "last_heartbeat",
        "is_healthy",
    }
    assert state["executors"]["laptop-2"]["status"] == "offline"  # never heard from
    metrics = state["metrics"]
    assert metrics["by_phase"]["build"] == {"queued": 2, "in_progress": 1}
    assert metrics["completed_today"] == 0


def test_state_metrics_after_completions(submitter: Actor, executor: Actor, viewer: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    complete(executor, intent_id, phase_artifacts("build"))
    state = viewer.client.get("/assembly-line/state").json()
    assert state["metrics"]["by_phase"]["test"] == {"queued": 1}
    assert "build" in state["metrics"]["avg_phase_seconds"]
    assert state["executors"]["laptop-1"]["builds_completed"] == 1
    assert state["executors"]["laptop-1"]["status"] == "idle"


def test_state_is_aggregate_queries(
    submitter: Actor, executor: Actor, viewer: Actor, django_assert_max_num_queries: Any
) -> None:
    for _ in range(20):
        submit(submitter)
    # auth, open counts, queue by priority, finished today with the last hour's throughput,
    # phase times, oldest queued (once, for the metrics and the queue wait), executors and
    # their work, queue wait, work in progress, recent events (with their titles), waiting
    # (head of queue), stalled, review inbox: a fixed number, whatever the number of intents.
    with django_assert_max_num_queries(15):
        viewer.client.get("/assembly-line/state")


def test_state_recent_events_read_as_columns_match_the_event_shape(
    submitter: Actor, executor: Actor, viewer: Actor
) -> None:
    """/state reads its recent events as columns, not models: the same answer as the event
    shape the API and the WebSocket send, including an event without an intent."""
    ids = [submit(submitter, title=f"t{n}")["intent_id"] for n in range(3)]
    claim(executor)
    progress(executor, ids[0], "build", 0.5, "half")
    IntentEvent.objects.create(actor="admin", kind=EventKind.EXECUTOR_REGISTERED)
    events = IntentEvent.objects.select_related("intent").order_by("-created_at", "-id")[:30]
    expected = [event_data(event) for event in events]
    assert any(e["intent_id"] is None for e in expected)
    assert {e["intent_title"] for e in expected} >= {"t0", "t1", "t2", None}
    assert viewer.client.get("/assembly-line/state").json()["recent_events"] == json.loads(
        json.dumps(expected)
    )


def test_state_throughput_counts_completions_of_the_last_hour_only(
    submitter: Actor, executor: Actor, viewer: Actor
) -> None:
    """Finished today and completed in the last hour are read in one query: each keeps its
    own window."""
    done, old, failed = (submit(submitter)["intent_id"] for _ in range(3))
    now = timezone.now()
    Intent.objects.filter(pk=done).update(status=Status.COMPLETED, finished_at=now)
    Intent.objects.filter(pk=old).update(
        status=Status.COMPLETED, finished_at=now - timedelta(hours=2)
    )
    Intent.objects.filter(pk=failed).update(status=Status.FAILED, finished_at=now)
    metrics = viewer.client.get("/assembly-line/state").json()["metrics"]
    assert metrics["throughput_last_hour"] == 1
    today = (
        2
        if now - timedelta(hours=2) >= now.replace(hour=0, minute=0, second=0, microsecond=0)
        else 1
    )
    assert metrics["completed_today"] == today and metrics["failed_today"] == 1


def test_intent_list_filters(submitter: Actor, executor: Actor, viewer: Actor) -> None:
    a = submit(submitter)["intent_id"]
    b = submit(submitter, spec_path="", spec_text="# nothing")["intent_id"]
    claim(executor)
    page = viewer.client.get("/assembly-line/intents/").json()
    assert page["count"] == 2 and {i["id"] for i in page["results"]} == {a, b}
    assert [
        i["id"]
        for i in viewer.client.get("/assembly-line/intents/", {"phase": "spec"}).json()["results"]
    ] == [b]
    assert [
        i["id"]
        for i in viewer.client.get("/assembly-line/intents/", {"status": "assigned"}).json()[
            "results"
        ]
    ] == [a]
    assert [
        i["id"]
        for i in viewer.client.get("/assembly-line/intents/", {"executor": "laptop-1"}).json()[
            "results"
        ]
    ] == [a]
    assert viewer.client.get("/assembly-line/intents/", {"status": "bogus"}).status_code == 400
    assert viewer.client.get("/assembly-line/intents/", {"limit": 1}).json()["next"]


def test_intent_detail_has_events(submitter: Actor, executor: Actor, viewer: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    body = viewer.client.get(f"/assembly-line/intents/{intent_id}").json()
    assert body["id"] == intent_id and body["status"] == "assigned"
    assert [e["kind"] for e in body["events"]] == ["submitted", "verified", "advanced", "assigned"]
    assert body["events"][-1]["executor_id"] == "laptop-1"


def test_heartbeat_brings_executor_online_and_extends_lease(
    submitter: Actor, executor: Actor
) -> None:
    intent_id = submit(submitter)["intent_id"]
    work = claim(executor)
    response = executor.client.post(
        "/assembly-line/executors/heartbeat", {"executor_id": "laptop-1"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "busy" and body["current_work"] == intent_id
    from intents.models import Intent

    assert Intent.objects.get(pk=intent_id).lease_expires_at.isoformat() >= work["intent"][
        "lease_expires_at"
    ].replace("Z", "+00:00")


def test_executor_updates_its_registration(executor: Actor) -> None:
    # What describes it; its routing is an admin's (tests/security/test_executor_register.py).
    response = executor.client.post(
        "/assembly-line/executors/register",
        {"executor_id": "laptop-1", "executor_type": "server_ai", "availability": "always"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["executor_type"] == "server_ai"
    assert "token" not in response.json()

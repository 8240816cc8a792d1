"""Leases, the reaper, lost executors, admin requeue, late reports (real PostgreSQL in CI)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from executors.live import WRITTEN_PREFIX, live
from executors.models import Executor
from intents import reaper
from intents.models import EventKind, Intent, IntentEvent
from tests.conftest import (
    Actor,
    claim,
    complete,
    make_executor,
    need,
    phase_artifacts,
    progress,
    submit,
)

pytestmark = pytest.mark.django_db


def heartbeat(actor: Actor) -> Any:
    return actor.client.post(
        "/assembly-line/executors/heartbeat", {"executor_id": actor.executor_id}, format="json"
    )


def test_silent_executor_loses_its_work_to_another_and_its_late_report_is_409(
    settings: Any, submitter: Actor, executor: Actor, outsider: Actor, viewer: Actor
) -> None:
    settings.LEASE_SECONDS = 60
    intent_id = submit(submitter)["intent_id"]
    assert claim(executor)["intent"]["id"] == intent_id
    progress(executor, intent_id, "build", 0.4, "halfway")
    lease = Intent.objects.get(pk=intent_id).lease_expires_at
    # Within the lease nothing happens.
    assert reaper.reap(now=lease - timedelta(seconds=1)).requeued == []
    # The executor went silent: one reaper pass after the lease puts the work back.
    result = reaper.reap(now=lease + timedelta(seconds=1))
    assert result.requeued == [intent_id]
    intent = Intent.objects.get(pk=intent_id)
    assert intent.status == "queued" and intent.attempts == 1 and intent.assigned_to is None
    event = IntentEvent.objects.filter(intent_id=intent_id, kind=EventKind.REQUEUED).get()
    assert event.payload["why"] == "lease_expired" and event.payload["reason"]["executor"] == (
        "laptop-1"
    )
    offline = IntentEvent.objects.get(kind=EventKind.EXECUTOR_OFFLINE, executor_id="laptop-1")
    assert "lease" in offline.payload["reason"]
    assert (
        viewer.client.get("/assembly-line/state").json()["executors"]["laptop-1"]["status"]
        == "offline"
    )

    heartbeat(outsider)
    taken = claim(outsider)
    assert taken["intent"]["id"] == intent_id
    assert taken["handoff"]["returned"]["why"] == "lease_expired"
    assert complete(outsider, intent_id, phase_artifacts("build")).status_code == 200

    late = complete(executor, intent_id, phase_artifacts("build"))
    assert late.status_code == 409
    body = late.json()["error"]
    assert body["current"]["intent_id"] == intent_id and body["current"]["phase"] == "test"
    assert progress(executor, intent_id, "build", 0.9, "late").status_code == 409


def test_heartbeats_and_progress_extend_the_lease(
    settings: Any, submitter: Actor, executor: Actor
) -> None:
    settings.LEASE_SECONDS = 60
    settings.HEARTBEAT_WRITE_SECONDS = 0
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    first = Intent.objects.get(pk=intent_id).lease_expires_at
    Intent.objects.filter(pk=intent_id).update(lease_expires_at=timezone.now())
    assert heartbeat(executor).status_code == 200
    after_heartbeat = Intent.objects.get(pk=intent_id).lease_expires_at
    assert after_heartbeat >= first
    Intent.objects.filter(pk=intent_id).update(lease_expires_at=timezone.now())
    progress(executor, intent_id, "build", 0.1)
    assert Intent.objects.get(pk=intent_id).lease_expires_at > timezone.now() + timedelta(
        seconds=50
    )


def test_the_database_copy_of_a_heartbeat_is_written_behind(
    settings: Any, submitter: Actor, executor: Actor
) -> None:
    """Every executor call is a heartbeat; its `last_heartbeat` row is written at most every
    HEARTBEAT_WRITE_SECONDS (timed in Redis across processes, or by the row without Redis)."""
    settings.HEARTBEAT_WRITE_SECONDS = 60
    assert heartbeat(executor).status_code == 200
    row = Executor.objects.filter(pk=executor.executor_id)
    first = row.get().last_heartbeat
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    assert progress(executor, intent_id, "build", 0.2).status_code == 200
    assert row.get().last_heartbeat == first  # within the minute: not written again
    # A minute later (for Redis: the written-mark expired; without it: the row is old).
    live.call(lambda r: r.delete(WRITTEN_PREFIX + executor.executor_id))
    row.update(last_heartbeat=first - timedelta(seconds=61))
    assert progress(executor, intent_id, "build", 0.4).status_code == 200
    assert row.get().last_heartbeat > first
    assert row.get().online is True


def test_lost_leases_fail_the_intent_at_max_attempts(submitter: Actor, executor: Actor) -> None:
    intent_id = submit(submitter, max_attempts=2)["intent_id"]
    for _attempt in (1, 2):
        assert claim(executor)["intent"]["id"] == intent_id
        lease = Intent.objects.get(pk=intent_id).lease_expires_at
        reaper.reap(now=lease + timedelta(seconds=1))
    intent = Intent.objects.get(pk=intent_id)
    assert intent.status == "failed" and intent.attempts == 2


def test_offline_executor_is_announced_once(
    settings: Any, executor: Actor, submitter: Actor
) -> None:
    heartbeat(executor)
    later = timezone.now() + timedelta(seconds=settings.EXECUTOR_OFFLINE_AFTER_SECONDS + 5)
    from executors.live import live

    live.forget("laptop-1")  # its Redis key lapsed (when Redis is in use)
    from executors.models import Executor

    Executor.objects.filter(pk="laptop-1").update(
        last_heartbeat=timezone.now()
        - timedelta(seconds=settings.EXECUTOR_OFFLINE_AFTER_SECONDS + 5)
    )
    assert reaper.reap(now=later).offline == ["laptop-1"]
    assert reaper.reap(now=later).offline == []
    assert IntentEvent.objects.filter(kind=EventKind.EXECUTOR_OFFLINE).count() == 1
    heartbeat(executor)
    assert (
        IntentEvent.objects.filter(kind=EventKind.EXECUTOR_ONLINE, executor_id="laptop-1").count()
        == 2
    )


def test_among_a_live_fleet_only_the_executor_whose_key_lapsed_is_announced_offline(
    django_assert_num_queries: Any,
) -> None:
    need(live.configured, "Redis (REDIS_URL)")
    for name in ("fleet-1", "fleet-2", "fleet-3"):
        make_executor(name, online=True, last_heartbeat=timezone.now())
        live.beat(name)
    with django_assert_num_queries(1):  # the online executors' ids; Redis says all are alive
        assert reaper.announce_offline(now=timezone.now()) == []
    live.forget("fleet-2")
    assert reaper.announce_offline(now=timezone.now()) == ["fleet-2"]
    online = Executor.objects.filter(online=True).values_list("pk", flat=True)
    assert sorted(online) == ["fleet-1", "fleet-3"]


@pytest.mark.django_db(transaction=True)  # the hot path as served: its heartbeat after commit
@pytest.mark.parametrize("call", ["progress", "complete", "release"])
def test_an_executor_announced_offline_while_holding_work_is_announced_online_by_its_call(
    call: str, settings: Any, submitter: Actor, executor: Actor
) -> None:
    """Its heartbeat lapsed and the reaper announced it offline, but its lease still runs: its
    next progress report, hand-in or release brings its row online and records
    `executor_online` once, as a claim or a heartbeat does."""
    intent_id = submit(submitter)["intent_id"]
    assert claim(executor)["intent"]["id"] == intent_id
    live.forget("laptop-1")  # its Redis key lapsed (when Redis is in use)
    silent = timedelta(seconds=settings.EXECUTOR_OFFLINE_AFTER_SECONDS + 5)
    Executor.objects.filter(pk="laptop-1").update(last_heartbeat=timezone.now() - silent)
    result = reaper.reap()
    assert result.offline == ["laptop-1"] and result.requeued == []
    assert Executor.objects.get(pk="laptop-1").online is False

    if call == "progress":
        assert progress(executor, intent_id, "build", 0.5).status_code == 200
        assert progress(executor, intent_id, "build", 0.6).status_code == 200
    elif call == "complete":
        assert complete(executor, intent_id, phase_artifacts("build")).status_code == 200
        assert heartbeat(executor).status_code == 200
    else:
        released = executor.client.post(
            "/assembly-line/work/release",
            {"intent_id": intent_id, "executor_id": "laptop-1"},
            format="json",
        )
        assert released.status_code == 200
        assert heartbeat(executor).status_code == 200

    kinds = list(
        IntentEvent.objects.filter(executor_id="laptop-1")
        .order_by("id")
        .values_list("kind", flat=True)
    )
    assert kinds.count(EventKind.EXECUTOR_OFFLINE) == 1
    after_offline = kinds[kinds.index(EventKind.EXECUTOR_OFFLINE) + 1 :]
    assert after_offline.count(EventKind.EXECUTOR_ONLINE) == 1, kinds
    assert Executor.objects.get(pk="laptop-1").online is True


@pytest.mark.django_db(transaction=True)
def test_reaper_is_single_flight_across_processes(postgres: None) -> None:
    db = connection.settings_dict
    other = psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"] or "postgres",
        dbname=db["NAME"],
        autocommit=True,
    )
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [reaper.ADVISORY_LOCK_KEY])
        assert reaper.reap_single_flight().skipped is True
        other.execute("SELECT pg_advisory_unlock(%s)", [reaper.ADVISORY_LOCK_KEY])
        assert reaper.reap_single_flight().skipped is False
    finally:
        other.close()


def test_admin_requeue(submitter: Actor, executor: Actor, outsider: Actor, admin: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    forbidden = submitter.client.post(
        f"/assembly-line/intents/{intent_id}/requeue", {}, format="json"
    )
    assert forbidden.status_code == 403
    response = admin.client.post(
        f"/assembly-line/intents/{intent_id}/requeue", {"reason": "stuck"}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "queued"
    late = progress(executor, intent_id, "build", 0.5)
    assert late.status_code == 409 and late.json()["error"]["current"]["status"] == "queued"
    heartbeat(outsider)
    assert claim(outsider)["handoff"]["returned"]["why"] == "admin_requeue"
    # A failed intent gets fresh attempts; a completed or cancelled one cannot be re-queued.
    complete(outsider, intent_id, status="failed")
    Intent.objects.filter(pk=intent_id).update(status="failed", attempts=3)
    revived = admin.client.post(f"/assembly-line/intents/{intent_id}/requeue", {}, format="json")
    assert revived.status_code == 200
    assert revived.json()["status"] == "queued" and revived.json()["attempts"] == 0
    admin.client.post(f"/assembly-line/intents/{intent_id}/cancel", {}, format="json")
    again = admin.client.post(f"/assembly-line/intents/{intent_id}/requeue", {}, format="json")
    assert again.status_code == 409
    assert (
        admin.client.post("/assembly-line/intents/int_nope/requeue", {}, format="json").status_code
        == 404
    )


def test_cancel_by_submitter_or_admin_only(submitter: Actor, executor: Actor, admin: Actor) -> None:
    from tests.intents.test_ai_rules import make_submitter

    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    other = make_submitter("mallory")
    assert (
        other.client.post(
            f"/assembly-line/intents/{intent_id}/cancel", {}, format="json"
        ).status_code
        == 403
    )
    assert (
        executor.client.post(
            f"/assembly-line/intents/{intent_id}/cancel", {}, format="json"
        ).status_code
        == 403
    )
    done = submitter.client.post(
        f"/assembly-line/intents/{intent_id}/cancel", {"reason": "changed my mind"}, format="json"
    )
    assert done.status_code == 200 and done.json()["status"] == "cancelled"
    late = complete(executor, intent_id, phase_artifacts("build"))
    assert late.status_code == 409 and late.json()["error"]["current"]["status"] == "cancelled"

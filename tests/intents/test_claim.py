"""Work distribution: who gets what, in which order, and never twice."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from core.errors import NotFound
from executors.models import Executor
from intents import services
from intents.models import Intent, IntentEvent
from tests.conftest import Actor, claim, complete, make_executor, phase_artifacts, submit

pytestmark = pytest.mark.django_db


def test_environment_preference_routes_work(
    submitter: Actor, executor: Actor, server_executor: Actor
) -> None:
    server_only = submit(submitter, environment_preference="server", priority=9)["intent_id"]
    local_only = submit(submitter, environment_preference="local", priority=9)["intent_id"]
    assert claim(executor)["intent"]["id"] == local_only
    assert claim(server_executor)["intent"]["id"] == server_only


def test_either_is_served_by_both_environments(
    submitter: Actor, executor: Actor, server_executor: Actor
) -> None:
    first = submit(submitter)["intent_id"]
    second = submit(submitter)["intent_id"]
    assert {claim(server_executor)["intent"]["id"], claim(executor)["intent"]["id"]} == {
        first,
        second,
    }


def test_required_capabilities_must_be_a_subset(submitter: Actor) -> None:
    plain = make_executor("plain", capabilities=["python"])
    rich = make_executor("rich", capabilities=["docker", "python", "rust"])
    needs = submit(submitter, required_capabilities=["rust", "docker"], priority=10)["intent_id"]
    assert claim(plain)["assigned"] is False
    assert claim(rich)["intent"]["id"] == needs


def test_higher_priority_first_then_oldest(submitter: Actor, executor: Actor) -> None:
    low = submit(submitter, priority=2)["intent_id"]
    high = submit(submitter, priority=9)["intent_id"]
    high_later = submit(submitter, priority=9)["intent_id"]
    order = [claim(make_executor(f"e{i}"))["intent"]["id"] for i in range(3)]
    assert order == [high, high_later, low]


def test_ageing_lets_a_long_waiting_low_priority_intent_go_first(
    submitter: Actor, executor: Actor, settings: Any
) -> None:
    settings.PRIORITY_AGEING_SECONDS = 60
    old_low = submit(submitter, priority=1)["intent_id"]
    # It has waited 10 minutes: 10 points of ageing beat a fresh priority-10.
    waited = timezone.now() - timedelta(minutes=10)
    Intent.objects.filter(pk=old_low).update(queued_at=waited, rank=waited - timedelta(seconds=60))
    submit(submitter, priority=10)
    assert claim(executor)["intent"]["id"] == old_low


def test_affinity_gives_the_next_phase_to_the_previous_executor(
    submitter: Actor, executor: Actor, outsider: Actor
) -> None:
    first = submit(submitter, priority=5)["intent_id"]
    claim(executor)
    complete(executor, first, phase_artifacts("build"))
    # A slightly higher-ranked intent arrives; the executor that built `first` still gets
    # `first`'s test phase (its context), the other executor gets the newcomer.
    newcomer = submit(submitter, priority=6)["intent_id"]
    assert claim(executor)["intent"]["id"] == first
    assert claim(outsider)["intent"]["id"] == newcomer


def test_max_concurrent_is_respected(submitter: Actor) -> None:
    worker = make_executor("double", max_concurrent=2)
    for _ in range(3):
        submit(submitter)
    assert claim(worker)["assigned"] is True
    assert claim(worker)["assigned"] is True
    third = claim(worker)
    assert third["assigned"] is False
    assert "max_concurrent" in third["reason"]


def test_backoff_hides_a_retried_intent_until_not_before(
    submitter: Actor, executor: Actor, settings: Any
) -> None:
    settings.RETRY_BACKOFF_SECONDS = 60
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    complete(executor, intent_id, {}, status="failed")
    assert claim(executor)["assigned"] is False
    Intent.objects.filter(pk=intent_id).update(not_before=timezone.now() - timedelta(seconds=1))
    assert claim(executor)["intent"]["id"] == intent_id


def test_claim_response_carries_the_whole_intent(submitter: Actor, executor: Actor) -> None:
    intent_id = submit(submitter, title="build me", priority=7)["intent_id"]
    work = claim(executor)
    assert work["assigned"] is True
    intent = work["intent"]
    for field in [
        "id",
        "title",
        "spec_path",
        "priority",
        "created_by",
        "created_at",
        "assigned_to",
        "assigned_at",
        "environment_preference",
        "requires_human_review",
        "status",
        "current_phase",
        "phase_progress",
        "build_output",
        "test_results",
        "deployment_url",
        "verification_level",
        "quality_score",
    ]:
        assert field in intent
    assert intent["id"] == intent_id and intent["assigned_to"] == "laptop-1"
    assert intent["created_by_label"] == "alice" and intent["lease_expires_at"]
    assert intent["created_by"].startswith("token:")  # an identity, not the name


def test_claim_is_a_handful_of_queries(
    submitter: Actor, django_assert_max_num_queries: Any
) -> None:
    worker = make_executor("twice", max_concurrent=2)
    submit(submitter)
    submit(submitter)
    claim(worker)  # the first call also records the executor coming online
    # PostgreSQL: the token, then the claim in one call (the intents_claim function); a first
    # claim has no handoff to read. SQLite's ORM path: token, executor, executor lock, held
    # count, affinity probe, pick, update, event, and the savepoint pair the test transaction
    # wraps around the atomic block; after it, the handoff's two reads.
    with django_assert_max_num_queries(2 if connection.vendor == "postgresql" else 12):
        assert claim(worker)["assigned"] is True


def test_an_idle_long_poll_looks_at_its_executor_and_the_queue_in_one_query(
    django_assert_num_queries: Any,
) -> None:
    make_executor("idle-1")
    # The first call announces the executor coming online; the next ones are plain polls.
    services.work_claim(executor_id="idle-1", actor="executor:idle-1", look_first=True)
    with django_assert_num_queries(1):
        answer = services.work_claim(executor_id="idle-1", actor="executor:idle-1", look_first=True)
    assert (answer.intent, answer.reason) == (None, "no queued intent: the queue is empty")
    with pytest.raises(NotFound):
        services.work_claim(executor_id="nobody", actor="admin", look_first=True)


def test_a_long_poll_claims_what_is_queued_and_past_its_backoff(submitter: Actor) -> None:
    make_executor("idle-2")
    intent_id = submit(submitter)["intent_id"]
    Intent.objects.filter(pk=intent_id).update(not_before=timezone.now() + timedelta(minutes=5))
    answer = services.work_claim(executor_id="idle-2", actor="executor:idle-2", look_first=True)
    assert (answer.intent, answer.reason) == (None, "no queued intent: the queue is empty")
    Intent.objects.filter(pk=intent_id).update(not_before=timezone.now() - timedelta(seconds=1))
    answer = services.work_claim(executor_id="idle-2", actor="executor:idle-2", look_first=True)
    assert answer.intent is not None and answer.intent.pk == intent_id


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_claimers_take_200_intents_exactly_once(postgres: None) -> None:
    executors = [
        Executor.objects.create(executor_id=f"c{i:02d}", max_concurrent=10) for i in range(50)
    ]
    for n in range(200):
        services.intent_submit(actor="load", title=f"i{n}", spec_text="-", priority=1 + n % 10)
    # The spec check fails on "-", so all 200 wait in the spec queue.
    assert Intent.objects.filter(status="queued").count() == 200
    claimed: list[str] = []
    answers: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(50)

    def claimer(executor: Executor) -> None:
        try:
            start.wait()
            while True:
                result = services.work_claim(executor_id=executor.pk, actor=executor.pk)
                with lock:
                    answers.append(1)
                if result.intent is None:
                    if "max_concurrent" in result.reason:
                        continue
                    return
                with lock:
                    claimed.append(result.intent.id)
        except BaseException as exc:
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=claimer, args=(e,)) for e in executors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert all(not t.is_alive() for t in threads)
    assert len(claimed) == 200
    assert len(set(claimed)) == 200
    assert Intent.objects.filter(status="assigned").count() == 200
    assert IntentEvent.objects.filter(kind="assigned").count() == 200
    assert len(answers) >= 200 + 50  # every claim answered, each claimer saw the end


def test_an_executor_its_row_says_offline_is_announced_online_before_its_claim(
    submitter: Actor,
) -> None:
    """Its heartbeat is live but its row says offline (the reaper's last word): the claim
    announces it online first, once, then assigns (the one-call path leaves this to the ORM)."""
    worker = make_executor("flicker", max_concurrent=2)
    first = submit(submitter)["intent_id"]
    second = submit(submitter)["intent_id"]
    assert claim(worker)["intent"]["id"] == first  # comes online
    Executor.objects.filter(pk="flicker").update(online=False)
    assert claim(worker)["intent"]["id"] == second
    kinds = list(IntentEvent.objects.filter(executor_id="flicker").values_list("kind", flat=True))
    assert kinds == ["executor_online", "assigned", "executor_online", "assigned"]
    assert Executor.objects.get(pk="flicker").online is True


def test_unknown_executor_claim_is_404(admin: Actor) -> None:
    response = admin.client.get("/assembly-line/work/next", {"executor_id": "nobody"})
    assert response.status_code == 404

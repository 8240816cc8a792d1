"""An executor's hot call makes one Redis round trip: its heartbeat and the publish of its
events share one pipeline, after commit (intents/services/fleet.py, `executor_called`).
Counted on the client's connections against the real Redis, and what arrived checked there."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from core.runtime.channels_group import redis_group_channel
from executors.live import KEY_PREFIX, live
from executors.models import Executor
from intents.fanout import LINE_GROUP
from intents.models import EventKind, IntentEvent
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

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres")]


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times this process sent Redis anything: a single command and a pipeline are
    one send each, then one wait for the answers."""
    need(bool(settings.REDIS_URL), "Redis (REDIS_URL)")
    sent = [0]
    send = redis.connection.AbstractConnection.send_packed_command

    def counted(self: Any, command: Any, check_health: bool = True) -> None:
        sent[0] += 1
        send(self, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
    return sent


@pytest.fixture
def line_messages() -> Iterator[redis.client.PubSub]:
    """A subscriber to what viewers are sent (the line group's Redis channel)."""
    subscriber = redis.Redis.from_url(settings.REDIS_URL).pubsub()
    subscriber.subscribe(redis_group_channel(LINE_GROUP))
    yield subscriber
    subscriber.close()


def kinds_published(subscriber: redis.client.PubSub) -> list[str]:
    kinds = []
    while (message := subscriber.get_message(timeout=0.5)) is not None:
        if message["type"] != "message":
            continue
        # channels-redis's msgpack frame holds the event's JSON as one string.
        frame = message["data"]
        start = frame.index(b'{"')
        kinds.append(json.loads(frame[start : frame.rindex(b"}") + 1].decode())["kind"])
    return kinds


def during(sent: list[int], call: Any) -> tuple[Any, int]:
    before = sent[0]
    answer = call()
    return answer, sent[0] - before


def test_claim_progress_and_complete_each_make_one_redis_round_trip(
    round_trips: list[int], line_messages: redis.client.PubSub, submitter: Actor
) -> None:
    executor = make_executor("laptop-1", max_concurrent=2)
    first, second = submit(submitter)["intent_id"], submit(submitter)["intent_id"]
    assert claim(executor)["intent"]["id"] == first  # comes online (its own, rarer path)
    kinds_published(line_messages)

    answer, trips = during(round_trips, lambda: claim(executor))
    assert answer["intent"]["id"] == second and trips == 1
    answer, trips = during(round_trips, lambda: progress(executor, second, "build", 0.5))
    assert answer.status_code == 200 and trips == 1
    answer, trips = during(
        round_trips, lambda: complete(executor, second, phase_artifacts("build"))
    )
    assert answer.status_code == 200 and answer.json()["next_phase"] == "test"
    assert trips == 1
    answer, trips = during(round_trips, lambda: complete(executor, first, status="failed"))
    assert answer.status_code == 200 and trips == 1

    # What that one trip carried: every event, in order, and the live heartbeat.
    assert kinds_published(line_messages) == [
        "assigned",
        "progress",
        "completed",
        "verified",
        "advanced",
        "completed",
        "requeued",
    ]
    assert (
        0
        < live.call(lambda r: r.ttl(KEY_PREFIX + "laptop-1"))
        <= (settings.EXECUTOR_OFFLINE_AFTER_SECONDS)
    )
    # The test phase's claim; then an empty answer (at its max_concurrent) is a heartbeat too.
    answer, trips = during(round_trips, lambda: claim(executor))
    assert answer["intent"]["current_phase"] == "test" and trips == 1
    Executor.objects.filter(pk="laptop-1").update(max_concurrent=1)
    answer, trips = during(round_trips, lambda: claim(executor))
    assert answer["assigned"] is False and "max_concurrent" in answer["reason"] and trips == 1
    assert kinds_published(line_messages) == ["assigned"]


def test_the_database_copy_of_the_heartbeat_is_still_written_behind(
    round_trips: list[int], settings: Any, submitter: Actor, executor: Actor
) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    row = Executor.objects.filter(pk="laptop-1")
    old = timezone.now() - timedelta(seconds=settings.HEARTBEAT_WRITE_SECONDS + 1)
    row.update(last_heartbeat=old)
    live.call(lambda r: r.delete("al:hbw:laptop-1"))  # the written-mark lapsed
    answer, trips = during(round_trips, lambda: progress(executor, intent_id, "build", 0.5))
    assert answer.status_code == 200 and trips == 1
    assert row.get().last_heartbeat > old


def test_an_executor_whose_heartbeat_lapsed_is_announced_online_after_its_claim(
    round_trips: list[int], line_messages: redis.client.PubSub, submitter: Actor
) -> None:
    """Its Redis key lapsed while its row still says online (before the reaper's sweep, or
    after Redis lost its keys): the claim is made, then the heartbeat finds it coming online
    and `executor_online` is recorded in a transaction of its own and published (a second
    round trip, in this rare case only)."""
    worker = make_executor("lapsed", online=True, last_heartbeat=timezone.now())
    intent_id = submit(submitter)["intent_id"]
    kinds_published(line_messages)
    answer, trips = during(round_trips, lambda: claim(worker))
    assert answer["intent"]["id"] == intent_id and trips == 2
    kinds = list(IntentEvent.objects.filter(executor_id="lapsed").values_list("kind", flat=True))
    assert kinds == [EventKind.ASSIGNED, EventKind.EXECUTOR_ONLINE]
    assert kinds_published(line_messages) == kinds
    assert live.alive(["lapsed"]) == {"lapsed": True}


def test_a_report_of_an_executor_announced_offline_announces_it_online_after_its_event(
    round_trips: list[int], line_messages: redis.client.PubSub, submitter: Actor, executor: Actor
) -> None:
    """The reaper announced it offline (its key dropped) while it holds work: its progress
    report is written and published, then `executor_online` in a transaction and a round trip
    of its own, as after a claim; the next report is back to one round trip."""
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    live.forget("laptop-1")
    Executor.objects.filter(pk="laptop-1").update(
        online=False, last_heartbeat=timezone.now() - timedelta(hours=1)
    )
    kinds_published(line_messages)
    answer, trips = during(round_trips, lambda: progress(executor, intent_id, "build", 0.5))
    assert answer.status_code == 200 and trips == 2
    assert kinds_published(line_messages) == [EventKind.PROGRESS, EventKind.EXECUTOR_ONLINE]
    assert Executor.objects.get(pk="laptop-1").online is True
    answer, trips = during(round_trips, lambda: progress(executor, intent_id, "build", 0.6))
    assert answer.status_code == 200 and trips == 1
    assert kinds_published(line_messages) == [EventKind.PROGRESS]


def test_with_redis_unavailable_the_call_succeeds_and_postgresql_keeps_the_heartbeat(
    round_trips: list[int],
    caplog: pytest.LogCaptureFixture,
    settings: Any,
    submitter: Actor,
    executor: Actor,
) -> None:
    """Redis failed a moment ago (the circuit is open): no round trip is tried, the row's
    heartbeat is written when due, and the events are logged as not broadcast."""
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    row = Executor.objects.filter(pk="laptop-1")
    old = timezone.now() - timedelta(seconds=settings.HEARTBEAT_WRITE_SECONDS + 1)
    row.update(last_heartbeat=old)

    def unreachable(r: redis.Redis) -> None:
        raise redis.ConnectionError("Redis is down (the test says so)")

    settings.REDIS_RETRY_SECONDS = 60
    live.call(unreachable)
    try:
        with caplog.at_level(logging.WARNING, logger="assemblyline.events"):
            answer, trips = during(round_trips, lambda: progress(executor, intent_id, "build", 0.5))
        assert answer.status_code == 200 and trips == 0
        assert row.get().last_heartbeat > old and row.get().online is True
        assert "not broadcast" in caplog.text
    finally:
        assert live.ping()[0]  # closes the circuit for the tests after this one

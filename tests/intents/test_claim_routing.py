"""The claim's routing lives twice: in SQL (the `intents_claim` function, the claim's common
path on PostgreSQL) and in Python (`dispatch.serves`, which `/state`'s waiting reasons use,
and the ORM's `dispatch.claimable`, the rare paths' and SQLite's). Hypothesis generates
executors and queues; the three must agree on what may be taken, the function must take the
head by rank and affinity, and it must move only what django-fsm's `Intent.claim` may move."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from django_fsm import can_proceed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executors.models import Executor
from intents import dispatch
from intents.models import EventKind, Intent, IntentEvent, Phase, Status
from intents.services.claim_sql import claim_in_one_call

CAPABILITIES = ["docker", "gpu", "python"]
OTHERS = [None, "me", "other"]
# Ranks a few seconds to beyond AFFINITY_SECONDS apart (and ties).
AFFINITY = 600
RANK_OFFSETS = [0, 0, 30, 300, 600, 601, 1200]


class Rollback(Exception):
    """Undoes one example's rows (the test's own transaction holds them otherwise)."""


@dataclass
class Shape:
    phase: str
    status: str
    preference: str
    required: list[str]
    built_by: str | None
    previous: str | None
    avoid: str | None
    old: bool
    not_before: str
    rank: int


shapes = st.builds(
    Shape,
    phase=st.sampled_from(list(Phase.values)),
    status=st.sampled_from([Status.QUEUED] * 4 + list(Status.values)),
    preference=st.sampled_from(["server", "local", "either", "either"]),
    required=st.lists(st.sampled_from(CAPABILITIES), max_size=2, unique=True),
    built_by=st.sampled_from(OTHERS),
    previous=st.sampled_from(OTHERS),
    avoid=st.sampled_from(OTHERS),
    old=st.booleans(),
    not_before=st.sampled_from(["none", "none", "past", "future"]),
    rank=st.sampled_from(RANK_OFFSETS),
)
routings = st.dictionaries(
    st.sampled_from(list(Phase.values)), st.sampled_from(["local", "server"]), max_size=4
)
separations = st.sampled_from([[], ["test", "production"], ["build"], list(Phase.values)])


def make_intents(shapes: list[Shape], now: datetime) -> list[Intent]:
    base = now - timedelta(hours=1)
    intents = [
        Intent(
            title=f"i{n}",
            created_by="prop",
            current_phase=shape.phase,
            status=shape.status,
            environment_preference=shape.preference,
            required_capabilities=shape.required,
            built_by_id=shape.built_by,
            previous_executor_id=shape.previous,
            avoid_executor_id=shape.avoid,
            assigned_to_id=None if shape.status == Status.QUEUED else "other",
            queued_at=now - timedelta(seconds=1000 if shape.old else 10),
            not_before={
                "none": None,
                "past": now - timedelta(seconds=5),
                "future": now + timedelta(seconds=60),
            }[shape.not_before],
            rank=base + timedelta(seconds=shape.rank),
        )
        for n, shape in enumerate(shapes)
    ]
    return Intent.objects.bulk_create(intents)


def routes(executor: Executor, intent: Intent, now: datetime) -> bool:
    """What the function may take, by the Python rules: `serves`, past its backoff, and not
    one of the executor's own failed intents (those are the Python path's)."""
    return (
        dispatch.serves(executor, intent, now)
        and (intent.not_before is None or intent.not_before <= now)
        and intent.avoid_executor_id != executor.pk
    )


def expected_head(remaining: list[Intent], executor_id: str) -> tuple[datetime, bool]:
    """The rank the claim must take next, and whether affinity chose it."""
    head = min(i.rank for i in remaining)
    mine = [i.rank for i in remaining if i.previous_executor_id == executor_id]
    if mine and min(mine) <= head + timedelta(seconds=AFFINITY):
        return min(mine), True
    return head, False


@pytest.mark.django_db
@settings(
    max_examples=80,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    environment=st.sampled_from(["local", "server"]),
    capabilities=st.lists(st.sampled_from(CAPABILITIES), unique=True),
    queue=st.lists(shapes, max_size=8),
    routing=routings,
    separate=separations,
)
def test_sql_claim_takes_what_python_routing_serves_head_first(
    postgres: None,
    environment: str,
    capabilities: list[str],
    queue: list[Shape],
    routing: dict[str, str],
    separate: list[str],
) -> None:
    now = timezone.now()
    with (
        override_settings(
            PHASE_ROUTING=routing,
            SEPARATE_DUTIES_PHASES=separate,
            AFFINITY_SECONDS=AFFINITY,
            SPILLOVER_SECONDS=300,
        ),
        pytest.raises(Rollback),
        transaction.atomic(),
    ):
        executor = Executor.objects.create(
            executor_id="me",
            environment=environment,
            capabilities=capabilities,
            max_concurrent=100,
            online=True,
        )
        Executor.objects.create(executor_id="other", online=True)
        intents = make_intents(queue, now)
        queued = [i for i in intents if i.status == Status.QUEUED]
        expected = {i.pk for i in queued if routes(executor, i, now)}
        # The ORM's queryset agrees with `serves`.
        orm = dispatch.claimable(executor, now).exclude(avoid_executor=executor)
        assert set(orm.values_list("id", flat=True)) == expected
        # The function takes them all, one claim at a time, each the head of what is left.
        remaining = [i for i in queued if i.pk in expected]
        taken: list[str] = []
        for _ in range(len(intents) + 1):
            claimed = claim_in_one_call(executor_id="me", actor="prop", now=now)
            if claimed.outcome != "assigned":
                break
            assert claimed.intent is not None
            rank, by_affinity = expected_head(remaining, "me")
            assert claimed.intent.rank == rank
            if by_affinity:
                assert claimed.intent.previous_executor_id == "me"
            assert claimed.intent.spilled == dispatch.is_spill(executor, claimed.intent)
            taken.append(claimed.intent.pk)
            remaining = [i for i in remaining if i.pk != claimed.intent.pk]
        assert claimed.outcome == "none"
        assert set(taken) == expected and len(taken) == len(expected)
        # Its own failed intents are left to the Python path, and said so.
        avoided = [
            i
            for i in queued
            if i.avoid_executor_id == "me"
            and dispatch.serves(executor, i, now)
            and (i.not_before is None or i.not_before <= now)
        ]
        assert claimed.avoided == bool(avoided)
        # The FSM agrees: of the intents the routing allows whatever their status, exactly
        # those django-fsm's `claim` may move were taken, each queued → assigned.
        after = {i.pk: i for i in Intent.objects.filter(pk__in=[i.pk for i in intents])}
        for intent in intents:
            if not routes(executor, intent, now):
                assert after[intent.pk].status == intent.status
                continue
            may = can_proceed(Intent(status=intent.status).claim)
            assert (intent.pk in taken) == may
            assert after[intent.pk].status == (Status.ASSIGNED if may else intent.status)
        events = IntentEvent.objects.filter(kind=EventKind.ASSIGNED, intent_id__in=taken)
        assert sorted(events.values_list("intent_id", flat=True)) == sorted(taken)
        assert {(e.from_status, e.to_status) for e in events} <= {("queued", "assigned")}
        raise Rollback


@pytest.mark.django_db
def test_sql_claim_refuses_an_intent_not_queued(postgres: None) -> None:
    """No status but `queued` is a source of `Intent.claim`; the function takes none."""
    Executor.objects.create(executor_id="me", online=True, max_concurrent=100)
    Executor.objects.create(executor_id="other")
    sources = [s for s in Status.values if can_proceed(Intent(status=s).claim)]
    assert sources == [Status.QUEUED]
    for status in Status.values:
        if status == Status.QUEUED:
            continue
        Intent.objects.create(title=status, created_by="t", status=status, assigned_to_id="other")
    claimed = claim_in_one_call(executor_id="me", actor="t", now=timezone.now())
    assert (claimed.outcome, claimed.avoided) == ("none", False)

"""The submission answer's estimated_start: now when a matching executor is idle, else queue
position × average phase time ÷ matching executors."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from intents import counts, selectors
from intents.models import Intent
from tests.conftest import Actor, claim, submit

pytestmark = pytest.mark.django_db


def started(body: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(body["estimated_start"])


def test_now_when_a_matching_executor_is_idle(submitter: Actor, executor: Actor) -> None:
    claim(executor)  # empty queue: it is alive and holds nothing
    body = submit(submitter)
    assert abs((started(body) - timezone.now()).total_seconds()) < 5


def test_behind_the_queue_when_every_matching_executor_is_busy(
    submitter: Actor, executor: Actor, server_executor: Actor
) -> None:
    claim(executor)
    claim(server_executor)  # both alive, nothing queued yet
    submit(submitter)
    submit(submitter)
    assert claim(executor)["assigned"] and claim(server_executor)["assigned"]
    # Both busy: with no phase handed in yet, a phase counts 600 s, shared by 2 executors.
    first = started(submit(submitter))
    second = started(submit(submitter))
    now = timezone.now()
    assert abs((first - now).total_seconds() - 1 * 600 / 2) < 5
    assert abs((second - now).total_seconds() - 2 * 600 / 2) < 5
    # A local-only intent matches only the local executor.
    local = started(submit(submitter, environment_preference="local"))
    assert abs((local - now).total_seconds() - 3 * 600 / 1) < 5


def test_position_in_a_long_queue_is_the_snapshot_of_the_queue(
    submitter: Actor, settings: Any
) -> None:
    for _ in range(4):
        submit(submitter)
    last = Intent.objects.order_by("-rank").first()
    assert last is not None
    assert selectors.queue_position(last) == 3
    # Beyond COUNTS_EXACT_BELOW the scan stops and the number queued in the snapshot (the
    # reaper's, taken here) is used: an upper bound.
    settings.COUNTS_EXACT_BELOW = 2
    counts.timed_count()
    assert selectors.queue_position(last) == 4
    assert (
        timedelta(0)
        <= started({"estimated_start": selectors.estimated_start(last).isoformat()})
        - timezone.now()
    )

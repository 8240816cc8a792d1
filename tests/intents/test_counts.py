"""Queue counts stay flat for large queues: above COUNTS_EXACT_BELOW open intents, /state reads
the reaper's snapshot and says so; below it, every read is exact."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache

from intents import counts, reaper
from tests.conftest import Actor, claim, submit

pytestmark = pytest.mark.django_db


def state(viewer: Actor) -> dict[str, Any]:
    return viewer.client.get("/assembly-line/state").json()


def test_small_queues_are_counted_exactly(viewer: Actor, submitter: Actor, executor: Actor) -> None:
    cache.delete(counts.CACHE_KEY)
    for n in range(3):
        submit(submitter, title=f"s{n}")
    assert state(viewer)["queue_depth"] == 3
    claim(executor)
    after = state(viewer)
    assert after["queue_depth"] == 2 and after["metrics"]["counts_exact"] is True


def test_large_queues_read_the_reapers_snapshot(
    settings: Any, viewer: Actor, submitter: Actor, executor: Actor
) -> None:
    cache.delete(counts.CACHE_KEY)
    settings.COUNTS_EXACT_BELOW = 4  # open + finished today
    for n in range(5):
        submit(submitter, title=f"l{n}", priority=1 + n)
    first = state(viewer)  # counted on the spot, and the snapshot stored
    assert first["queue_depth"] == 5
    assert first["queue_by_priority"]["build"] == {str(p): 1 for p in range(1, 6)}
    claim(executor)
    cached = state(viewer)
    assert cached["queue_depth"] == 5  # the snapshot, not yet refreshed
    assert cached["metrics"]["counts_exact"] is False
    assert cached["metrics"]["counts_as_of"] == first["metrics"]["counts_as_of"]
    reaper.reap()  # the snapshot is younger than a reaper pass: kept
    assert state(viewer)["metrics"]["counts_as_of"] == first["metrics"]["counts_as_of"]
    age_snapshot(seconds=10)
    reaper.reap()
    fresh = state(viewer)
    assert fresh["queue_depth"] == 4 and fresh["in_progress"] == 1
    assert fresh["metrics"]["counts_as_of"] > first["metrics"]["counts_as_of"]


def age_snapshot(*, seconds: float, took: float | None = None) -> None:
    """Make the stored snapshot `seconds` older (and its count as slow as `took`)."""
    snapshot = cache.get(counts.CACHE_KEY)
    snapshot["stamp"] -= seconds
    if took is not None:
        snapshot["took"] = took
    cache.set(counts.CACHE_KEY, snapshot)


def test_a_costly_count_is_refreshed_less_often(
    settings: Any, viewer: Actor, submitter: Actor, executor: Actor
) -> None:
    """A count that took 0.5 s is redone by the reaper every 25 s (50 × its cost), not on
    every 5-second pass; never less often than every 30 s."""
    cache.delete(counts.CACHE_KEY)
    settings.COUNTS_EXACT_BELOW = 2
    for n in range(3):
        submit(submitter, title=f"c{n}")
    first = state(viewer)
    claim(executor)
    age_snapshot(seconds=10, took=0.5)
    reaper.reap()
    kept = state(viewer)
    assert kept["queue_depth"] == 3
    assert kept["metrics"]["counts_as_of"] == first["metrics"]["counts_as_of"]
    age_snapshot(seconds=16)  # 26 s old
    reaper.reap()
    assert state(viewer)["queue_depth"] == 2
    age_snapshot(seconds=31, took=5.0)  # a 5 s count: still redone after 30 s
    submit(submitter, title="c3")
    reaper.reap()
    assert state(viewer)["queue_depth"] == 3

"""Queue counts for /state, the dashboard and /metrics, flat in the size of the queue.

Counting open intents by phase and status (and queued ones by priority, and what finished
today) is a scan of those rows: a few milliseconds for thousands, hundreds for a million. Below
COUNTS_EXACT_BELOW such rows every read counts exactly. Above it, reads use the snapshot the
reaper refreshes (in one process), and say so: `exact: false` and the snapshot's time. A
missing or old snapshot (reaper off, cache gone) is counted on the spot.

The reaper refreshes the snapshot on a pass when it is older than REFRESH_COST_FACTOR times
what its last count took (at least REAPER_INTERVAL_SECONDS, at most MAX_REFRESH_SECONDS).
Counting on every pass stalled other queries with very large queues (docs/performance.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Avg, Count, Q
from django.utils import timezone

from intents.models import OPEN, EventKind, Intent, IntentEvent, Phase, Status

CACHE_KEY = "al:queue-counts:v2"
# An older snapshot is not trusted: counted again on the spot.
MAX_SNAPSHOT_AGE_SECONDS = 60.0
# Counting may take the database at most about 1/REFRESH_COST_FACTOR of the time.
REFRESH_COST_FACTOR = 50
MAX_REFRESH_SECONDS = MAX_SNAPSHOT_AGE_SECONDS / 2


@dataclass
class QueueCounts:
    by_phase: dict[str, dict[str, int]]
    by_priority: dict[str, dict[str, int]]
    # Intents finished since midnight: completed, failed, cancelled.
    finished_today: dict[str, int]
    throughput_last_hour: int
    # Average seconds per phase hand-in over the last 24 h.
    phase_seconds: dict[str, float]
    # The rows these counts scanned: open intents plus those finished today.
    size: int
    as_of: str
    exact: bool


def count_now() -> QueueCounts:
    now = timezone.now()
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    by_phase: dict[str, dict[str, int]] = {phase: {} for phase in Phase.values}
    for phase, status, n in (
        Intent.objects.filter(status__in=OPEN)
        .values_list("current_phase", "status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        by_phase[phase][status] = n
    by_priority: dict[str, dict[str, int]] = {phase: {} for phase in Phase.values}
    for phase, priority, n in (
        Intent.objects.filter(status=Status.QUEUED)
        .values_list("current_phase", "priority")
        .annotate(n=Count("id"))
        .order_by()
    ):
        by_priority[phase][str(priority)] = n
    # What finished today and what completed in the last hour, in one scan of the finished.
    hour_ago = now - timedelta(hours=1)
    finished_counts = Intent.objects.filter(finished_at__gte=min(day_start, hour_ago)).aggregate(
        completed=Count("id", filter=Q(status=Status.COMPLETED, finished_at__gte=day_start)),
        failed=Count("id", filter=Q(status=Status.FAILED, finished_at__gte=day_start)),
        cancelled=Count("id", filter=Q(status=Status.CANCELLED, finished_at__gte=day_start)),
        last_hour=Count("id", filter=Q(status=Status.COMPLETED, finished_at__gte=hour_ago)),
    )
    last_hour = finished_counts.pop("last_hour")
    finished = finished_counts
    phase_seconds = {
        phase: round(avg, 3)
        for phase, avg in IntentEvent.objects.filter(
            kind=EventKind.COMPLETED,
            created_at__gte=now - timedelta(hours=24),
            duration_seconds__isnull=False,
        )
        .values_list("from_phase")
        .annotate(avg=Avg("duration_seconds"))
        .order_by()
    }
    size = sum(n for counts in by_phase.values() for n in counts.values()) + sum(finished.values())
    return QueueCounts(
        by_phase, by_priority, finished, last_hour, phase_seconds, size, now.isoformat(), True
    )


def _cached() -> dict[str, Any] | None:
    try:
        snapshot: dict[str, Any] | None = cache.get(CACHE_KEY)
        return snapshot
    except Exception:  # Redis away: count on the spot
        return None


def refresh() -> QueueCounts | None:
    """Count and store the snapshot when it is due (the reaper calls this on every pass);
    None when the stored one is fresh enough for what counting costs."""
    snapshot = _cached()
    try:
        if snapshot is not None:
            due = min(
                max(settings.REAPER_INTERVAL_SECONDS, REFRESH_COST_FACTOR * snapshot["took"]),
                MAX_REFRESH_SECONDS,
            )
            if time.time() - snapshot["stamp"] < due:
                return None
    except (KeyError, TypeError):  # a snapshot of another shape: count again
        pass
    return timed_count()


def timed_count() -> QueueCounts:
    """Count now, and store the snapshot with what the count took."""
    started = time.monotonic()
    counts = count_now()
    return store(counts, took=time.monotonic() - started)


def store(counts: QueueCounts, *, took: float) -> QueueCounts:
    try:
        cache.set(
            CACHE_KEY,
            {**counts.__dict__, "stamp": time.time(), "took": took},
            timeout=int(MAX_SNAPSHOT_AGE_SECONDS * 2),
        )
    except Exception:
        pass
    return counts


def queue_counts() -> QueueCounts:
    snapshot = _cached()
    try:
        if (
            snapshot is not None
            and snapshot["size"] >= settings.COUNTS_EXACT_BELOW
            and time.time() - snapshot["stamp"] < MAX_SNAPSHOT_AGE_SECONDS
        ):
            fields = {k: v for k, v in snapshot.items() if k not in ("stamp", "took", "exact")}
            return QueueCounts(**fields, exact=False)
    except (KeyError, TypeError):  # a snapshot of another shape: count on the spot
        pass
    started = time.monotonic()
    counts = count_now()
    if counts.size >= settings.COUNTS_EXACT_BELOW:
        store(counts, took=time.monotonic() - started)
    return counts

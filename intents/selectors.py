"""Reads of the line, as aggregate and indexed queries: never a full load of the queue."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, Q
from django.utils import timezone

from executors.models import Executor
from intents.models import OPEN, WORKING, EventKind, Intent, IntentEvent, Phase, Status


def executor_status(executor: Executor, *, holding: int, now: datetime) -> str:
    """offline / idle / busy, derived from the heartbeat and the work held."""
    offline_after = timedelta(seconds=settings.EXECUTOR_OFFLINE_AFTER_SECONDS)
    if executor.last_heartbeat is None or now - executor.last_heartbeat > offline_after:
        return "offline"
    return "busy" if holding else "idle"


def executor_statuses(*, now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """The spec's ExecutorStatus for every executor, keyed by executor_id (two queries)."""
    now = now or timezone.now()
    work: dict[str, list[str]] = {}
    for intent_id, executor_id in (
        Intent.objects.filter(status__in=WORKING, assigned_to__isnull=False)
        .order_by("assigned_at")
        .values_list("id", "assigned_to_id")
    ):
        work.setdefault(executor_id, []).append(intent_id)
    result = {}
    for executor in Executor.objects.all():
        held = work.get(executor.executor_id, [])
        result[executor.executor_id] = executor_data(executor, held=held, now=now)
    return result


def executor_data(executor: Executor, *, held: list[str], now: datetime) -> dict[str, Any]:
    status = executor_status(executor, holding=len(held), now=now)
    return {
        "executor_id": executor.executor_id,
        "executor_type": executor.executor_type,
        "environment": executor.environment,
        "status": status,
        "current_work": held[0] if held else None,
        "capabilities": executor.capabilities,
        "availability": executor.availability,
        "builds_completed": executor.builds_completed,
        "avg_build_time": round(executor.avg_build_time, 3),
        "success_rate": round(executor.success_rate, 4),
        "last_heartbeat": executor.last_heartbeat.isoformat() if executor.last_heartbeat else None,
        "is_healthy": executor.is_healthy and status != "offline",
        "max_concurrent": executor.max_concurrent,
        "current_work_all": held,
    }


def open_counts() -> dict[str, dict[str, int]]:
    """Open intents by phase and status (the partial index over open rows)."""
    counts: dict[str, dict[str, int]] = {phase: {} for phase in Phase.values}
    rows = (
        Intent.objects.filter(status__in=OPEN)
        .values_list("current_phase", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for phase, status, n in rows:
        counts[phase][status] = n
    return counts


def line_metrics(*, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    by_phase = open_counts()
    finished = Intent.objects.filter(finished_at__gte=day_start).aggregate(
        completed=Count("id", filter=Q(status=Status.COMPLETED)),
        failed=Count("id", filter=Q(status=Status.FAILED)),
        cancelled=Count("id", filter=Q(status=Status.CANCELLED)),
    )
    decided = finished["completed"] + finished["failed"]
    window = now - timedelta(hours=24)
    phase_times = dict(
        IntentEvent.objects.filter(
            kind=EventKind.COMPLETED, created_at__gte=window, duration_seconds__isnull=False
        )
        .values_list("from_phase")
        .annotate(avg=Avg("duration_seconds"))
        .order_by()
    )
    oldest = (
        Intent.objects.filter(status=Status.QUEUED).order_by("queued_at").values_list(
            "queued_at", flat=True
        ).first()
    )
    return {
        "by_phase": by_phase,
        "by_status": {
            status: sum(phase.get(status, 0) for phase in by_phase.values()) for status in OPEN
        },
        "awaiting_review": sum(p.get(Status.AWAITING_REVIEW, 0) for p in by_phase.values()),
        "completed_today": finished["completed"],
        "failed_today": finished["failed"],
        "cancelled_today": finished["cancelled"],
        "success_rate_today": round(finished["completed"] / decided, 4) if decided else None,
        "avg_phase_seconds": {
            phase: round(phase_times[phase], 3) for phase in Phase.values if phase in phase_times
        },
        "oldest_queued_seconds": round((now - oldest).total_seconds(), 3) if oldest else None,
    }


def line_state() -> dict[str, Any]:
    """The spec's `GET /assembly-line/state`: queue_depth, in_progress, executors, metrics."""
    now = timezone.now()
    metrics = line_metrics(now=now)
    by_status = metrics["by_status"]
    return {
        "queue_depth": by_status.get(Status.QUEUED, 0),
        "in_progress": sum(by_status.get(s, 0) for s in WORKING),
        "executors": executor_statuses(now=now),
        "metrics": metrics,
        "last_sync": now.isoformat(),
    }


def queue_position(intent: Intent) -> int:
    """How many queued intents rank ahead of this one (indexed count)."""
    return Intent.objects.filter(status=Status.QUEUED, rank__lt=intent.rank).count()


def estimated_start(intent: Intent, *, now: datetime | None = None) -> datetime:
    """Now when a matching executor is idle, else queue position × average phase time ÷
    matching executors."""
    now = now or timezone.now()
    if intent.status != Status.QUEUED:
        return now
    statuses = executor_statuses(now=now)
    matching = [
        e
        for e in statuses.values()
        if e["status"] != "offline"
        and (intent.environment_preference in ("either", e["environment"]))
        and set(intent.required_capabilities) <= set(e["capabilities"])
    ]
    start = max(now, intent.not_before or now)
    if any(e["status"] == "idle" for e in matching):
        return start
    phase_time = (
        IntentEvent.objects.filter(
            kind=EventKind.COMPLETED,
            from_phase=intent.current_phase,
            created_at__gte=now - timedelta(hours=24),
        ).aggregate(avg=Avg("duration_seconds"))["avg"]
        or 600.0
    )
    position = queue_position(intent) + 1
    return start + timedelta(seconds=position * phase_time / max(len(matching), 1))

"""The line's state for /state, the dashboard and the metrics: aggregate reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from executors.models import Executor
from executors.selectors import (
    executor_data,
    executors_and_liveness,
)
from intents import dispatch
from intents.counts import QueueCounts, queue_counts
from intents.models import OPEN, WORKING, Intent, IntentEvent, Phase, Status
from intents.selectors.events import EVENT_COLUMNS, event_row_data
from intents.selectors.queue import OldestQueued, oldest_queued, queue_wait, waiting_reasons
from verification.models import VerificationRun


def held_by(executor_id: str) -> list[str]:
    """The ids of the intents an executor holds, oldest claim first."""
    return list(
        Intent.objects.filter(assigned_to_id=executor_id, status__in=WORKING)
        .order_by("assigned_at")
        .values_list("id", flat=True)
    )


def executor_statuses(
    *,
    now: datetime | None = None,
    executors: list[Executor] | None = None,
    alive: dict[str, bool] | None = None,
) -> dict[str, dict[str, Any]]:
    """The spec's ExecutorStatus for every executor, keyed by executor_id (two queries; one
    when the caller has loaded the executors and their liveness already)."""
    now = now or timezone.now()
    if executors is None:
        executors, alive = executors_and_liveness()
    alive = alive or {}
    work: dict[str, list[str]] = {}
    for intent_id, executor_id in (
        Intent.objects.filter(status__in=WORKING, assigned_to__isnull=False)
        .order_by("assigned_at")
        .values_list("id", "assigned_to_id")
    ):
        work.setdefault(executor_id, []).append(intent_id)
    result = {}
    for executor in executors:
        held = work.get(executor.executor_id, [])
        result[executor.executor_id] = executor_data(
            executor, held=held, now=now, alive=alive.get(executor.executor_id)
        )
    return result


def line_metrics(
    *, now: datetime, counts: QueueCounts, oldest: OldestQueued | None
) -> dict[str, Any]:
    """The spec's metrics; `oldest`: the intent queued longest (`oldest_queued`)."""
    by_phase = counts.by_phase
    finished = counts.finished_today
    decided = finished["completed"] + finished["failed"]
    phase_times = counts.phase_seconds
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
        "oldest_queued_seconds": round((now - oldest["queued_at"]).total_seconds(), 3)
        if oldest
        else None,
        # Whether the counts above are exact now, or the reaper's snapshot of a large queue.
        "counts_exact": counts.exact,
        "counts_as_of": counts.as_of,
    }


def line_state() -> dict[str, Any]:
    """The spec's `GET /assembly-line/state`: queue_depth, in_progress, executors, metrics."""
    now = timezone.now()
    counts = queue_counts()
    # Read once for the metrics and the queue wait.
    oldest = oldest_queued()
    metrics = line_metrics(now=now, counts=counts, oldest=oldest)
    # Loaded once for the executors' part and the waiting reasons.
    executors, alive = executors_and_liveness()
    by_status = metrics["by_status"]
    metrics["queue_wait"] = queue_wait(now=now, oldest=oldest)
    metrics["throughput_last_hour"] = counts.throughput_last_hour
    return {
        "queue_depth": by_status.get(Status.QUEUED, 0),
        "in_progress": sum(by_status.get(s, 0) for s in WORKING),
        "executors": executor_statuses(now=now, executors=executors, alive=alive),
        "metrics": metrics,
        "last_sync": now.isoformat(),
        # Beyond the spec's shape: the dashboard's views of the line, what waits and why,
        # stalls, and the review inbox.
        "queue_by_priority": counts.by_priority,
        "work_in_progress": work_in_progress(now=now),
        "recent_events": recent_events(),
        "waiting": waiting_reasons(now=now, online=dispatch.online_among(executors, alive, now)),
        "stalled": stalled_work(),
        "review_inbox": review_inbox(now=now),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def stalled_work() -> list[dict[str, Any]]:
    """Claimed work flagged stalled: its executor heartbeats but its progress stands still."""
    return [
        {
            "intent_id": intent_id,
            "executor_id": executor_id,
            "phase": phase,
            "stalled_at": _iso(stalled_at),
            "last_progress_at": _iso(last_progress_at),
        }
        for intent_id, executor_id, phase, stalled_at, last_progress_at in Intent.objects.filter(
            status__in=WORKING, stalled_at__isnull=False
        )
        .order_by("stalled_at")
        .values_list("id", "assigned_to_id", "current_phase", "stalled_at", "last_progress_at")[
            :100
        ]
    ]


# The review inbox shows the longest-waiting reviews first, this many at most.


REVIEW_INBOX_SHOWN = 50


def review_inbox(*, now: datetime) -> list[dict[str, Any]]:
    """Intents awaiting review with their age against the review SLA, their latest checks and
    artifacts at a glance, and where to review them in admin."""
    intents = list(
        Intent.objects.filter(status=Status.AWAITING_REVIEW).order_by("review_requested_at")[
            :REVIEW_INBOX_SHOWN
        ]
    )
    if not intents:
        return []
    latest: dict[str, VerificationRun] = {}
    run: VerificationRun | None
    for run in VerificationRun.objects.filter(intent__in=intents).order_by("-created_at", "-id"):
        latest.setdefault(run.intent_id, run)
    sla = settings.REVIEW_SLA_SECONDS
    inbox = []
    for intent in intents:
        since = intent.review_requested_at or intent.updated_at
        waited = (now - since).total_seconds()
        run = latest.get(intent.id)
        inbox.append(
            {
                "intent_id": intent.id,
                "title": intent.title,
                "phase": intent.current_phase,
                "created_by": intent.created_by,
                "created_by_label": intent.created_by_label,
                "priority": intent.priority,
                "review_requested_at": since.isoformat(),
                "waiting_seconds": round(waited, 3),
                "sla_seconds": sla,
                "sla_remaining_seconds": round(sla - waited, 3),
                "overdue": waited > sla,
                "verification_level": intent.verification_level,
                "quality_score": intent.quality_score,
                "last_checks": {
                    name: {"passed": check.get("passed"), "detail": check.get("detail", "")}
                    for name, check in (run.checks if run else {}).items()
                },
                "artifacts": sorted(intent.artifacts),
                "deployment_url": intent.deployment_url,
                "test_results": intent.test_results,
                "admin_url": reverse("admin:intents_intent_change", args=[intent.id]),
            }
        )
    return inbox


# --- The dashboard's views of the line --------------------------------------------------


# The dashboard lists at most this many intents in progress and events.


WORK_IN_PROGRESS_SHOWN = 100
RECENT_EVENTS_SHOWN = 30


def work_in_progress(*, now: datetime) -> list[dict[str, Any]]:
    rows = (
        Intent.objects.filter(status__in=WORKING)
        .order_by("assigned_at")
        .values(
            "id",
            "title",
            "current_phase",
            "status",
            "assigned_to_id",
            "phase_progress",
            "progress_message",
            "assigned_at",
            "lease_expires_at",
            "stalled_at",
            "spilled",
            "priority",
            "attempts",
            "last_progress_at",
        )[:WORK_IN_PROGRESS_SHOWN]
    )
    return [
        {
            "intent_id": row["id"],
            "title": row["title"],
            "phase": row["current_phase"],
            "status": row["status"],
            "executor_id": row["assigned_to_id"],
            "progress": float((row["phase_progress"] or {}).get(row["current_phase"], 0.0)),
            "message": row["progress_message"],
            "priority": row["priority"],
            "attempts": row["attempts"],
            "spilled": row["spilled"],
            "stalled": row["stalled_at"] is not None,
            "assigned_at": _iso(row["assigned_at"]),
            "last_progress_at": _iso(row["last_progress_at"]),
            "lease_expires_at": _iso(row["lease_expires_at"]),
        }
        for row in rows
    ]


def recent_events() -> list[dict[str, Any]]:
    """The latest events, newest first (the event time index), read as the columns viewers
    see: loading them and their intents as models was most of this part's time."""
    rows = IntentEvent.objects.order_by("-created_at", "-id").values_list(*EVENT_COLUMNS)[
        :RECENT_EVENTS_SHOWN
    ]
    return [event_row_data(row) for row in rows]

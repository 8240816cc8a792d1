"""Reads of the line, as aggregate and indexed queries: never a full load of the queue."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Avg
from django.urls import reverse
from django.utils import timezone

from executors.live import live
from executors.models import Executor
from intents import dispatch
from intents.counts import QueueCounts, queue_counts
from intents.models import OPEN, WORKING, EventKind, Intent, IntentEvent, Phase, Status
from verification.models import VerificationRun


def executor_alive(executor: Executor, *, now: datetime, alive: bool | None = None) -> bool:
    """Alive by its Redis heartbeat key; when Redis cannot tell, by last_heartbeat and the
    `online` flag (which the reaper clears when it declares the executor gone)."""
    if alive is not None:
        return alive
    offline_after = timedelta(seconds=settings.EXECUTOR_OFFLINE_AFTER_SECONDS)
    return (
        executor.online
        and executor.last_heartbeat is not None
        and now - executor.last_heartbeat <= offline_after
    )


def executor_status(
    executor: Executor, *, holding: int, now: datetime, alive: bool | None = None
) -> str:
    """offline / idle / busy, derived from the heartbeat and the work held."""
    if not executor_alive(executor, now=now, alive=alive):
        return "offline"
    return "busy" if holding else "idle"


def executors_and_liveness() -> tuple[list[Executor], dict[str, bool] | None]:
    """Every executor, and which are alive by their Redis heartbeat key (one round trip;
    None when Redis cannot tell)."""
    executors = list(Executor.objects.all())
    return executors, live.alive([e.executor_id for e in executors])


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


def executor_data(
    executor: Executor, *, held: list[str], now: datetime, alive: bool | None = None
) -> dict[str, Any]:
    if alive is None:
        alive = (live.alive([executor.executor_id]) or {}).get(executor.executor_id)
    status = executor_status(executor, holding=len(held), now=now, alive=alive)
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
    """Open intents by phase and status (exact for small queues, a fresh snapshot for large
    ones: intents/counts.py)."""
    return queue_counts().by_phase


def line_metrics(
    *, now: datetime | None = None, counts: QueueCounts | None = None
) -> dict[str, Any]:
    now = now or timezone.now()
    counts = counts or queue_counts()
    by_phase = counts.by_phase
    finished = counts.finished_today
    decided = finished["completed"] + finished["failed"]
    phase_times = counts.phase_seconds
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
        # Whether the counts above are exact now, or the reaper's snapshot of a large queue.
        "counts_exact": counts.exact,
        "counts_as_of": counts.as_of,
    }


def line_state() -> dict[str, Any]:
    """The spec's `GET /assembly-line/state`: queue_depth, in_progress, executors, metrics."""
    now = timezone.now()
    counts = queue_counts()
    metrics = line_metrics(now=now, counts=counts)
    # Loaded once for the executors' part and the waiting reasons.
    executors, alive = executors_and_liveness()
    by_status = metrics["by_status"]
    metrics["queue_wait"] = queue_wait(now=now)
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
        "waiting": waiting_reasons(
            now=now, online=dispatch.online_among(executors, alive, now)
        ),
        "stalled": stalled_work(),
        "review_inbox": review_inbox(now=now),
    }


def queue_position(intent: Intent) -> int:
    """How many queued intents rank ahead of this one: counted up to COUNTS_EXACT_BELOW; in
    a longer queue, the number queued from the count snapshot, which is then an upper bound
    (with 1M queued, counting all of them took the database ~100 ms per submission)."""
    limit = settings.COUNTS_EXACT_BELOW
    ahead = (
        Intent.objects.filter(status=Status.QUEUED, rank__lt=intent.rank).order_by()[:limit]
        .count()
    )
    if ahead < limit:
        return ahead
    return max(ahead, sum(phase.get(Status.QUEUED, 0) for phase in open_counts().values()))


def estimated_start(intent: Intent, *, now: datetime | None = None) -> datetime:
    """Now when a matching executor is idle, else queue position × average phase time ÷
    matching executors."""
    now = now or timezone.now()
    if intent.status != Status.QUEUED:
        return now
    required = set(intent.required_capabilities)
    executors, alive = executors_and_liveness()
    matching = [
        e for e in executors
        if intent.environment_preference in ("either", e.environment)
        and required <= set(e.capabilities)
        and executor_alive(e, now=now, alive=(alive or {}).get(e.executor_id))
    ]
    start = max(now, intent.not_before or now)
    if matching:
        busy = set(
            Intent.objects.filter(status__in=WORKING, assigned_to__in=matching)
            .values_list("assigned_to_id", flat=True).distinct()
        )
        if any(e.executor_id not in busy for e in matching):
            return start  # an idle executor can take it now
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


# --- Rules for AI executors: handoff, waiting reasons, stalls, review inbox, queue wait -----


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def handoff(intent: Intent, *, first_claim: bool = False) -> dict[str, Any]:
    """What the executor that claims `intent` needs to resume rather than start blind: the
    artifacts so far, the latest progress messages, and why it came back to the queue.
    An intent's first claim has nothing to look up: progress is only reported, and work only
    re-queued, after a claim."""
    returned = None
    progress: Any = []
    if not first_claim:
        returned = (
            IntentEvent.objects.filter(
                intent=intent, kind=EventKind.REQUEUED, from_phase=intent.current_phase
            )
            .order_by("-created_at", "-id")
            .first()
        )
        progress = IntentEvent.objects.filter(intent=intent, kind=EventKind.PROGRESS).order_by(
            "-created_at", "-id"
        )[: settings.HANDOFF_PROGRESS_MESSAGES]
    return {
        "phase": intent.current_phase,
        "attempt": intent.attempts + 1,
        "resumed": returned is not None,
        "returned": None
        if returned is None
        else {
            "why": returned.payload.get("why"),
            "reason": returned.payload.get("reason"),
            "failed_by": returned.payload.get("failed_by"),
            "by": returned.actor,
            "at": returned.created_at.isoformat(),
        },
        "previous_executor": intent.previous_executor_id,
        "built_by": intent.built_by_id,
        "artifacts": intent.artifacts,
        "recent_progress": [
            {
                "phase": event.from_phase,
                "progress": event.payload.get("progress"),
                "message": event.payload.get("message", ""),
                "executor_id": event.executor_id or None,
                "at": event.created_at.isoformat(),
            }
            for event in reversed(list(progress))
        ],
    }


def _percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return None
    index = max(math.ceil(share * len(values)) - 1, 0)
    return round(values[index], 3)


def _wait_figures(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "claims": len(ordered),
        "p50_seconds": _percentile(ordered, 0.50),
        "p95_seconds": _percentile(ordered, 0.95),
    }


# Queue-wait figures read at most this many of the latest claims.
QUEUE_WAIT_SAMPLE = 5000


def queue_wait(*, now: datetime, window_seconds: int = 3600) -> dict[str, Any]:
    """Time from queued to claimed over the last hour (per phase and environment), and the
    oldest intent waiting now."""
    rows = list(
        IntentEvent.objects.filter(
            kind=EventKind.ASSIGNED,
            created_at__gte=now - timedelta(seconds=window_seconds),
            duration_seconds__isnull=False,
        )
        .order_by("-created_at")
        .values_list("from_phase", "payload", "duration_seconds")[:QUEUE_WAIT_SAMPLE]
    )
    by_phase: dict[str, list[float]] = {}
    by_environment: dict[str, list[float]] = {}
    for phase, payload, waited in rows:
        by_phase.setdefault(phase, []).append(waited)
        environment = (payload or {}).get("environment")
        if environment:
            by_environment.setdefault(environment, []).append(waited)
    oldest = (
        Intent.objects.filter(status=Status.QUEUED)
        .order_by("queued_at")
        .values("id", "title", "current_phase", "queued_at")
        .first()
    )
    return {
        "window_seconds": window_seconds,
        **_wait_figures([row[2] for row in rows]),
        "by_phase": {phase: _wait_figures(values) for phase, values in by_phase.items()},
        "by_environment": {
            environment: _wait_figures(values) for environment, values in by_environment.items()
        },
        "oldest": None
        if oldest is None
        else {
            "intent_id": oldest["id"],
            "title": oldest["title"],
            "phase": oldest["current_phase"],
            "waiting_seconds": round((now - oldest["queued_at"]).total_seconds(), 3),
        },
    }


def _why_nobody(intent: dispatch.Queued, online: list[Executor], now: datetime) -> str:
    phase = intent.current_phase
    preference = intent.environment_preference
    builder = intent.built_by_id
    if dispatch.separated(builder, intent) and any(
        e.pk == builder and dispatch.serves(e, replace(intent, built_by_id=None), now)
        for e in online
    ):
        return (
            f"separation of duties: only {builder}, which built it, could take its {phase} "
            "phase; it waits for another executor"
        )
    if preference == "either":
        first = dispatch.first_choice(phase)
        in_environment = [e for e in online if first in (None, e.environment)]
        if first and not in_environment:
            spill_at = intent.queued_at + timedelta(seconds=settings.SPILLOVER_SECONDS)
            return (
                f"waiting for its first-choice environment {first}; no {first} executor is "
                f"online; it spills over to the other environment at {spill_at.isoformat()}"
            )
    else:
        in_environment = [e for e in online if e.environment == preference]
        if not in_environment:
            return f"no {preference} executor is online"
    missing = [
        e for e in in_environment if not set(intent.required_capabilities) <= set(e.capabilities)
    ]
    if in_environment and len(missing) == len(in_environment):
        return f"no online executor has the capabilities {intent.required_capabilities}"
    if not online:
        return "no executor is online"
    return "no online executor may take it"


# /state explains at most this many waiting intents, looking at the head of the queue only.
WAITING_LOOKAHEAD = 200
WAITING_SHOWN = 20


def waiting_reasons(
    *, now: datetime, online: list[Executor] | None = None
) -> list[dict[str, Any]]:
    """Queued intents at the head of the queue that no online executor may take now, with the
    reason (separation of duties, environment, capabilities), instead of breaking a rule.
    The head is read as the few columns the rules use, and the rules are asked once per kind
    of intent (phase, environment, capabilities, builder, spilled), not once per intent."""
    head = [
        dispatch.Queued(*row)
        for row in Intent.objects.filter(status=Status.QUEUED)
        .order_by("rank")
        .values_list(*dispatch.Queued.FIELDS)[:WAITING_LOOKAHEAD]
    ]
    if not head:
        return []
    if online is None:
        online = dispatch.online_executors(now)
    served: dict[tuple[Any, ...], bool] = {}
    waiting = []
    for intent in head:
        key = intent.routing_key(now)
        if key not in served:
            served[key] = any(dispatch.serves(e, intent, now) for e in online)
        if served[key]:
            continue
        waiting.append(
            {
                "intent_id": intent.id,
                "title": intent.title,
                "phase": intent.current_phase,
                "waiting_seconds": round((now - intent.queued_at).total_seconds(), 3),
                "reason": _why_nobody(intent, online, now),
            }
        )
        if len(waiting) >= WAITING_SHOWN:
            break
    return waiting


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
    latest: dict[str, VerificationRun] = {}
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
            "id", "title", "current_phase", "status", "assigned_to_id", "phase_progress",
            "progress_message", "assigned_at", "lease_expires_at", "stalled_at", "spilled",
            "priority", "attempts", "last_progress_at",
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
    """The latest events, newest first (the event time index)."""
    from intents.events import event_data

    events = (
        IntentEvent.objects.select_related("intent")
        .defer("intent__spec_text", "intent__artifacts", "intent__build_output",
               "intent__test_results", "intent__phase_progress")
        .order_by("-created_at", "-id")[:RECENT_EVENTS_SHOWN]
    )
    return [event_data(event) for event in events]


# An intent's page shows its whole timeline up to this many events, and its latest gate runs.
INTENT_PAGE_EVENTS = 500
INTENT_PAGE_RUNS = 10
INTENT_ID_MAX_LENGTH = 40  # Intent.id


def intent_page(*, intent_id: str) -> dict[str, Any] | None:
    """One intent for its read-only page: the intent, its timeline (oldest first), its latest
    verification runs (newest first) and its artifacts; None when there is no such intent."""
    # An id the database could not even compare (NUL, over-long) names no intent.
    if "\x00" in intent_id or len(intent_id) > INTENT_ID_MAX_LENGTH:
        return None
    intent = Intent.objects.select_related("assigned_to").filter(pk=intent_id).first()
    if intent is None:
        return None
    return {
        "intent": intent,
        "events": list(intent.events.order_by("created_at", "id")[:INTENT_PAGE_EVENTS]),
        "runs": list(VerificationRun.objects.filter(intent=intent)[:INTENT_PAGE_RUNS]),
        "artifacts": sorted(intent.artifacts.items()),
        # Linked only when it is a web address (the URL is executor input).
        "deployment_link": intent.deployment_url
        if (intent.deployment_url or "").startswith(("http://", "https://"))
        else None,
    }

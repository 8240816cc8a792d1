"""The queue as a submitter sees it: position, estimated start, wait times, and why
queued work waits."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypedDict, cast

from django.conf import settings
from django.db.models import Avg
from django.db.models.fields.json import KT
from django.utils import timezone

from executors.models import Executor
from executors.selectors import (
    executor_alive,
    executors_and_liveness,
)
from intents import dispatch
from intents.counts import queue_counts
from intents.models import WORKING, EventKind, Intent, IntentEvent, Status


def open_counts() -> dict[str, dict[str, int]]:
    """Open intents by phase and status (exact for small queues, a fresh snapshot for large
    ones: intents/counts.py)."""
    return queue_counts().by_phase


def queue_position(intent: Intent) -> int:
    """How many queued intents rank ahead of this one: counted up to COUNTS_EXACT_BELOW; in
    a longer queue, the number queued from the count snapshot, which is then an upper bound
    (counting a very long queue per submission was slow: docs/performance.md)."""
    limit = settings.COUNTS_EXACT_BELOW
    ahead = (
        Intent.objects.filter(status=Status.QUEUED, rank__lt=intent.rank).order_by()[:limit].count()
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
        e
        for e in executors
        if intent.environment_preference in ("either", e.environment)
        and required <= set(e.capabilities)
        and executor_alive(e, now=now, alive=(alive or {}).get(e.executor_id))
    ]
    start = max(now, intent.not_before or now)
    if matching:
        busy = set(
            Intent.objects.filter(status__in=WORKING, assigned_to__in=matching)
            .values_list("assigned_to_id", flat=True)
            .distinct()
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


class OldestQueued(TypedDict):
    id: str
    title: str
    current_phase: str
    queued_at: datetime


def oldest_queued() -> OldestQueued | None:
    """The intent queued longest."""
    return (
        Intent.objects.filter(status=Status.QUEUED)
        .order_by("queued_at")
        .values("id", "title", "current_phase", "queued_at")
        .first()
    )


def queue_wait(
    *, now: datetime, oldest: OldestQueued | None, window_seconds: int = 3600
) -> dict[str, Any]:
    """Time from queued to claimed over the last hour (per phase and environment), and the
    oldest intent waiting now (`oldest_queued`, read once for /state)."""
    # Every duration here is a float: the filter leaves out the null ones. The environment is
    # read out of the payload by the database, not by decoding every payload here.
    rows = cast(
        "list[tuple[str, str | None, float]]",
        list(
            IntentEvent.objects.filter(
                kind=EventKind.ASSIGNED,
                created_at__gte=now - timedelta(seconds=window_seconds),
                duration_seconds__isnull=False,
            )
            .order_by("-created_at")
            .values_list("from_phase", KT("payload__environment"), "duration_seconds")[
                :QUEUE_WAIT_SAMPLE
            ]
        ),
    )
    by_phase: dict[str, list[float]] = {}
    by_environment: dict[str, list[float]] = {}
    for phase, environment, waited in rows:
        by_phase.setdefault(phase, []).append(waited)
        if environment:
            by_environment.setdefault(environment, []).append(waited)
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


def waiting_reasons(*, now: datetime, online: list[Executor] | None = None) -> list[dict[str, Any]]:
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

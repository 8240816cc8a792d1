"""Periodic rules over claimed and held work: stall detection by progress and the review SLA.

An AI executor can stay alive — heartbeating, extending its lease — while making no progress
(lost context, a loop, a question nobody answers). Leases cannot see that; these sweeps can.
They run from the reaper loop and `manage.py reap`, each intent in its own short transaction
with SKIP LOCKED, so they never block the line and two processes never handle one intent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.db import skip_locked
from intents.events import record_event
from intents.models import WORKING, EventKind, Intent, Status
from intents.services.gates import retry_or_fail

SWEEP_ACTOR = "line"
# One sweep handles at most this many intents of each kind; the next sweep takes the rest.
SWEEP_BATCH = 200


@dataclass
class SweepResult:
    stalled: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    overdue: list[str] = field(default_factory=list)


def stall_sweep(*, now: datetime | None = None, result: SweepResult | None = None) -> SweepResult:
    """Rule: claimed work whose progress has not changed for STALL_AFTER_SECONDS is flagged
    `stalled` (event); after STALL_REQUEUE_AFTER_SECONDS it goes back to the queue with
    attempts+1, to another executor (the stalled one gets it back only as a last resort)."""
    now = now or timezone.now()
    result = result or SweepResult()
    flag_before = now - timedelta(seconds=settings.STALL_AFTER_SECONDS)
    requeue_before = now - timedelta(seconds=settings.STALL_REQUEUE_AFTER_SECONDS)
    ids = list(
        Intent.objects.filter(status__in=WORKING, last_progress_at__lt=flag_before)
        .order_by("last_progress_at")
        .values_list("id", flat=True)[:SWEEP_BATCH]
    )
    for intent_id in ids:
        with transaction.atomic():
            intent = skip_locked(
                Intent.objects.filter(
                    pk=intent_id, status__in=WORKING, last_progress_at__lt=flag_before
                )
            ).first()
            if intent is None:
                continue
            assert intent.last_progress_at is not None  # filtered on last_progress_at__lt
            still_for = round((now - intent.last_progress_at).total_seconds(), 3)
            if intent.last_progress_at < requeue_before:
                retry_or_fail(
                    intent=intent,
                    actor=SWEEP_ACTOR,
                    reason={
                        "stalled": f"no progress change for {still_for:.0f} s on "
                        f"{intent.assigned_to_id}",
                        "last_progress_at": intent.last_progress_at.isoformat(),
                        "progress": intent.progress,
                        "message": intent.progress_message,
                    },
                    kind="stalled",
                )
                result.requeued.append(intent.id)
            elif intent.stalled_at is None:
                intent.stalled_at = now
                intent.save(update_fields=["stalled_at", "updated_at"])
                record_event(
                    intent=intent,
                    kind=EventKind.STALLED,
                    actor=SWEEP_ACTOR,
                    executor_id=intent.assigned_to_id or "",
                    from_status=intent.status,
                    from_phase=intent.current_phase,
                    payload={
                        "seconds_without_progress": still_for,
                        "last_progress_at": intent.last_progress_at.isoformat(),
                        "requeue_at": (
                            intent.last_progress_at
                            + timedelta(seconds=settings.STALL_REQUEUE_AFTER_SECONDS)
                        ).isoformat(),
                    },
                )
                result.stalled.append(intent.id)
    return result


def review_sla_sweep(
    *, now: datetime | None = None, result: SweepResult | None = None
) -> SweepResult:
    """Rule: an intent waiting for review longer than REVIEW_SLA_SECONDS breaches the SLA,
    once: a `review_overdue` event (and its metric)."""
    now = now or timezone.now()
    result = result or SweepResult()
    due_before = now - timedelta(seconds=settings.REVIEW_SLA_SECONDS)
    ids = list(
        Intent.objects.filter(
            status=Status.AWAITING_REVIEW,
            review_requested_at__lt=due_before,
            review_overdue_at__isnull=True,
        ).values_list("id", flat=True)[:SWEEP_BATCH]
    )
    for intent_id in ids:
        with transaction.atomic():
            intent = skip_locked(
                Intent.objects.filter(
                    pk=intent_id,
                    status=Status.AWAITING_REVIEW,
                    review_requested_at__lt=due_before,
                    review_overdue_at__isnull=True,
                )
            ).first()
            if intent is None:
                continue
            assert intent.review_requested_at is not None  # filtered on review_requested_at__lt
            intent.review_overdue_at = now
            intent.save(update_fields=["review_overdue_at", "updated_at"])
            record_event(
                intent=intent,
                kind=EventKind.REVIEW_OVERDUE,
                actor=SWEEP_ACTOR,
                from_status=intent.status,
                from_phase=intent.current_phase,
                payload={
                    "waiting_seconds": round((now - intent.review_requested_at).total_seconds(), 3),
                    "sla_seconds": settings.REVIEW_SLA_SECONDS,
                },
            )
            result.overdue.append(intent.id)
    return result


def sweep(*, now: datetime | None = None) -> SweepResult:
    """Both sweeps, as the reaper runs them."""
    result = stall_sweep(now=now)
    return review_sla_sweep(now=now, result=result)

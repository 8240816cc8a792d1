"""Rules of claimed work: progress, and the hand-in judged by the phase gate."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import NotFound
from executors.services import executor_count_phase, executor_touch
from intents.events import record_event
from intents.models import (
    EventKind,
    Intent,
    Status,
)
from intents.services.common import (
    ARTIFACT_FIELDS,
    ensure_holder,
    ensure_phase,
    locked_intent,
    merged_artifacts,
)
from intents.services.gates import Completion, pass_gate, record_gate, retry_or_fail
from verification.registry import gate_levels, run_levels

# What a progress report reads and writes: the spec, artifacts and the rest stay unread.
# Keep `status` in any such list: django-fsm reads it when an instance is made, and a deferred
# field read from the database makes one (a recursion).
PROGRESS_FIELDS = (
    # title: the progress event names the intent (read, saved back unchanged).
    "title",
    "status",
    "current_phase",
    "assigned_to",
    "attempts",
    "phase_progress",
    "progress_message",
    "last_progress_at",
    "stalled_at",
    "lease_expires_at",
    "updated_at",
)


def work_progress(
    *, executor_id: str, actor: str, intent_id: str, phase: str, progress: float, message: str
) -> Intent:
    """Rule: only the holder reports progress, on the intent's current phase. The first report
    moves assigned → in_progress (testing in the test phase); every report extends the lease."""
    now = timezone.now()
    with transaction.atomic():
        intent = locked_intent(intent_id, PROGRESS_FIELDS)
        ensure_holder(intent, executor_id)
        ensure_phase(intent, phase)
        from_status = intent.status
        if intent.status == Status.ASSIGNED:
            intent.start()
        payload: dict[str, Any] = {"progress": progress, "message": message}
        # Stall detection watches progress, not liveness: only a changed report counts.
        if progress != intent.progress or message != intent.progress_message:
            intent.last_progress_at = now
            if intent.stalled_at is not None:
                intent.stalled_at = None
                payload["unstalled"] = True
        intent.phase_progress = {**intent.phase_progress, phase: progress}
        intent.progress_message = message
        intent.lease_expires_at = now + timedelta(seconds=settings.LEASE_SECONDS)
        intent.save()
        record_event(
            intent=intent,
            kind=EventKind.PROGRESS,
            actor=actor,
            executor_id=executor_id,
            from_status=from_status,
            from_phase=phase,
            payload=payload,
        )
        executor_touch(executor_id=executor_id, now=now)
    return intent


def work_complete(
    *,
    executor_id: str,
    actor: str,
    intent_id: str,
    status: str,
    artifacts: dict[str, Any],
    phase: str | None = None,
) -> Completion:
    """Rule: the holder hands in its phase with artifacts; the phase gate judges them.
    Passed → the next phase is queued (or the intent is completed after production, or waits
    for review); failed → back to the queue with attempts+1 and a backoff, failed at
    max_attempts. An executor may also report `status: failed` for its phase, which counts as a
    failed gate."""
    intent = Intent.objects.filter(pk=intent_id).first()
    if intent is None:
        raise NotFound(f"intent {intent_id!r} not found")
    ensure_holder(intent, executor_id)
    ensure_phase(intent, phase)
    checked_phase = intent.current_phase
    outcome = None
    if status == Status.COMPLETED:
        # Outside any transaction: checks may call the built service over HTTP.
        outcome = run_levels(
            intent, merged_artifacts(intent, artifacts), gate_levels(checked_phase)
        )

    now = timezone.now()
    with transaction.atomic():
        intent = locked_intent(intent_id)
        # It may have changed while the checks ran (lease lapsed, cancelled): re-check.
        ensure_holder(intent, executor_id)
        ensure_phase(intent, checked_phase)
        from_status, from_phase = intent.status, intent.current_phase
        intent.artifacts = merged_artifacts(intent, artifacts)
        for key in ARTIFACT_FIELDS:
            if key in artifacts:
                setattr(intent, key, artifacts[key])
        if isinstance(artifacts.get("spec_text"), str):
            intent.spec_text = artifacts["spec_text"]
        intent.phase_progress = {**intent.phase_progress, from_phase: 1.0}
        duration = (now - intent.assigned_at).total_seconds() if intent.assigned_at else None
        record_event(
            intent=intent,
            kind=EventKind.COMPLETED,
            actor=actor,
            executor_id=executor_id,
            from_status=from_status,
            from_phase=from_phase,
            payload={"reported_status": status, "artifacts": sorted(artifacts)},
            duration_seconds=duration,
        )
        if outcome is None:
            passed = False
            reason = {"executor": "the executor reported the phase failed"}
        else:
            # Saved with the rest below: passed or not, the intent's whole row is written.
            record_gate(intent=intent, outcome=outcome, actor=actor, phase=from_phase, save=False)
            passed, reason = outcome.passed, outcome.failures
        executor_count_phase(executor_id=executor_id, passed=passed, seconds=duration)
        if passed:
            pass_gate(intent=intent, actor=actor, executor_id=executor_id)
        else:
            retry_or_fail(intent=intent, actor=actor, reason=reason, kind="gate_failed")
        executor_touch(executor_id=executor_id, now=now)
    advanced = passed and intent.status != Status.AWAITING_REVIEW
    if intent.status == Status.COMPLETED:
        following = Status.COMPLETED
    else:
        following = intent.current_phase
    return Completion(intent, advanced, following, outcome)

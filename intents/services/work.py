"""Rules of claimed work: progress, and the hand-in judged by the phase gate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.errors import NotFound
from executors.services import executor_count_phase
from intents.events import intent_event, record_event
from intents.models import (
    EventKind,
    Intent,
    Status,
)
from intents.services import hotpath
from intents.services.common import (
    ARTIFACT_FIELDS,
    ensure_holder,
    ensure_phase,
    locked_intent,
    merged_artifacts,
)
from intents.services.fleet import executor_called, executor_heard
from intents.services.gates import (
    Completion,
    Pending,
    pass_gate,
    record_gate,
    record_or_hold,
    retry_or_fail,
)
from verification.registry import VerificationOutcome, gate_levels, run_levels


def work_progress(
    *, executor_id: str, actor: str, intent_id: str, phase: str, progress: float, message: str
) -> Intent:
    """Rule: only the holder reports progress, on the intent's current phase. The first report
    moves assigned → in_progress (testing in the test phase); every report extends the lease."""
    if connection.vendor != "postgresql":
        return progress_orm(
            executor_id=executor_id,
            actor=actor,
            intent_id=intent_id,
            phase=phase,
            progress=progress,
            message=message,
        )
    now = timezone.now()
    done = hotpath.progress(
        executor_id=executor_id,
        actor=actor,
        intent_id=intent_id,
        phase=phase,
        progress=progress,
        message=message,
        now=now,
        lease=now + timedelta(seconds=settings.LEASE_SECONDS),
    )
    if done is None:
        # Not held in that phase, or no such intent: the ORM path's checks give the refusal.
        return progress_orm(
            executor_id=executor_id,
            actor=actor,
            intent_id=intent_id,
            phase=phase,
            progress=progress,
            message=message,
        )
    executor_called(executor_id=executor_id, actor=actor, now=now, events=[done.event])
    return done.intent


def progress_orm(
    *, executor_id: str, actor: str, intent_id: str, phase: str, progress: float, message: str
) -> Intent:
    """`work_progress` through the ORM and the state machine (SQLite; refusals)."""
    now = timezone.now()
    with transaction.atomic():
        intent = locked_intent(intent_id, hotpath.PROGRESS_READS)
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
        executor_heard(executor_id=executor_id, actor=actor, now=now)
    return intent


def work_complete(
    *,
    executor_id: str,
    actor: str,
    intent_id: str,
    status: str,
    artifacts: dict[str, Any],
    phase: str | None = None,
    sql: bool | None = None,
) -> Completion:
    """Rule: the holder hands in its phase with artifacts; the phase gate judges them.
    Passed → the next phase is queued (or the intent is completed after production, or waits
    for review); failed → back to the queue with attempts+1 and a backoff, failed at
    max_attempts. An executor may also report `status: failed` for its phase, which counts as a
    failed gate.

    On PostgreSQL the decided hand-in is written in one statement; when the row changed after
    the gate read it, the ORM path makes the change under the row lock. `sql` picks a path
    whatever the database (the property test and the bench compare them)."""
    in_one = connection.vendor == "postgresql" if sql is None else sql
    if in_one:
        intent = hotpath.read(intent_id)
    else:
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
    if in_one:
        before = hotpath.row_values(intent)
        pending = Pending()
        hand = hand_in(
            intent,
            executor_id=executor_id,
            actor=actor,
            status=status,
            artifacts=artifacts,
            outcome=outcome,
            now=now,
            pending=pending,
        )
        # One statement: no transaction of its own is needed.
        if hotpath.complete(
            intent=intent,
            before=before,
            pending=pending,
            executor_id=executor_id,
            phase=checked_phase,
            now=now,
            passed=hand.passed,
            seconds=hand.duration,
        ):
            # After commit: the heartbeat, and the hand-in's events together.
            executor_called(executor_id=executor_id, actor=actor, now=now, events=pending.events)
            return completion(intent, hand.passed, outcome)

    with transaction.atomic():
        intent = locked_intent(intent_id)
        # It may have changed while the checks ran (lease lapsed, cancelled): re-check.
        ensure_holder(intent, executor_id)
        ensure_phase(intent, checked_phase)
        hand = hand_in(
            intent,
            executor_id=executor_id,
            actor=actor,
            status=status,
            artifacts=artifacts,
            outcome=outcome,
            now=now,
        )
        executor_heard(executor_id=executor_id, actor=actor, now=now)
    return completion(intent, hand.passed, outcome)


@dataclass
class HandIn:
    passed: bool
    duration: float | None


def hand_in(
    intent: Intent,
    *,
    executor_id: str,
    actor: str,
    status: str,
    artifacts: dict[str, Any],
    outcome: VerificationOutcome | None,
    now: datetime,
    pending: Pending | None = None,
) -> HandIn:
    """The holder's hand-in applied to the intent: its artifacts, the COMPLETED event, the
    gate's run and what follows. Written now (the ORM path, the executor's counts included)
    or held in `pending`, to be written in one statement."""
    from_status, from_phase = intent.status, intent.current_phase
    intent.artifacts = merged_artifacts(intent, artifacts)
    for key in ARTIFACT_FIELDS:
        if key in artifacts:
            setattr(intent, key, artifacts[key])
    if isinstance(artifacts.get("spec_text"), str):
        intent.spec_text = artifacts["spec_text"]
    intent.phase_progress = {**intent.phase_progress, from_phase: 1.0}
    duration = (now - intent.assigned_at).total_seconds() if intent.assigned_at else None
    event = intent_event(
        intent=intent,
        kind=EventKind.COMPLETED,
        actor=actor,
        executor_id=executor_id,
        from_status=from_status,
        from_phase=from_phase,
        payload={"reported_status": status, "artifacts": sorted(artifacts)},
        duration_seconds=duration,
    )
    record_or_hold(event, pending)
    if outcome is None:
        passed = False
        reason = {"executor": "the executor reported the phase failed"}
    else:
        # Saved with the rest below: passed or not, the intent's whole row is written.
        record_gate(
            intent=intent,
            outcome=outcome,
            actor=actor,
            phase=from_phase,
            save=False,
            pending=pending,
        )
        passed, reason = outcome.passed, outcome.failures
    if pending is None:
        executor_count_phase(executor_id=executor_id, passed=passed, seconds=duration)
    if passed:
        pass_gate(intent=intent, actor=actor, executor_id=executor_id, pending=pending)
    else:
        retry_or_fail(
            intent=intent, actor=actor, reason=reason, kind="gate_failed", pending=pending
        )
    return HandIn(passed, duration)


def completion(intent: Intent, passed: bool, outcome: VerificationOutcome | None) -> Completion:
    advanced = passed and intent.status != Status.AWAITING_REVIEW
    if intent.status == Status.COMPLETED:
        following = Status.COMPLETED
    else:
        following = intent.current_phase
    return Completion(intent, advanced, following, outcome)

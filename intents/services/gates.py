"""The phase gate and what follows it: advance, hold for review, retry or fail; and
on-demand verification, which never moves the intent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from core.errors import NotAllowed, NotFound
from intents import dispatch
from intents.events import intent_event, record
from intents.models import (
    FINAL,
    WORKING,
    EventKind,
    Intent,
    IntentEvent,
    Phase,
    Status,
    next_phase,
    queue_rank,
)
from intents.services.common import merged_artifacts, retry_backoff
from intents.throttles import verify_rate_check
from verification.models import VerificationRun
from verification.registry import VerificationOutcome, gate_levels, run_levels
from verification.services import verification_run, verification_run_record


@dataclass
class Completion:
    intent: Intent
    auto_advanced: bool
    next_phase: str
    outcome: VerificationOutcome | None


@dataclass
class Pending:
    """Writes held back to be made in one statement (intents/services/hotpath.py): the rules
    below then change the intent in memory only and collect its rows here."""

    events: list[IntentEvent] = field(default_factory=list)
    runs: list[VerificationRun] = field(default_factory=list)
    # The intent's new rank as an SQL expression (`dispatch.enqueue_rank_sql`): its fair
    # share is read by the write itself.
    rank: tuple[str, list[Any]] | None = None


def record_or_hold(event: IntentEvent, pending: Pending | None) -> None:
    """The event saved now (the ORM path), or held in `pending`."""
    if pending is None:
        record(event)
    else:
        pending.events.append(event)


def write(intent: Intent, event: IntentEvent, pending: Pending | None) -> None:
    """The intent's row and its event, now (the ORM path) or held in `pending`."""
    if pending is None:
        intent.save()
    record_or_hold(event, pending)


def record_gate(
    *,
    intent: Intent,
    outcome: VerificationOutcome,
    actor: str,
    phase: str,
    save: bool = True,
    pending: Pending | None = None,
) -> None:
    """The gate's run and VERIFIED event; the intent's level and score are set, and saved
    unless the caller saves the whole row next (`save=False`, or `pending`)."""
    run = verification_run(
        intent_id=intent.pk,
        phase=phase,
        level=outcome.level,
        passed=outcome.passed,
        checks=outcome.checks,
        gate=True,
    )
    if pending is None:
        verification_run_record(run)
    else:
        pending.runs.append(run)
    if outcome.passed:
        intent.verification_level = outcome.verified_level(intent.verification_level)
    intent.quality_score = outcome.quality_score
    if save and pending is None:
        intent.save(update_fields=["verification_level", "quality_score", "updated_at"])
    event = intent_event(
        intent=intent,
        kind=EventKind.VERIFIED,
        actor=actor,
        from_status=intent.status,
        from_phase=intent.current_phase,
        payload={
            "gate": phase,
            "passed": outcome.passed,
            "level": outcome.level,
            "checks": outcome.checks,
        },
    )
    record_or_hold(event, pending)


def _review_due(intent: Intent) -> bool:
    if not intent.requires_human_review:
        return False
    following = next_phase(intent.current_phase) or Status.COMPLETED
    return following in settings.REVIEW_BEFORE_PHASES


def pass_gate(
    *, intent: Intent, actor: str, executor_id: str | None, pending: Pending | None = None
) -> None:
    if intent.status != Status.QUEUED and _review_due(intent):
        from_status = intent.status
        intent.hold_for_review()
        if executor_id is not None:
            intent.previous_executor_id = executor_id
        intent.let_go()
        intent.review_requested_at = timezone.now()
        event = intent_event(
            intent=intent,
            kind=EventKind.REVIEW_REQUESTED,
            actor=actor,
            from_status=from_status,
            from_phase=intent.current_phase,
        )
        write(intent, event, pending)
        return
    advance(intent=intent, actor=actor, executor_id=executor_id, pending=pending)


def advance(
    *, intent: Intent, actor: str, executor_id: str | None, pending: Pending | None = None
) -> None:
    """Into the next phase's queue, or completed after production."""
    now = timezone.now()
    from_status, from_phase = intent.status, intent.current_phase
    if intent.current_phase == Phase.PRODUCTION:
        intent.finish()
        intent.finished_at = now
    else:
        intent.advance_phase()
        if intent.status != Status.QUEUED:
            intent.requeue()
        intent.queued_at = now
        if pending is None:
            intent.rank = dispatch.enqueue_rank(intent, now)
        else:
            intent.rank = queue_rank(now, intent.priority)  # until the write says
            pending.rank = dispatch.enqueue_rank_sql(intent, now)
        intent.attempts = 0
        intent.not_before = None
    if executor_id is not None:
        intent.previous_executor_id = executor_id
        if from_phase == Phase.BUILD:
            intent.built_by_id = executor_id
    intent.let_go()
    intent.progress_message = ""
    intent.avoid_executor = None
    intent.spilled = False
    intent.last_progress_at = None
    event = intent_event(
        intent=intent,
        kind=EventKind.ADVANCED,
        actor=actor,
        from_status=from_status,
        from_phase=from_phase,
    )
    write(intent, event, pending)


def retry_or_fail(
    *,
    intent: Intent,
    actor: str,
    reason: dict[str, Any],
    kind: str,
    pending: Pending | None = None,
) -> None:
    """Back to the queue of the same phase with attempts+1 and an exponential backoff, or
    failed at max_attempts."""
    now = timezone.now()
    from_status, from_phase = intent.status, intent.current_phase
    intent.attempts += 1
    payload = {"why": kind, "reason": reason, "attempts": intent.attempts}
    # Retry on a different executor: whoever failed it gets it back only as a last resort.
    failed_by = intent.assigned_to_id or intent.previous_executor_id
    if failed_by:
        intent.avoid_executor_id = failed_by
        payload["failed_by"] = failed_by
    intent.let_go()
    if intent.attempts >= intent.max_attempts:
        intent.fail()
        intent.finished_at = now
        event = intent_event(
            intent=intent,
            kind=EventKind.FAILED,
            actor=actor,
            from_status=from_status,
            from_phase=from_phase,
            payload=payload,
        )
        write(intent, event, pending)
        return
    intent.requeue()
    intent.queued_at = now
    intent.not_before = now + retry_backoff(intent.attempts)
    payload["not_before"] = intent.not_before.isoformat()
    event = intent_event(
        intent=intent,
        kind=EventKind.REQUEUED,
        actor=actor,
        from_status=from_status,
        from_phase=from_phase,
        payload=payload,
    )
    write(intent, event, pending)


@dataclass
class Verification:
    run: VerificationRun
    outcome: VerificationOutcome
    # The levels 1..N asked for all passed.
    passed: bool
    # The gate of `phase` would pass now and the intent is in that phase, not final.
    can_advance: bool
    verified_level: int


def intent_verify(
    *,
    intent_id: str,
    level: int,
    phase: str,
    actor: str,
    is_admin: bool,
    executor_id: str | None = None,
    artifacts: dict[str, Any] | None = None,
) -> Verification:
    """Rule: run levels 1..`level` (and the phase's own gate levels, to answer can_advance)
    against the intent's artifacts, plus any given here, record a VerificationRun and never
    move the intent. No transaction around the checks: they call the built service.

    Only the intent's submitter (`actor`, a `principal_identity`), the executor holding it
    now (`executor_id`, for an executor token) and admins may: checks make the server call
    out and each run is stored, so nobody else's call gets that far."""
    intent = Intent.objects.filter(pk=intent_id).first()
    if intent is None:
        raise NotFound(f"intent {intent_id!r} not found")
    holds = (
        executor_id is not None
        and intent.assigned_to_id == executor_id
        and intent.status in WORKING
    )
    if not (is_admin or intent.created_by == actor or holds):
        raise NotAllowed(
            f"only the submitter of intent {intent.id}, the executor holding it and admins "
            "may verify it"
        )
    # Counted only for callers who may verify, so nobody else can spend an intent's budget.
    verify_rate_check(intent_id=intent.id)
    asked: list[str | int] = list(range(1, level + 1))
    gate = gate_levels(phase)
    outcome = run_levels(
        intent,
        merged_artifacts(intent, artifacts or {}),
        asked + [lv for lv in gate if lv not in asked],
    )
    checks = outcome.checks
    passed = all(c["passed"] or not c["blocking"] for c in checks.values() if c["level"] in asked)
    gate_passed = all(
        c["passed"] or not c["blocking"] for c in checks.values() if c["level"] in gate
    )
    can_advance = gate_passed and intent.current_phase == phase and intent.status not in FINAL
    run = verification_run_record(
        verification_run(
            intent_id=intent.pk, phase=phase, level=level, passed=passed, checks=checks, gate=False
        )
    )
    verified = outcome.verified_level(0)
    return Verification(run, outcome, passed, can_advance, verified)

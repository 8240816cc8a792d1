"""Every rule of the line, one function each. The shape of each write:
transaction → row lock → FSM transition → save → IntentEvent → on_commit broadcast.
Verification checks (which may make network calls) run before the transaction, never inside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from assemblyline import metrics
from assemblyline.errors import InvalidInput, NotAllowed, NotFound, TransitionNotAllowed
from executors.live import live
from executors.models import Executor
from executors.services import executor_get, executor_touch
from intents import dispatch
from intents.events import record_event, record_executor_event
from intents.models import (
    FINAL,
    OPEN,
    WORKING,
    EventKind,
    IdempotencyKey,
    Intent,
    IntentEvent,
    Phase,
    Status,
    next_phase,
)
from intents.throttles import verify_rate_check
from verification.models import VerificationRun
from verification.registry import VerificationOutcome, gate_levels, run_levels

# Artifact keys that also fill the spec's BuildIntent fields of the same name.
ARTIFACT_FIELDS = ("build_output", "test_results", "deployment_url")


def current_state(intent: Intent) -> dict[str, Any]:
    """What a 409 tells the caller about the intent now."""
    return {
        "intent_id": intent.id,
        "status": intent.status,
        "phase": intent.current_phase,
        "assigned_to": intent.assigned_to_id,
        "attempts": intent.attempts,
    }


def retry_backoff(attempts: int) -> timedelta:
    seconds = settings.RETRY_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.RETRY_BACKOFF_MAX_SECONDS))


def _locked(intent_id: str, fields: tuple[str, ...] = ()) -> Intent:
    """The intent, row-locked until the transaction ends; only `fields` are read (and then
    saved) when given."""
    queryset = Intent.objects.select_for_update()
    if fields:
        queryset = queryset.only(*fields)
    try:
        return queryset.get(pk=intent_id)
    except Intent.DoesNotExist:
        raise NotFound(f"intent {intent_id!r} not found") from None


# What a claim writes (the spec and artifacts are read for the answer, not written back).
CLAIM_FIELDS = (
    "status", "assigned_to", "assigned_at", "lease_expires_at", "last_progress_at",
    "stalled_at", "spilled", "updated_at",
)

# What a progress report reads and writes: the spec, artifacts and the rest stay unread.
# Keep `status` in any such list: django-fsm reads it when an instance is made, and a deferred
# field read from the database makes one (a recursion).
PROGRESS_FIELDS = (
    # title: the progress event names the intent (read, saved back unchanged).
    "title", "status", "current_phase", "assigned_to", "attempts", "phase_progress",
    "progress_message", "last_progress_at", "stalled_at", "lease_expires_at", "updated_at",
)


# --- submit -------------------------------------------------------------------------------


def intent_submit(
    *,
    actor: str,
    title: str,
    actor_label: str = "",
    spec_path: str = "",
    spec_text: str = "",
    priority: int = 5,
    environment_preference: str = "either",
    requires_human_review: bool = False,
    required_capabilities: list[str] | None = None,
    max_attempts: int | None = None,
) -> Intent:
    """Rule: a new intent enters the queue in SPEC. Its spec is checked at once; a spec that
    already passes the SPEC gate moves it straight to the BUILD queue (the line auto-advances
    whenever a gate passes).

    `actor`: the submitter's `principal_identity`, which owns the intent; `actor_label`: the
    name shown for it."""
    now = timezone.now()
    intent = Intent(
        title=title,
        spec_path=spec_path,
        spec_text=spec_text,
        priority=priority,
        environment_preference=environment_preference,
        requires_human_review=requires_human_review,
        required_capabilities=sorted(set(required_capabilities or [])),
        max_attempts=max_attempts or settings.MAX_ATTEMPTS,
        created_by=actor,
        created_by_label=actor_label or actor,
        created_at=now,
        queued_at=now,
    )
    intent.rank = dispatch.enqueue_rank(intent, now)
    outcome = run_levels(intent, {}, gate_levels(Phase.SPEC))
    with transaction.atomic():
        intent.save(force_insert=True)
        record_event(
            intent=intent,
            kind=EventKind.SUBMITTED,
            actor=actor,
            from_status="",
            from_phase="",
            payload={"priority": priority, "environment_preference": environment_preference},
        )
        _record_gate(intent=intent, outcome=outcome, actor=actor, phase=Phase.SPEC)
        if outcome.passed:
            _pass_gate(intent=intent, actor=actor, executor_id=None)
    return intent


def intent_submit_once(
    *,
    actor: str,
    key: str,
    request_hash: str,
    submit: dict[str, Any],
    answer: Callable[[Intent], dict[str, Any]],
    actor_label: str = "",
) -> tuple[dict[str, Any], bool]:
    """Rule: a submission with an idempotency key is made once per caller and key; a repeat
    gets the first answer back (replayed=True), a repeat with a different body is a 409.
    Race-safe: the key row is inserted in the transaction of the intent, under a unique
    constraint, so of two concurrent first submissions one intent survives."""
    def replay() -> tuple[dict[str, Any], bool] | None:
        first = IdempotencyKey.objects.filter(actor=actor, key=key).first()
        if first is None:
            return None
        if first.request_hash != request_hash:
            raise TransitionNotAllowed(
                f"Idempotency-Key {key!r} was already used with a different request body"
            )
        return first.response, True

    earlier = replay()
    if earlier is not None:
        return earlier
    try:
        with transaction.atomic():
            intent = intent_submit(actor=actor, actor_label=actor_label, **submit)
            response = answer(intent)
            IdempotencyKey.objects.create(
                actor=actor, key=key, request_hash=request_hash, intent=intent, response=response
            )
    except IntegrityError:
        earlier = replay()
        if earlier is None:
            raise
        return earlier
    return response, False


# --- claim --------------------------------------------------------------------------------


@dataclass
class Claim:
    intent: Intent | None
    reason: str = ""
    # Never claimed before (assigned_at is set by a claim and never cleared).
    first_claim: bool = False


def work_claim(*, executor_id: str, actor: str, look_first: bool = False) -> Claim:
    """Rule: an executor gets the best queued intent it can take (environment with spillover,
    capabilities, separation of duties, priority with ageing and fair share, affinity, retry
    elsewhere: see `intents.dispatch`), never more than its max_concurrent at once, and never
    one another executor holds. The claim starts a lease and the progress clock.

    look_first: one cheap query first, and an empty answer at once when nothing is queued for
    anyone (long polls, which are mostly made when the line is idle)."""
    now = timezone.now()
    if look_first and not dispatch.anything_claimable(now):
        # Nothing is queued for anyone: no lock, no routing (an idle fleet's polls are cheap).
        executor = executor_get(executor_id=executor_id)
        if executor_touch(executor_id=executor_id, executor=executor, now=now):
            record_executor_event(executor=executor, kind=EventKind.EXECUTOR_ONLINE, actor=actor)
        metrics.claim_empty()
        return Claim(None, "no queued intent: the queue is empty")
    with transaction.atomic():
        # Locking the executor row serializes one executor's own claims, so max_concurrent
        # cannot be overrun by parallel requests of the same executor.
        executor = executor_get(
            executor_id=executor_id, queryset=Executor.objects.select_for_update()
        )
        came_online = executor_touch(executor_id=executor_id, executor=executor, now=now)
        if came_online:
            record_executor_event(executor=executor, kind=EventKind.EXECUTOR_ONLINE, actor=actor)
        # Counted after the lock is held, in a statement of its own: a count read with the
        # locking SELECT comes from its snapshot, taken before the wait, and misses the
        # claims committed meanwhile.
        holding = dispatch.holding_count(executor.pk)
        if holding >= executor.max_concurrent:
            metrics.claim_empty()
            return Claim(None, f"executor holds {holding} intent(s), its max_concurrent")
        intent = dispatch.pick(executor, now)
        if intent is None:
            reason = "no queued intent matches this executor"
            metrics.claim_empty()
            return Claim(None, reason + dispatch.held_back_reason(executor, now))
        from_status = intent.status
        first_claim = intent.assigned_at is None
        waited = max((now - intent.queued_at).total_seconds(), 0.0)
        intent.claim()
        intent.assigned_to = executor
        intent.assigned_at = now
        intent.lease_expires_at = now + timedelta(seconds=settings.LEASE_SECONDS)
        intent.last_progress_at = now
        intent.stalled_at = None
        intent.spilled = dispatch.is_spill(executor, intent)
        intent.save(update_fields=CLAIM_FIELDS)
        record_event(
            intent=intent,
            kind=EventKind.ASSIGNED,
            actor=actor,
            executor_id=executor.pk,
            from_status=from_status,
            from_phase=intent.current_phase,
            payload={
                "attempt": intent.attempts + 1,
                "environment": executor.environment,
                "spilled": intent.spilled,
            },
            # Queue wait: from entering this phase's queue (or its re-queue) to this claim.
            duration_seconds=waited,
        )
    return Claim(intent, first_claim=first_claim)


# --- progress -----------------------------------------------------------------------------


def _ensure_holder(intent: Intent, executor_id: str) -> None:
    """403 for work that was never this executor's; 409 for work it no longer holds (lease
    lost, re-queued, cancelled, reassigned) or that is not being worked on."""
    if intent.assigned_to_id == executor_id and intent.status in WORKING:
        return
    if intent.assigned_to_id not in (None, executor_id):
        held_before = IntentEvent.objects.filter(
            intent=intent, kind=EventKind.ASSIGNED, executor_id=executor_id
        ).exists()
        if not held_before:
            raise NotAllowed(f"intent {intent.id} is assigned to another executor")
        raise TransitionNotAllowed(
            f"intent {intent.id} was reassigned; you no longer hold it",
            current=current_state(intent),
        )
    raise TransitionNotAllowed(
        f"intent {intent.id} is {intent.status} in {intent.current_phase}, not in progress "
        "with you",
        current=current_state(intent),
    )


def _ensure_phase(intent: Intent, phase: str | None) -> None:
    if phase and phase != intent.current_phase:
        raise TransitionNotAllowed(
            f"intent {intent.id} is in phase {intent.current_phase}, not {phase}",
            current=current_state(intent),
        )


def work_progress(
    *, executor_id: str, actor: str, intent_id: str, phase: str, progress: float, message: str
) -> Intent:
    """Rule: only the holder reports progress, on the intent's current phase. The first report
    moves assigned → in_progress (testing in the test phase); every report extends the lease."""
    now = timezone.now()
    with transaction.atomic():
        intent = _locked(intent_id, PROGRESS_FIELDS)
        _ensure_holder(intent, executor_id)
        _ensure_phase(intent, phase)
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


# --- complete and the gate ----------------------------------------------------------------


@dataclass
class Completion:
    intent: Intent
    auto_advanced: bool
    next_phase: str
    outcome: VerificationOutcome | None


def _merged(intent: Intent, artifacts: dict[str, Any]) -> dict[str, Any]:
    return {**intent.artifacts, **artifacts}


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
    _ensure_holder(intent, executor_id)
    _ensure_phase(intent, phase)
    checked_phase = intent.current_phase
    outcome = None
    if status == Status.COMPLETED:
        # Outside any transaction: checks may call the built service over HTTP.
        outcome = run_levels(intent, _merged(intent, artifacts), gate_levels(checked_phase))

    now = timezone.now()
    with transaction.atomic():
        intent = _locked(intent_id)
        # It may have changed while the checks ran (lease lapsed, cancelled): re-check.
        _ensure_holder(intent, executor_id)
        _ensure_phase(intent, checked_phase)
        from_status, from_phase = intent.status, intent.current_phase
        intent.artifacts = _merged(intent, artifacts)
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
            _record_gate(intent=intent, outcome=outcome, actor=actor, phase=from_phase,
                         save=False)
            passed, reason = outcome.passed, outcome.failures
        if passed:
            Executor.objects.filter(pk=executor_id).update(
                builds_completed=F("builds_completed") + 1,
                total_build_seconds=F("total_build_seconds") + (duration or 0.0),
            )
            _pass_gate(intent=intent, actor=actor, executor_id=executor_id)
        else:
            Executor.objects.filter(pk=executor_id).update(builds_failed=F("builds_failed") + 1)
            _retry_or_fail(intent=intent, actor=actor, reason=reason, kind="gate_failed")
        executor_touch(executor_id=executor_id, now=now)
    advanced = passed and intent.status != Status.AWAITING_REVIEW
    if intent.status == Status.COMPLETED:
        following = Status.COMPLETED
    else:
        following = intent.current_phase
    return Completion(intent, advanced, following, outcome)


def _record_gate(
    *, intent: Intent, outcome: VerificationOutcome, actor: str, phase: str, save: bool = True
) -> None:
    """The gate's run and VERIFIED event; the intent's level and score are set, and saved
    unless the caller saves the whole row next (`save=False`)."""
    VerificationRun.objects.create(
        intent=intent,
        phase=phase,
        level=outcome.level,
        passed=outcome.passed,
        checks=outcome.checks,
        gate=True,
    )
    if outcome.passed:
        intent.verification_level = outcome.verified_level(intent.verification_level)
    intent.quality_score = outcome.quality_score
    if save:
        intent.save(update_fields=["verification_level", "quality_score", "updated_at"])
    record_event(
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


def _review_due(intent: Intent) -> bool:
    if not intent.requires_human_review:
        return False
    following = next_phase(intent.current_phase) or Status.COMPLETED
    return following in settings.REVIEW_BEFORE_PHASES


def _pass_gate(*, intent: Intent, actor: str, executor_id: str | None) -> None:
    if intent.status != Status.QUEUED and _review_due(intent):
        from_status = intent.status
        intent.hold_for_review()
        if executor_id is not None:
            intent.previous_executor_id = executor_id
        intent.assigned_to = None
        intent.lease_expires_at = None
        intent.stalled_at = None
        intent.review_requested_at = timezone.now()
        intent.review_overdue_at = None
        intent.save()
        record_event(
            intent=intent,
            kind=EventKind.REVIEW_REQUESTED,
            actor=actor,
            from_status=from_status,
            from_phase=intent.current_phase,
        )
        return
    _advance(intent=intent, actor=actor, executor_id=executor_id)


def _advance(*, intent: Intent, actor: str, executor_id: str | None) -> None:
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
        intent.rank = dispatch.enqueue_rank(intent, now)
        intent.attempts = 0
        intent.not_before = None
    if executor_id is not None:
        intent.previous_executor_id = executor_id
        if from_phase == Phase.BUILD:
            intent.built_by_id = executor_id
    intent.assigned_to = None
    intent.lease_expires_at = None
    intent.progress_message = ""
    intent.avoid_executor = None
    intent.spilled = False
    intent.stalled_at = None
    intent.last_progress_at = None
    intent.review_requested_at = None
    intent.review_overdue_at = None
    intent.save()
    record_event(
        intent=intent,
        kind=EventKind.ADVANCED,
        actor=actor,
        from_status=from_status,
        from_phase=from_phase,
    )


def _retry_or_fail(*, intent: Intent, actor: str, reason: dict[str, Any], kind: str) -> None:
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
    intent.assigned_to = None
    intent.lease_expires_at = None
    intent.stalled_at = None
    intent.review_requested_at = None
    intent.review_overdue_at = None
    if intent.attempts >= intent.max_attempts:
        intent.fail()
        intent.finished_at = now
        intent.save()
        record_event(
            intent=intent,
            kind=EventKind.FAILED,
            actor=actor,
            from_status=from_status,
            from_phase=from_phase,
            payload=payload,
        )
        return
    intent.requeue()
    intent.queued_at = now
    intent.not_before = now + retry_backoff(intent.attempts)
    payload["not_before"] = intent.not_before.isoformat()
    intent.save()
    record_event(
        intent=intent,
        kind=EventKind.REQUEUED,
        actor=actor,
        from_status=from_status,
        from_phase=from_phase,
        payload=payload,
    )


# --- leases, lost executors and admin requeue ---------------------------------------------


def lease_reap(*, intent_id: str, now: datetime, actor: str = "reaper") -> Intent | None:
    """Rule: claimed work whose lease lapsed (no progress, heartbeat or executor call for
    LEASE_SECONDS) goes back to its phase's queue with attempts+1 and a backoff (failed at
    max_attempts), and its silent executor is marked offline. Returns the intent if reaped."""
    with transaction.atomic():
        queryset = Intent.objects.filter(
            pk=intent_id, status__in=WORKING, lease_expires_at__lt=now
        ).select_related("assigned_to")
        if connection.vendor == "postgresql":
            queryset = queryset.select_for_update(skip_locked=True, of=("self",))
        else:
            queryset = queryset.select_for_update()
        intent = queryset.first()
        if intent is None:
            return None
        holder = intent.assigned_to
        assert intent.lease_expires_at is not None
        _retry_or_fail(
            intent=intent,
            actor=actor,
            reason={
                "lease_expired_at": intent.lease_expires_at.isoformat(),
                "executor": intent.assigned_to_id,
            },
            kind="lease_expired",
        )
        if holder is not None:
            executor_mark_offline(
                executor=holder, actor=actor, reason=f"lease on {intent.id} lapsed"
            )
    return intent


def executor_mark_offline(*, executor: Executor, actor: str, reason: str) -> bool:
    """Announce an executor offline once (event `executor_offline`); its live key is
    dropped. Returns True when it was announced online before."""
    changed = Executor.objects.filter(pk=executor.pk, online=True).update(online=False)
    live.forget(executor.pk)
    if changed:
        executor.online = False
        record_executor_event(
            executor=executor,
            kind=EventKind.EXECUTOR_OFFLINE,
            actor=actor,
            payload={"reason": reason},
        )
    return bool(changed)


def intent_requeue(*, intent_id: str, actor: str, reason: str = "") -> Intent:
    """Rule (admin): put an intent back in its phase's queue — work in progress is taken from
    its executor (which gets 409 on its next report, and the intent back only as a last
    resort), a held review is dropped, a failed intent gets a fresh set of attempts."""
    now = timezone.now()
    with transaction.atomic():
        intent = _locked(intent_id)
        from_status = intent.status
        if intent.status == Status.FAILED:
            intent.revive()
            intent.attempts = 0
            intent.finished_at = None
        elif intent.status in (*WORKING, Status.AWAITING_REVIEW):
            intent.requeue()
            if intent.assigned_to_id:
                intent.avoid_executor_id = intent.assigned_to_id
        else:
            raise TransitionNotAllowed(
                f"intent {intent.id} is {intent.status}; only work in progress, a held review "
                "or a failed intent can be re-queued",
                current=current_state(intent),
            )
        intent.assigned_to = None
        intent.lease_expires_at = None
        intent.stalled_at = None
        intent.review_requested_at = None
        intent.review_overdue_at = None
        intent.not_before = None
        intent.queued_at = now
        intent.save()
        record_event(
            intent=intent,
            kind=EventKind.REQUEUED,
            actor=actor,
            from_status=from_status,
            from_phase=intent.current_phase,
            payload={
                "why": "admin_requeue",
                "reason": {"admin": reason},
                "attempts": intent.attempts,
            },
        )
    return intent


# --- on-demand verification ------------------------------------------------------------


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
    holds = (executor_id is not None and intent.assigned_to_id == executor_id
             and intent.status in WORKING)
    if not (is_admin or intent.created_by == actor or holds):
        raise NotAllowed(
            f"only the submitter of intent {intent.id}, the executor holding it and admins "
            "may verify it"
        )
    # Counted only for callers who may verify, so nobody else can spend an intent's budget.
    verify_rate_check(intent_id=intent.id)
    asked: list[str | int] = list(range(1, level + 1))
    gate = gate_levels(phase)
    outcome = run_levels(intent, _merged(intent, artifacts or {}),
                         asked + [lv for lv in gate if lv not in asked])
    checks = outcome.checks
    passed = all(c["passed"] or not c["blocking"] for c in checks.values()
                 if c["level"] in asked)
    gate_passed = all(c["passed"] or not c["blocking"] for c in checks.values()
                      if c["level"] in gate)
    can_advance = (gate_passed and intent.current_phase == phase
                   and intent.status not in FINAL)
    run = VerificationRun.objects.create(
        intent=intent, phase=phase, level=level, passed=passed, checks=checks, gate=False
    )
    verified = outcome.verified_level(0)
    return Verification(run, outcome, passed, can_advance, verified)


# --- review and cancel ----------------------------------------------------------------------


def _awaiting_review(intent_id: str, reviewer: str, reviewer_label: str) -> Intent:
    intent = _locked(intent_id)
    # Identities, not names: two tokens may share a name.
    if settings.REVIEWER_NOT_SUBMITTER and intent.created_by == reviewer:
        raise NotAllowed(
            f"{reviewer_label or reviewer} submitted intent {intent.id} and cannot review it "
            "(separation of duties: REVIEWER_NOT_SUBMITTER)"
        )
    if intent.status != Status.AWAITING_REVIEW:
        raise TransitionNotAllowed(
            f"intent {intent.id} is {intent.status}, not awaiting review",
            current=current_state(intent),
        )
    return intent


def intent_approve(
    *, intent_id: str, reviewer: str, note: str = "", reviewer_label: str = ""
) -> Intent:
    """Rule: a reviewer's approval lets a held intent move on as its gate allowed.
    `reviewer`: the reviewer's `principal_identity`; `reviewer_label`: the name shown."""
    with transaction.atomic():
        intent = _awaiting_review(intent_id, reviewer, reviewer_label)
        intent.reviewed_by = reviewer
        intent.reviewed_by_label = reviewer_label or reviewer
        intent.reviewed_at = timezone.now()
        record_event(
            intent=intent,
            kind=EventKind.APPROVED,
            actor=reviewer,
            from_status=intent.status,
            from_phase=intent.current_phase,
            payload={"note": note},
        )
        _advance(intent=intent, actor=reviewer, executor_id=intent.previous_executor_id)
    return intent


def intent_reject(
    *, intent_id: str, reviewer: str, reason: str, reviewer_label: str = ""
) -> Intent:
    """Rule: a rejection sends the intent back to its phase's queue with the reason and
    attempts+1 (failed at max_attempts)."""
    if not reason.strip():
        raise InvalidInput("a rejection needs a reason")
    with transaction.atomic():
        intent = _awaiting_review(intent_id, reviewer, reviewer_label)
        intent.reviewed_by = reviewer
        intent.reviewed_by_label = reviewer_label or reviewer
        intent.reviewed_at = timezone.now()
        record_event(
            intent=intent,
            kind=EventKind.REJECTED,
            actor=reviewer,
            from_status=intent.status,
            from_phase=intent.current_phase,
            payload={"reason": reason},
        )
        _retry_or_fail(
            intent=intent, actor=reviewer, reason={"review": reason}, kind="review_rejected"
        )
    return intent


def intent_cancel(*, intent_id: str, actor: str, is_admin: bool, reason: str = "") -> Intent:
    """Rule: the submitter of an intent (`actor` is compared as a `principal_identity`) or an
    admin may cancel it while it is not final."""
    with transaction.atomic():
        intent = _locked(intent_id)
        if not is_admin and intent.created_by != actor:
            raise NotAllowed("only the submitter of an intent or an admin may cancel it")
        if intent.status in FINAL:
            raise TransitionNotAllowed(
                f"intent {intent.id} is already {intent.status}", current=current_state(intent)
            )
        from_status = intent.status
        intent.cancel()
        intent.assigned_to = None
        intent.lease_expires_at = None
        intent.finished_at = timezone.now()
        intent.save()
        record_event(
            intent=intent,
            kind=EventKind.CANCELLED,
            actor=actor,
            from_status=from_status,
            from_phase=intent.current_phase,
            payload={"reason": reason},
        )
    return intent


assert set(OPEN) | set(FINAL) == set(Status.values)


# --- release ------------------------------------------------------------------------------


def work_release(
    *, executor_id: str, actor: str, intent_id: str, phase: str | None = None, reason: str = ""
) -> Intent:
    """Rule: the holder may hand its work back unfinished (its session ends). The intent goes
    back to its phase's queue at once, keeping its place and its attempts (giving work back is
    not a failed gate), with `why: released` in the event and the next executor's handoff.
    Only the holder releases: work never held is 403, work no longer held 409."""
    now = timezone.now()
    with transaction.atomic():
        intent = _locked(intent_id)
        try:
            _ensure_holder(intent, executor_id)
            _ensure_phase(intent, phase)
        except TransitionNotAllowed as exc:
            raise TransitionNotAllowed(f"nothing to release: {exc}", current=exc.current) from None
        from_status = intent.status
        intent.requeue()
        intent.assigned_to = None
        intent.lease_expires_at = None
        intent.stalled_at = None
        intent.not_before = None
        intent.queued_at = now
        intent.save()
        record_event(
            intent=intent,
            kind=EventKind.REQUEUED,
            actor=actor,
            executor_id=executor_id,
            from_status=from_status,
            from_phase=intent.current_phase,
            payload={
                "why": "released",
                "reason": {"executor": executor_id, "message": reason},
                "attempts": intent.attempts,
            },
        )
        executor_touch(executor_id=executor_id, now=now)
    return intent

"""Work taken back: the holder's release, an admin's re-queue, a cancel."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from core.errors import NotAllowed, TransitionNotAllowed
from intents.events import record_event
from intents.models import (
    FINAL,
    OPEN,
    WORKING,
    EventKind,
    Intent,
    Status,
)
from intents.services.common import (
    back_in_queue,
    current_state,
    ensure_holder,
    ensure_phase,
    locked_intent,
)
from intents.services.fleet import executor_heard


def intent_requeue(*, intent_id: str, actor: str, reason: str = "") -> Intent:
    """Rule (admin): put an intent back in its phase's queue — work in progress is taken from
    its executor (which gets 409 on its next report, and the intent back only as a last
    resort), a held review is dropped, a failed intent gets a fresh set of attempts."""
    now = timezone.now()
    with transaction.atomic():
        intent = locked_intent(intent_id)
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
        back_in_queue(
            intent=intent,
            actor=actor,
            from_status=from_status,
            why="admin_requeue",
            reason={"admin": reason},
            now=now,
        )
    return intent


def intent_cancel(*, intent_id: str, actor: str, is_admin: bool, reason: str = "") -> Intent:
    """Rule: the submitter of an intent (`actor` is compared as a `principal_identity`) or an
    admin may cancel it while it is not final."""
    with transaction.atomic():
        intent = locked_intent(intent_id)
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


def work_release(
    *, executor_id: str, actor: str, intent_id: str, phase: str | None = None, reason: str = ""
) -> Intent:
    """Rule: the holder may hand its work back unfinished (its session ends). The intent goes
    back to its phase's queue at once, keeping its place and its attempts (giving work back is
    not a failed gate), with `why: released` in the event and the next executor's handoff.
    Only the holder releases: work never held is 403, work no longer held 409."""
    now = timezone.now()
    with transaction.atomic():
        intent = locked_intent(intent_id)
        try:
            ensure_holder(intent, executor_id)
            ensure_phase(intent, phase)
        except TransitionNotAllowed as exc:
            raise TransitionNotAllowed(f"nothing to release: {exc}", current=exc.current) from None
        from_status = intent.status
        intent.requeue()
        back_in_queue(
            intent=intent,
            actor=actor,
            executor_id=executor_id,
            from_status=from_status,
            why="released",
            reason={"executor": executor_id, "message": reason},
            now=now,
        )
        executor_heard(executor_id=executor_id, actor=actor, now=now)
    return intent

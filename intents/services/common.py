"""Shared by the rules: the intent locked, the holder and phase checks, what a 409 says, and
work put back in its queue."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from core.errors import NotAllowed, NotFound, TransitionNotAllowed
from intents.events import record_event
from intents.models import (
    WORKING,
    EventKind,
    Intent,
    IntentEvent,
)

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


def locked_intent(intent_id: str, fields: tuple[str, ...] = ()) -> Intent:
    """The intent, row-locked until the transaction ends; only `fields` are read (and then
    saved) when given."""
    queryset = Intent.objects.select_for_update()
    if fields:
        queryset = queryset.only(*fields)
    try:
        return queryset.get(pk=intent_id)
    except Intent.DoesNotExist:
        raise NotFound(f"intent {intent_id!r} not found") from None


def ensure_holder(intent: Intent, executor_id: str) -> None:
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


def ensure_phase(intent: Intent, phase: str | None) -> None:
    if phase and phase != intent.current_phase:
        raise TransitionNotAllowed(
            f"intent {intent.id} is in phase {intent.current_phase}, not {phase}",
            current=current_state(intent),
        )


def merged_artifacts(intent: Intent, artifacts: dict[str, Any]) -> dict[str, Any]:
    return {**intent.artifacts, **artifacts}


def back_in_queue(
    *,
    intent: Intent,
    actor: str,
    from_status: str,
    why: str,
    reason: dict[str, Any],
    now: datetime,
    executor_id: str = "",
) -> None:
    """Work taken back, already moved to `queued`: nobody holds it, it waits in its phase's
    queue from `now` with no backoff, and its REQUEUED event says why (the next executor's
    handoff shows it). Inside the caller's transaction."""
    intent.let_go()
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
        payload={"why": why, "reason": reason, "attempts": intent.attempts},
    )

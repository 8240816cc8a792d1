"""Rules of human review: approve, reject."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import InvalidInput, NotAllowed, TransitionNotAllowed
from intents.events import record_event
from intents.models import (
    EventKind,
    Intent,
    Status,
)
from intents.services.common import current_state, locked_intent
from intents.services.gates import advance, retry_or_fail


def _reviewed(
    intent_id: str, reviewer: str, reviewer_label: str, *, kind: str, payload: dict[str, Any]
) -> Intent:
    """The held intent, locked, with the reviewer's decision on it and its event recorded;
    the caller then moves it on or back."""
    intent = locked_intent(intent_id)
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
    intent.reviewed_by = reviewer
    intent.reviewed_by_label = reviewer_label or reviewer
    intent.reviewed_at = timezone.now()
    record_event(
        intent=intent,
        kind=kind,
        actor=reviewer,
        from_status=intent.status,
        from_phase=intent.current_phase,
        payload=payload,
    )
    return intent


def intent_approve(
    *, intent_id: str, reviewer: str, note: str = "", reviewer_label: str = ""
) -> Intent:
    """Rule: a reviewer's approval lets a held intent move on as its gate allowed.
    `reviewer`: the reviewer's `principal_identity`; `reviewer_label`: the name shown."""
    with transaction.atomic():
        intent = _reviewed(
            intent_id, reviewer, reviewer_label, kind=EventKind.APPROVED, payload={"note": note}
        )
        advance(intent=intent, actor=reviewer, executor_id=intent.previous_executor_id)
    return intent


def intent_reject(
    *, intent_id: str, reviewer: str, reason: str, reviewer_label: str = ""
) -> Intent:
    """Rule: a rejection sends the intent back to its phase's queue with the reason and
    attempts+1 (failed at max_attempts)."""
    if not reason.strip():
        raise InvalidInput("a rejection needs a reason")
    with transaction.atomic():
        intent = _reviewed(
            intent_id, reviewer, reviewer_label, kind=EventKind.REJECTED, payload={"reason": reason}
        )
        retry_or_fail(
            intent=intent, actor=reviewer, reason={"review": reason}, kind="review_rejected"
        )
    return intent

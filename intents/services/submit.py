"""Rule: submit (with an idempotency key, once)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import TransitionNotAllowed
from intents import dispatch
from intents.events import record_event
from intents.models import (
    EventKind,
    IdempotencyKey,
    Intent,
    Phase,
)
from intents.services.gates import pass_gate, record_gate
from verification.registry import gate_levels, run_levels


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
        record_gate(intent=intent, outcome=outcome, actor=actor, phase=Phase.SPEC)
        if outcome.passed:
            pass_gate(intent=intent, actor=actor, executor_id=None)
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

"""Rule: leases. Lapsed claims go back to the queue; silent executors are announced offline."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.db import skip_locked
from executors.models import Executor
from executors.services import executor_mark_offline
from intents.events import record_executor_event
from intents.models import (
    WORKING,
    EventKind,
    Intent,
)
from intents.services.fleet import executor_heard
from intents.services.gates import retry_or_fail


def lease_reap(*, intent_id: str, now: datetime, actor: str = "reaper") -> Intent | None:
    """Rule: claimed work whose lease lapsed (no progress, heartbeat or executor call for
    LEASE_SECONDS) goes back to its phase's queue with attempts+1 and a backoff (failed at
    max_attempts), and its silent executor is marked offline. Returns the intent if reaped."""
    with transaction.atomic():
        queryset = Intent.objects.filter(
            pk=intent_id, status__in=WORKING, lease_expires_at__lt=now
        ).select_related("assigned_to")
        intent = skip_locked(queryset, of=("self",)).first()
        if intent is None:
            return None
        holder = intent.assigned_to
        assert intent.lease_expires_at is not None
        retry_or_fail(
            intent=intent,
            actor=actor,
            reason={
                "lease_expired_at": intent.lease_expires_at.isoformat(),
                "executor": intent.assigned_to_id,
            },
            kind="lease_expired",
        )
        if holder is not None:
            executor_offline(executor=holder, actor=actor, reason=f"lease on {intent.id} lapsed")
    return intent


def executor_offline(*, executor: Executor, actor: str, reason: str) -> bool:
    """Announce an executor offline once (event `executor_offline`); its live key is
    dropped. Returns True when it was announced online before."""
    changed = executor_mark_offline(executor=executor)
    if changed:
        record_executor_event(
            executor=executor,
            kind=EventKind.EXECUTOR_OFFLINE,
            actor=actor,
            payload={"reason": reason},
        )
    return changed


def executor_heartbeat(*, executor: Executor, actor: str) -> Executor:
    """Rule: a heartbeat says the executor is alive and extends the leases of the work it
    holds."""
    now = timezone.now()
    with transaction.atomic():
        executor_heard(executor_id=executor.pk, actor=actor, now=now, executor=executor)
        Intent.objects.filter(assigned_to=executor, status__in=WORKING).update(
            lease_expires_at=now + timedelta(seconds=settings.LEASE_SECONDS)
        )
    return executor

"""Rule: claim (routing, spillover, fairness and affinity are in intents/dispatch.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import NotFound
from executors.models import Executor
from executors.services import executor_get
from intents import dispatch, metrics
from intents.events import record_event
from intents.models import (
    EventKind,
    Intent,
)
from intents.services import claim_sql
from intents.services.fleet import executor_called, executor_heard

# What a claim writes (the spec and artifacts are read for the answer, not written back).
CLAIM_FIELDS = (
    "status",
    "assigned_to",
    "assigned_at",
    "lease_expires_at",
    "last_progress_at",
    "stalled_at",
    "spilled",
    "updated_at",
)


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
    anyone (long polls, which are mostly made when the line is idle).

    On PostgreSQL the common path is one call of the `intents_claim` function (claim_sql);
    an executor coming online, its own failed intents and the reasons for an empty answer
    stay here, with the ORM, as on SQLite."""
    now = timezone.now()
    if look_first:
        # The executor's row and the look in one query: an idle fleet's polls are cheap.
        executor, claimable = dispatch.executor_and_look(executor_id, now)
        if executor is None:
            raise NotFound(f"executor {executor_id!r} is not registered")
        if not claimable:
            # Nothing is queued for anyone: no lock, no routing.
            executor_heard(executor_id=executor_id, actor=actor, now=now, executor=executor)
            metrics.claim_empty()
            return Claim(None, "no queued intent: the queue is empty")
    if not claim_sql.has_claim_function():
        return claim_with_orm(executor_id=executor_id, actor=actor, now=now)
    claimed = claim_sql.claim_in_one_call(executor_id=executor_id, actor=actor, now=now)
    if claimed.outcome == "unknown":
        raise NotFound(f"executor {executor_id!r} is not registered")
    if claimed.outcome == "offline" or (claimed.outcome == "none" and claimed.avoided):
        # Its row says offline, or only its own failed intents are left: the ORM path
        # decides (other executors' liveness, the online event before the claim).
        return claim_with_orm(executor_id=executor_id, actor=actor, now=now)
    # The heartbeat after the claim, in the publish's round trip: an executor whose Redis key
    # lapsed while its row still says online is announced then, after its claim.
    events = [claimed.event] if claimed.event is not None else []
    executor_called(executor_id=executor_id, actor=actor, now=now, events=events)
    if claimed.outcome == "assigned":
        assert claimed.intent is not None
        return Claim(claimed.intent, first_claim=claimed.first_claim)
    metrics.claim_empty()
    if claimed.outcome == "full":
        return Claim(None, f"executor holds {claimed.holding} intent(s), its max_concurrent")
    reason = "no queued intent matches this executor"
    return Claim(None, reason + dispatch.held_back_reason(Executor(pk=executor_id), now))


def claim_with_orm(*, executor_id: str, actor: str, now: datetime) -> Claim:
    """The claim with the ORM: SQLite's, and PostgreSQL's rare paths. The heartbeat is
    touched under the executor's lock, so coming online is announced before the claim."""
    with transaction.atomic():
        # Locking the executor row serializes one executor's own claims, so max_concurrent
        # cannot be overrun by parallel requests of the same executor.
        executor = executor_get(executor_id=executor_id, lock=True)
        executor_heard(executor_id=executor_id, actor=actor, now=now, executor=executor)
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

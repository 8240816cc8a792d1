"""Who may take which queued intent: the routing rules of the claim.

One place for the rules that make the line fit AI executors (README, "Why this line fits AI
executors"): environment with spillover, capabilities, separation of duties, retry on a
different executor, and the fair-share queue rank. `intents.services.work_claim` calls
`pick`; the read side (`/state`'s waiting reasons) calls `serves` and `other_takers`.

On PostgreSQL the claim's common path runs these rules in SQL, in the `intents_claim`
function (intents/migrations/0008_claim_function.py): a change here is a new migration
replacing it, and tests/intents/test_claim_routing.py holds the two to the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet

from core.db import is_postgresql
from executors.models import Executor
from executors.selectors import alive_among, liveness
from intents.models import WORKING, EnvironmentPreference, Intent, Status, queue_rank


def first_choice(phase: str) -> str | None:
    """The environment a phase of an `either` intent goes to first (PHASE_ROUTING)."""
    return settings.PHASE_ROUTING.get(phase)


def spill_after(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.SPILLOVER_SECONDS)


@dataclass(frozen=True)
class Queued:
    """What the routing rules read of a queued intent: the read side (`/state`'s waiting
    reasons) loads these few columns for the head of the queue, not 200 models."""

    id: str
    title: str
    current_phase: str
    environment_preference: str
    required_capabilities: list[str]
    built_by_id: str | None
    queued_at: datetime

    FIELDS = (
        "id",
        "title",
        "current_phase",
        "environment_preference",
        "required_capabilities",
        "built_by_id",
        "queued_at",
    )

    def routing_key(self, now: datetime) -> tuple[Any, ...]:
        """Two intents with the same key are served by the same executors now."""
        return (
            self.current_phase,
            self.environment_preference,
            tuple(sorted(self.required_capabilities)),
            self.built_by_id,
            self.queued_at <= spill_after(now),
        )


def separated(executor_id: str | None, intent: Intent | Queued) -> bool:
    """True when separation of duties keeps this executor off this intent's phase."""
    return (
        executor_id is not None
        and intent.built_by_id == executor_id
        and intent.current_phase in settings.SEPARATE_DUTIES_PHASES
    )


def serves(executor: Executor, intent: Intent | Queued, now: datetime) -> bool:
    """The claim's rules, in Python, for one executor and one queued intent (availability
    and capacity aside)."""
    preference = intent.environment_preference
    if preference == EnvironmentPreference.EITHER:
        first = first_choice(intent.current_phase)
        environment_ok = first in (None, executor.environment) or intent.queued_at <= spill_after(
            now
        )
    else:
        environment_ok = preference == executor.environment
    return (
        environment_ok
        and set(intent.required_capabilities) <= set(executor.capabilities)
        and not separated(executor.pk, intent)
    )


def is_spill(executor: Executor, intent: Intent) -> bool:
    first = first_choice(intent.current_phase)
    return (
        intent.environment_preference == EnvironmentPreference.EITHER
        and first is not None
        and first != executor.environment
    )


def claimable(executor: Executor, now: datetime) -> QuerySet[Intent]:
    """Queued intents this executor may take now, best rank first (one indexed query)."""
    elsewhere = [
        phase
        for phase, environment in settings.PHASE_ROUTING.items()
        if environment != executor.environment
    ]
    environment = Q(environment_preference=executor.environment) | (
        Q(environment_preference=EnvironmentPreference.EITHER)
        & (~Q(current_phase__in=elsewhere) | Q(queued_at__lte=spill_after(now)))
    )
    queryset = (
        Intent.objects.filter(status=Status.QUEUED)
        .filter(environment)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
    )
    if settings.SEPARATE_DUTIES_PHASES:
        queryset = queryset.exclude(
            Q(current_phase__in=settings.SEPARATE_DUTIES_PHASES) & Q(built_by=executor)
        )
    if is_postgresql():
        queryset = queryset.filter(required_capabilities__contained_by=executor.capabilities)
    return queryset.order_by("rank")


def holding_count(executor_id: str) -> int:
    """How much work an executor holds now (one indexed count)."""
    return Intent.objects.filter(assigned_to_id=executor_id, status__in=WORKING).count()


def anything_claimable(now: datetime) -> bool:
    """Is any intent queued and past its backoff, for anyone (one indexed query)?"""
    return Intent.objects.filter(
        Q(not_before__isnull=True) | Q(not_before__lte=now), status=Status.QUEUED
    ).exists()


# `anything_claimable` (keep the two alike) beside an executor's row, as a plain statement:
# built by the ORM it cost three times the CPU, on every idle long poll.
EXECUTOR_AND_LOOK = (
    f"SELECT e.*, EXISTS (SELECT 1 FROM {Intent._meta.db_table} i WHERE i.status = %s "
    "AND (i.not_before IS NULL OR i.not_before <= %s)) AS anything_claimable "
    f"FROM {Executor._meta.db_table} e WHERE e.executor_id = %s"
)


def executor_and_look(executor_id: str, now: datetime) -> tuple[Executor | None, bool]:
    """The executor's row (None when it is not registered) and `anything_claimable`, in one
    query."""
    rows = list(Executor.objects.raw(EXECUTOR_AND_LOOK, [Status.QUEUED, now, executor_id]))
    if not rows:
        return None, False
    # raw() sets the statement's extra column on the model as an attribute.
    return rows[0], bool(rows[0].anything_claimable)  # type: ignore[attr-defined]


def online_executors(now: datetime) -> list[Executor]:
    """Healthy executors alive by their Redis heartbeat key (by last_heartbeat when Redis
    cannot tell)."""
    executors = list(Executor.objects.filter(is_healthy=True, online=True))
    return online_among(executors, liveness(executors), now)


def online_among(
    executors: list[Executor], alive: dict[str, bool] | None, now: datetime
) -> list[Executor]:
    """`online_executors` of executors already loaded, with their Redis liveness."""
    return alive_among([e for e in executors if e.is_healthy and e.online], alive, now)


def other_takers(intent: Intent, executor_id: str | None, now: datetime) -> list[Executor]:
    """Online executors other than `executor_id` that could take the intent now and have
    room for it."""
    others = [e for e in online_executors(now) if e.pk != executor_id and serves(e, intent, now)]
    if not others:
        return []
    holding = dict(
        Intent.objects.filter(status__in=WORKING, assigned_to__in=[e.pk for e in others])
        .values_list("assigned_to")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [e for e in others if holding.get(e.pk, 0) < e.max_concurrent]


def _with_affinity(candidates: QuerySet[Intent], executor: Executor) -> Intent | None:
    """The head of `candidates`, except that an intent whose previous phase this executor did
    is taken first when it ranks within AFFINITY_SECONDS of the head. Locked with SKIP LOCKED,
    so concurrent claims never wait on each other and never take the same row."""
    affinity = timedelta(seconds=settings.AFFINITY_SECONDS)
    mine = candidates.filter(previous_executor=executor).values_list("rank", flat=True).first()
    if mine is not None:
        head_rank = candidates.values_list("rank", flat=True).first()
        if head_rank is not None and mine <= head_rank + affinity:
            intent = (
                candidates.filter(previous_executor=executor)
                .select_for_update(skip_locked=True)
                .first()
            )
            if intent is not None:
                return intent
    return candidates.select_for_update(skip_locked=True).first()


def _first_with_affinity(candidates: list[Intent], executor: Executor) -> Intent | None:
    if not candidates:
        return None
    affinity = timedelta(seconds=settings.AFFINITY_SECONDS)
    head = candidates[0]
    for intent in candidates:
        if intent.rank > head.rank + affinity:
            break
        if intent.previous_executor_id == executor.pk:
            return intent
    return head


# How many of its own failed intents a claim looks at before giving up.
AVOIDED_LOOKAHEAD = 10


def pick(executor: Executor, now: datetime) -> Intent | None:
    """The best queued intent this executor may take, locked (on PostgreSQL).

    An intent this executor failed last comes back to it only when no other online executor
    that could take it has room."""
    queued = claimable(executor, now)
    if not is_postgresql():
        # SQLite (the embedded default) serializes writers, so no row lock is needed; it
        # cannot filter JSON containment in SQL, so capabilities are checked here.
        capable = [
            i for i in queued[:500] if set(i.required_capabilities) <= set(executor.capabilities)
        ]
        intent = _first_with_affinity(
            [i for i in capable if i.avoid_executor_id != executor.pk], executor
        )
        if intent is not None:
            return intent
        avoided = [i for i in capable if i.avoid_executor_id == executor.pk]
        for intent in avoided[:AVOIDED_LOOKAHEAD]:
            if not other_takers(intent, executor.pk, now):
                return intent
        return None
    intent = _with_affinity(queued.exclude(avoid_executor=executor), executor)
    if intent is not None:
        return intent
    for candidate in queued.filter(avoid_executor=executor)[:AVOIDED_LOOKAHEAD]:
        if not other_takers(candidate, executor.pk, now):
            locked = queued.filter(pk=candidate.pk).select_for_update(skip_locked=True).first()
            if locked is not None:
                return locked
    return None


def held_back_reason(executor: Executor, now: datetime) -> str:
    """Why an executor got nothing although intents are queued (only asked on empty claims)."""
    if not settings.SEPARATE_DUTIES_PHASES:
        return ""
    own_builds = Intent.objects.filter(
        status=Status.QUEUED,
        built_by=executor,
        current_phase__in=settings.SEPARATE_DUTIES_PHASES,
    ).count()
    if own_builds:
        return (
            f"; {own_builds} queued intent(s) wait for an executor other than you, which built "
            "them (separation of duties)"
        )
    return ""


def enqueue_rank(intent: Intent, now: datetime) -> datetime:
    """The rank of an intent entering its phase's queue now: priority with ageing
    (`queue_rank`), then fair share — behind the submitter's own last queued intent of the
    same priority and phase by FAIR_SHARE_SECONDS, so submitters take turns inside a
    priority level instead of one burst starving the others."""
    natural = queue_rank(now, intent.priority)
    share = settings.FAIR_SHARE_SECONDS
    if share <= 0:
        return natural
    last = (
        Intent.objects.filter(
            status=Status.QUEUED,
            created_by=intent.created_by,
            priority=intent.priority,
            current_phase=intent.current_phase,
        )
        .exclude(pk=intent.pk)
        .order_by("-rank")
        .values_list("rank", flat=True)
        .first()
    )
    if last is None:
        return natural
    return max(natural, last + timedelta(seconds=share))


def enqueue_rank_sql(intent: Intent, now: datetime) -> tuple[str, list[Any]]:
    """`enqueue_rank` as an SQL expression and its parameters, for the statement that writes
    the intent (a hand-in's, intents/services/hotpath.py): the submitter's last queued rank
    is read in that statement's snapshot, as the ORM path reads it in its transaction."""
    natural = queue_rank(now, intent.priority)
    share = settings.FAIR_SHARE_SECONDS
    if share <= 0:
        return "%s::timestamptz", [natural]
    # GREATEST skips the NULL of no such intent; rank is NOT NULL, so max() is the ORM's
    # ORDER BY rank DESC LIMIT 1.
    sql = (
        f"GREATEST(%s::timestamptz, (SELECT max(q.rank) FROM {Intent._meta.db_table} AS q "
        "WHERE q.status = %s AND q.created_by = %s AND q.priority = %s "
        "AND q.current_phase = %s AND q.id <> %s) + %s::interval)"
    )
    params = [
        natural,
        Status.QUEUED.value,
        intent.created_by,
        intent.priority,
        str(intent.current_phase),
        intent.pk,
        timedelta(seconds=share),
    ]
    return sql, params

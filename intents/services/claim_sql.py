"""The claim's common path in one round trip on PostgreSQL: the `intents_claim` function
(intents/migrations/0008_claim_function.py) locks the executor, counts what it holds, picks,
claims and appends the `assigned` event; this module calls it and turns its row back into
the claimed Intent and its event, without the ORM building a query."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection

from intents.models import EventKind, Intent, IntentEvent

# The function's own columns, then the claimed intent's, in the model's field order so the
# row is the arguments of Intent.from_db.
OUTCOME_COLUMNS = (
    "r_outcome",
    "r_holding",
    "r_max_concurrent",
    "r_environment",
    "r_avoided",
    "r_event_id",
    "r_first_claim",
    "r_waited",
    "r_event_at",
)
INTENT_FIELDS = Intent._meta.concrete_fields
CLAIM_SQL = (
    "SELECT "
    + ", ".join(f"c.{name}" for name in OUTCOME_COLUMNS)
    + ", "
    + ", ".join(f'(c.r_intent)."{field.column}"' for field in INTENT_FIELDS)
    + " FROM intents_claim(%s::text, %s::text, %s::timestamptz, %s::float8, %s::jsonb, "
    "%s::float8, %s::text[], %s::float8) AS c"
)
FIELD_NAMES = [field.attname for field in INTENT_FIELDS]


def has_claim_function() -> bool:
    """The one-call claim is PostgreSQL's; SQLite (the embedded default) keeps the ORM path."""
    return connection.vendor == "postgresql"


@dataclass
class Claimed:
    """What `intents_claim` answered. outcome: assigned, full (holding ≥ max_concurrent),
    none (nothing it may take, `avoided`: but some of its own failed intents), offline (the
    row says offline: coming online is the Python path's), unknown (no such executor)."""

    outcome: str
    holding: int = 0
    max_concurrent: int = 0
    avoided: bool = False
    intent: Intent | None = None
    event: IntentEvent | None = None
    first_claim: bool = False


def claim_in_one_call(*, executor_id: str, actor: str, now: datetime) -> Claimed:
    params = (
        executor_id,
        actor,
        now,
        float(settings.LEASE_SECONDS),
        json.dumps(settings.PHASE_ROUTING),
        float(settings.SPILLOVER_SECONDS),
        list(settings.SEPARATE_DUTIES_PHASES),
        float(settings.AFFINITY_SECONDS),
    )
    with connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL, params)
        row = cursor.fetchone()
    assert row is not None  # the function always answers one row
    head, values = row[: len(OUTCOME_COLUMNS)], row[len(OUTCOME_COLUMNS) :]
    outcome, holding, max_concurrent, environment, avoided, event_id, first_claim = head[:7]
    waited, event_at = head[7:]
    if outcome != "assigned":
        return Claimed(outcome, holding or 0, max_concurrent or 0, bool(avoided))
    intent = Intent.from_db(connection.alias, FIELD_NAMES, _converted(values))
    event = IntentEvent(
        pk=event_id,
        intent=intent,
        kind=EventKind.ASSIGNED,
        actor=actor,
        executor_id=executor_id,
        from_status="queued",
        to_status=intent.status,
        from_phase=intent.current_phase,
        to_phase=intent.current_phase,
        payload={
            "attempt": intent.attempts + 1,
            "environment": environment,
            "spilled": intent.spilled,
        },
        duration_seconds=waited,
        created_at=event_at,
    )
    event._state.adding, event._state.db = False, connection.alias
    return Claimed(
        outcome, holding, max_concurrent, intent=intent, event=event, first_claim=first_claim
    )


_converters: list[tuple[int, list[Callable[..., Any]]]] | None = None


def _converted(values: tuple[Any, ...]) -> list[Any]:
    """The backend's and the fields' conversions of raw column values (JSON text to Python),
    as a queryset applies them."""
    global _converters
    if _converters is None:
        _converters = [
            (n, converters)
            for n, field in enumerate(INTENT_FIELDS)
            if (converters := field.get_db_converters(connection))
        ]
    result = list(values)
    for n, converters in _converters:
        for convert in converters:
            result[n] = convert(result[n], None, connection)
    return result

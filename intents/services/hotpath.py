"""The executor's hot path on PostgreSQL: a progress report, and the write after a hand-in's
gate, each as one statement (the row, its events and the gate's run together; a hand-in's
rank reads its fair share, and the executor's count is written, in the same statement).

The state machine stays the authority: the statuses a statement accepts are the source states
of the transitions it makes, read from django-fsm's metadata on `Intent`, and the hand-in's new
state is decided by the same rules as the ORM path (intents/services/gates.py) before it is
written here. A statement that matches no row changes nothing; the caller then takes the ORM
path, whose checks give the refusal (tests/intents/test_hotpath_agrees.py holds the two paths
to the same answers). SQLite keeps the ORM path."""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Field, Model
from django_fsm import RETURN_VALUE

from executors.services import executor_count_phase_sql
from intents.models import WORKING, EventKind, Intent, IntentEvent, Phase, Status
from intents.services.gates import Pending
from verification.models import VerificationRun


def sources(method: Callable[..., Any]) -> list[str]:
    """The source states of a transition of `Intent`, as django-fsm holds them."""
    return [str(state) for state in method._django_fsm.transitions]  # type: ignore[attr-defined]


def targets(method: Callable[..., Any]) -> list[str]:
    found: list[str] = []
    for transition in method._django_fsm.transitions.values():  # type: ignore[attr-defined]
        target = transition.target
        states = target.allowed_states if isinstance(target, RETURN_VALUE) else [target]
        found += [str(state) for state in states if str(state) not in found]
    return found


# A report is accepted where `start` may run and where it leads: assigned, in progress, testing.
PROGRESS_SOURCES = sources(Intent.start) + [
    state for state in targets(Intent.start) if state not in sources(Intent.start)
]
# A hand-in leaves by one of these, chosen by the gate; the holder holds it in WORKING.
COMPLETE_TRANSITIONS = {
    Status.QUEUED: Intent.requeue,
    Status.COMPLETED: Intent.finish,
    Status.AWAITING_REVIEW: Intent.hold_for_review,
    Status.FAILED: Intent.fail,
}


def in_list(states: Iterable[str]) -> str:
    return ", ".join(f"'{state}'" for state in states)


# What a progress report reads and writes, on either path: the spec, artifacts and the rest
# stay unread. Keep `status` in any such list: django-fsm reads it when an instance is made,
# and a deferred field read from the database makes one (a recursion). `title`: the progress
# event names the intent (read, saved back unchanged).
PROGRESS_READS = (
    "title",
    "status",
    "current_phase",
    "assigned_to",
    "attempts",
    "phase_progress",
    "progress_message",
    "last_progress_at",
    "stalled_at",
    "lease_expires_at",
    "updated_at",
)
# The same (and the id) as columns, in the model's order (`Model.from_db` takes them so).
PROGRESS_FIELDS = tuple(
    f.attname for f in Intent._meta.concrete_fields if f.name in ("id", *PROGRESS_READS)
)

# `o` locks the row as it was (its status and stall flag are the event's "before"); the
# update starts the work as `Intent.start` does (testing in the test phase); only a changed
# report moves the progress clock and clears a stall.
PROGRESS_SQL = f"""WITH o AS (
    SELECT id, status, stalled_at,
        COALESCE((phase_progress ->> current_phase)::float8, 0) <> %(progress)s::float8
            OR progress_message <> %(message)s AS changed
    FROM intents_intent
    WHERE id = %(id)s AND assigned_to_id = %(executor)s AND current_phase = %(phase)s
        AND status IN ({in_list(PROGRESS_SOURCES)})
    FOR UPDATE
), u AS (
    UPDATE intents_intent AS i SET
        status = CASE WHEN o.status IN ({in_list(sources(Intent.start))}) THEN
            CASE WHEN i.current_phase = '{Phase.TEST}' THEN '{Status.TESTING}'
            ELSE '{Status.IN_PROGRESS}' END ELSE i.status END,
        last_progress_at = CASE WHEN o.changed THEN %(now)s ELSE i.last_progress_at END,
        stalled_at = CASE WHEN o.changed THEN NULL ELSE i.stalled_at END,
        phase_progress = i.phase_progress || %(phase_progress)s::jsonb,
        progress_message = %(message)s,
        lease_expires_at = %(lease)s,
        updated_at = %(now)s
    FROM o WHERE i.id = o.id
    RETURNING {", ".join("i." + name for name in PROGRESS_FIELDS)},
        o.status AS from_status, o.changed AND o.stalled_at IS NOT NULL AS unstalled
), e AS (
    INSERT INTO intents_intentevent (intent_id, executor_id, actor, kind, from_status,
        to_status, from_phase, to_phase, payload, duration_seconds, created_at)
    SELECT u.id, %(executor)s, %(actor)s, '{EventKind.PROGRESS}', u.from_status, u.status,
        %(phase)s, u.current_phase, CASE WHEN u.unstalled
            THEN %(payload)s::jsonb || '{{"unstalled": true}}'::jsonb
            ELSE %(payload)s::jsonb END, NULL, %(now)s
    FROM u
    RETURNING id
)
SELECT u.*, e.id FROM u, e"""


def model_fields(model: type[Model], names: Sequence[str]) -> list[Field[Any, Any]]:
    return [model._meta.get_field(name.removesuffix("_id")) for name in names]  # type: ignore[misc]


INTENT_PROGRESS_FIELDS = model_fields(Intent, PROGRESS_FIELDS)


def from_row(model: type[Model], fields: list[Field[Any, Any]], row: Sequence[Any]) -> Any:
    """A model instance from raw columns (Django's JSON columns come back as text)."""
    values = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, row, strict=False)
    ]
    return model.from_db(connection.alias, [field.attname for field in fields], values)


@dataclass
class Progress:
    intent: Intent
    event: IntentEvent


def progress(
    *,
    executor_id: str,
    actor: str,
    intent_id: str,
    phase: str,
    progress: float,
    message: str,
    now: datetime,
    lease: datetime,
) -> Progress | None:
    """Report progress in one statement; None when the caller does not hold the intent in
    `phase` (or it does not exist): nothing was written."""
    payload = {"progress": progress, "message": message}
    with connection.cursor() as cursor:
        cursor.execute(
            PROGRESS_SQL,
            {
                "id": intent_id,
                "executor": executor_id,
                "actor": actor,
                "phase": phase,
                "progress": progress,
                "message": message,
                "now": now,
                "lease": lease,
                "phase_progress": json.dumps({phase: progress}),
                "payload": json.dumps(payload),
            },
        )
        row = cursor.fetchone()
    if row is None:
        return None
    width = len(PROGRESS_FIELDS)
    intent: Intent = from_row(Intent, INTENT_PROGRESS_FIELDS, row[:width])
    from_status, unstalled, event_id = row[width:]
    if unstalled:
        payload["unstalled"] = True
    event = IntentEvent(
        id=event_id,
        intent=intent,
        kind=EventKind.PROGRESS,
        actor=actor,
        executor_id=executor_id,
        from_status=from_status,
        to_status=intent.status,
        from_phase=phase,
        to_phase=intent.current_phase,
        payload=payload,
        duration_seconds=None,
        created_at=now,
    )
    event._state.adding = False
    event._state.db = connection.alias
    return Progress(intent, event)


def column(field: Field[Any, Any]) -> str:
    assert field.column is not None  # concrete fields have a column
    return field.column


INTENT_FIELDS = list(Intent._meta.concrete_fields)
READ_SQL = "SELECT {} FROM intents_intent WHERE id = %s".format(
    ", ".join(connection.ops.quote_name(column(f)) for f in INTENT_FIELDS)
)


def read(intent_id: str) -> Intent | None:
    """The whole intent, as the gate reads it, without the ORM's query building (most of a
    primary-key read's CPU)."""
    with connection.cursor() as cursor:
        cursor.execute(READ_SQL, [intent_id])
        row = cursor.fetchone()
    return None if row is None else from_row(Intent, INTENT_FIELDS, row)


def row_values(intent: Intent) -> dict[str, Any]:
    """The intent's columns as loaded, to tell afterwards which ones the rules changed."""
    return {f.attname: getattr(intent, f.attname) for f in Intent._meta.concrete_fields}


def db_value(field: Field[Any, Any], value: Any) -> Any:
    value = field.get_db_prep_save(value, connection)
    # Status and Phase members: their value, whatever the driver makes of an Enum.
    return value.value if isinstance(value, enum.Enum) else value


@functools.cache
def insert_shape(model: type[Model], skip: str) -> tuple[list[Field[Any, Any]], str, list[str]]:
    """The fields, one row's casts and the column names of `model`'s inserts without its
    primary key and `skip`: made once (made per hand-in, they were a tenth of its CPU)."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key and f.attname != skip]
    casts = ", ".join(f"%s::{f.db_type(connection)}" for f in fields)
    return fields, casts, [column(f) for f in fields]


def insert_values(
    model: type[Model], rows: list[Model], skip: str
) -> tuple[list[str], str, list[Any]]:
    """Columns, a VALUES list (each value cast to its column's type) and its parameters for
    unsaved rows of `model`; the column `skip` (the intent) is filled from the update."""
    fields, casts, columns = insert_shape(model, skip)
    values = ", ".join(f"({n}, {casts})" for n in range(len(rows)))
    params = [db_value(f, getattr(row, f.attname)) for row in rows for f in fields]
    return columns, values, params


def insert_sql(name: str, model: type[Model], rows: list[Model]) -> tuple[str, list[Any]]:
    """A CTE inserting `rows` for the updated intent, in order (ids follow it)."""
    columns, values, params = insert_values(model, rows, "intent_id")
    names = ", ".join(columns)
    sql = (
        f"{name} AS (INSERT INTO {model._meta.db_table} (intent_id, {names}) "
        f"SELECT u.id, {names} FROM u, (VALUES {values}) AS v(n, {names}) ORDER BY v.n "
        "RETURNING id)"
    )
    return sql, params


def complete(
    *,
    intent: Intent,
    before: dict[str, Any],
    pending: Pending,
    executor_id: str,
    phase: str,
    now: datetime,
    passed: bool,
    seconds: float | None,
) -> bool:
    """Write a decided hand-in in one statement: the intent's changed columns (its rank with
    its fair share read here, `pending.rank`), its events, the gate's run and the executor's
    count (`executors.services.executor_count_phase_sql`: passed, `seconds`). The row must
    still be in a source state of the transition that was made, held by `executor_id` in
    `phase`, and unchanged since the gate read it (`updated_at`); False, and nothing
    written, when it is not."""
    transition = COMPLETE_TRANSITIONS[Status(intent.status)]
    accepted = [state for state in sources(transition) if state in WORKING]
    intent.updated_at = now
    rank = Intent._meta.get_field("rank")
    changed = [
        f
        for f in Intent._meta.concrete_fields
        if getattr(intent, f.attname) != before[f.attname]
        or f.attname == "updated_at"
        or (f is rank and pending.rank is not None)
    ]
    sets: list[str] = []
    params: list[Any] = []
    for f in changed:
        name = connection.ops.quote_name(column(f))
        if f is rank and pending.rank is not None:
            expression, rank_params = pending.rank
            sets.append(f"{name} = {expression}")
            params += rank_params
        else:
            sets.append(f"{name} = %s")
            params.append(db_value(f, getattr(intent, f.attname)))
    params += [intent.pk, executor_id, phase, before["updated_at"]]
    ctes = [
        f"u AS (UPDATE intents_intent SET {', '.join(sets)} WHERE id = %s "
        "AND assigned_to_id = %s AND current_phase = %s "
        f"AND status IN ({in_list(accepted)}) AND updated_at IS NOT DISTINCT FROM %s "
        "RETURNING id, rank)"
    ]
    events_sql, event_params = insert_sql("e", IntentEvent, list(pending.events))
    ctes.append(events_sql)
    params += event_params
    runs = "ARRAY[]::bigint[]"
    if pending.runs:
        runs_sql, run_params = insert_sql("r", VerificationRun, list(pending.runs))
        ctes.append(runs_sql)
        params += run_params
        runs = "ARRAY(SELECT id FROM r ORDER BY id)"
    count_sql, count_params = executor_count_phase_sql(
        executor_id=executor_id, passed=passed, seconds=seconds, when="EXISTS (SELECT FROM u)"
    )
    ctes.append(f"c AS ({count_sql})")
    params += count_params
    sql = (
        "WITH " + ", ".join(ctes) + f" SELECT u.rank, ARRAY(SELECT id FROM e ORDER BY id), {runs} "
        "FROM u"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    intent.rank, event_ids, run_ids = row
    made: list[Model] = [*pending.events, *pending.runs]
    for obj, pk in zip(made, [*event_ids, *run_ids], strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = connection.alias
    return True

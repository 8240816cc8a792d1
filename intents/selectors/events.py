"""An event as viewers, the API and the logs see it."""

from __future__ import annotations

from typing import Any

from intents.models import IntentEvent


def intent_title(event: IntentEvent) -> str | None:
    """The intent's title for viewers. The intent is at hand where events are made or read;
    a title left out of a partial load is not fetched (django-fsm cannot refresh one field)."""
    if event.intent_id is None:
        return None
    intent = event.intent
    assert intent is not None  # intent_id is set
    return None if "title" in intent.get_deferred_fields() else intent.title


# The columns `event_row_data` reads, in its order: one query for a list of events, without
# loading events and intents as models (/state's recent events).
EVENT_COLUMNS = (
    "id",
    "kind",
    "intent_id",
    "intent__title",
    "executor_id",
    "actor",
    "from_status",
    "to_status",
    "from_phase",
    "to_phase",
    "payload",
    "duration_seconds",
    "created_at",
)


def event_data(event: IntentEvent) -> dict[str, Any]:
    return event_row_data(
        (
            event.pk,
            event.kind,
            event.intent_id,
            intent_title(event),
            event.executor_id,
            event.actor,
            event.from_status,
            event.to_status,
            event.from_phase,
            event.to_phase,
            event.payload,
            event.duration_seconds,
            event.created_at,
        )
    )


def event_row_data(row: tuple[Any, ...]) -> dict[str, Any]:
    """An event as viewers see it, from its EVENT_COLUMNS."""
    (
        pk,
        kind,
        intent_id,
        title,
        executor_id,
        actor,
        from_status,
        to_status,
        from_phase,
        to_phase,
        payload,
        duration_seconds,
        created_at,
    ) = row
    return {
        "id": pk,
        "type": kind,
        "kind": kind,
        "intent_id": intent_id,
        "intent_title": title,
        "executor_id": executor_id or None,
        "actor": actor,
        "from_status": from_status or None,
        "to_status": to_status or None,
        "from_phase": from_phase or None,
        "to_phase": to_phase or None,
        "payload": payload,
        "duration_seconds": duration_seconds,
        "timestamp": created_at.isoformat(),
    }

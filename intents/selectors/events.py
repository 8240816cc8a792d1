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


def event_data(event: IntentEvent) -> dict[str, Any]:
    return {
        "id": event.pk,
        "type": event.kind,
        "kind": event.kind,
        "intent_id": event.intent_id,
        "intent_title": intent_title(event),
        "executor_id": event.executor_id or None,
        "actor": event.actor,
        "from_status": event.from_status or None,
        "to_status": event.to_status or None,
        "from_phase": event.from_phase or None,
        "to_phase": event.to_phase or None,
        "payload": event.payload,
        "duration_seconds": event.duration_seconds,
        "timestamp": event.created_at.isoformat(),
    }

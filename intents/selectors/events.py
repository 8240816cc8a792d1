"""An event as viewers, the API and the logs see it."""

from __future__ import annotations

from typing import Any

from intents.models import IntentEvent


def event_data(event: IntentEvent) -> dict[str, Any]:
    return {
        "id": event.pk,
        "type": event.kind,
        "kind": event.kind,
        "intent_id": event.intent_id,
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

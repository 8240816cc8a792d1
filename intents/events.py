"""Events: one IntentEvent row per state change, written in the change's transaction and
published after commit (channel layer + log line). A rolled-back change publishes nothing."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from assemblyline import metrics
from assemblyline.logs import log_state_change
from executors.live import live
from intents.models import IntentEvent

if TYPE_CHECKING:
    from executors.models import Executor
    from intents.models import Intent

logger = logging.getLogger("assemblyline.events")

# The channel-layer group every viewer of the line joins.
LINE_GROUP = "assembly-line"
# The group long-polling executors wait on: told whenever an intent (re)enters a queue.
WORK_GROUP = "assembly-line.work"
# A broadcast never holds a request longer than this.
BROADCAST_TIMEOUT_SECONDS = 1.0


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


def publish(event: IntentEvent) -> None:
    """Send a committed event to every viewer. Never raises: the change is already stored."""
    data = event_data(event)
    log_state_change(data)
    try:
        metrics.observe(data)
    except Exception:  # a metrics bug must not turn a committed change into an error answer
        logger.exception("event %s not counted in the metrics", event.pk)
    layer = get_channel_layer()
    if layer is None:
        return
    if live.degraded:
        # Redis failed moments ago: do not make every request wait on it (the dashboard
        # re-reads the snapshot when it reconnects).
        logger.warning("event %s not broadcast: redis unavailable", event.pk)
        return
    try:
        async_to_sync(_send)(layer, data)
    except Exception as exc:
        if live.configured:
            live.call(lambda r: r.ping())  # opens the circuit when Redis is down
        logger.warning("event %s not broadcast: channel layer unavailable (%s)", event.pk, exc)


async def _send(layer: Any, data: dict[str, Any]) -> None:
    await asyncio.wait_for(
        # Encoded once here, not once per viewer: every consumer sends this text as it is.
        layer.group_send(LINE_GROUP, {"type": "line.event",
                                      "text": json.dumps({"type": "event", "event": data})}),
        timeout=BROADCAST_TIMEOUT_SECONDS,
    )
    if data["to_status"] == "queued" and data["intent_id"]:
        await asyncio.wait_for(
            layer.group_send(WORK_GROUP, {"type": "work.available",
                                          "intent_id": data["intent_id"],
                                          "phase": data["to_phase"]}),
            timeout=BROADCAST_TIMEOUT_SECONDS,
        )


def record_event(
    *,
    intent: Intent,
    kind: str,
    actor: str,
    from_status: str,
    from_phase: str,
    executor_id: str = "",
    payload: dict[str, Any] | None = None,
    duration_seconds: float | None = None,
) -> IntentEvent:
    """Append the intent's event; must be called inside the transaction of the change."""
    event = IntentEvent.objects.create(
        intent=intent,
        kind=kind,
        actor=actor,
        executor_id=executor_id,
        from_status=from_status,
        to_status=intent.status,
        from_phase=from_phase,
        to_phase=intent.current_phase,
        payload=payload or {},
        duration_seconds=duration_seconds,
    )
    transaction.on_commit(lambda: publish(event))
    return event


def record_executor_event(
    *, executor: Executor, kind: str, actor: str, payload: dict[str, Any] | None = None
) -> IntentEvent:
    event = IntentEvent.objects.create(
        intent=None,
        kind=kind,
        actor=actor,
        executor_id=executor.executor_id,
        payload=payload or {},
    )
    transaction.on_commit(lambda: publish(event))
    return event

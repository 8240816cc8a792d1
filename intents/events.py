"""Events: one IntentEvent row per state change, written in the change's transaction and
published after commit (channel layer + log line). A rolled-back change publishes nothing."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.db import transaction

from core.logs import log_state_change
from core.runtime.channels_group import redis_group_channel
from executors.live import live
from intents import metrics
from intents.fanout import LINE_GROUP, WORK_GROUP
from intents.models import IntentEvent
from intents.selectors.events import event_data

if TYPE_CHECKING:
    from executors.models import Executor
    from intents.models import Intent

logger = logging.getLogger("assemblyline.events")

# A broadcast never holds a request longer than this (in-memory channel layer).
BROADCAST_TIMEOUT_SECONDS = 1.0


def publish(*events: IntentEvent) -> None:
    """Send committed events to every viewer, in one broadcast. Never raises: the change is
    already stored."""
    messages = event_messages(events)
    if messages and not broadcast(messages):
        not_broadcast(events)


def publish_beating(events: Sequence[IntentEvent], *, executor_id: str) -> tuple[bool, bool] | None:
    """`publish`, and the executor's heartbeat in Redis (`live.touch`) in the same round trip
    when the channel layer is Redis's. Answers as `live.touch` does."""
    messages = event_messages(events)
    write_every = settings.HEARTBEAT_WRITE_SECONDS
    pairs = redis_messages(messages)
    if pairs is None:  # another channel layer (the in-memory one, without Redis)
        touched = live.touch(executor_id, write_every)
        sent = not messages or broadcast(messages)
    else:
        touched = live.touch(executor_id, write_every, publish=pairs)
        sent = not pairs or touched is not None
    if not sent:
        not_broadcast(events)
    return touched


def event_messages(events: Sequence[IntentEvent]) -> list[tuple[str, dict[str, Any]]]:
    """Each event's log line and metrics, and its (group, message) pairs for the channel
    layer."""
    messages: list[tuple[str, dict[str, Any]]] = []
    for event in events:
        data = event_data(event)
        log_state_change(data)
        try:
            metrics.observe(data)
        except Exception:  # a metrics bug must not turn a committed change into an error
            logger.exception("event %s not counted in the metrics", event.pk)
        # Encoded once here, not once per viewer: every process's fanout sends this as is.
        messages.append((LINE_GROUP, {"type": "line.event", "event": json.dumps(data)}))
        if data["to_status"] == "queued" and data["intent_id"]:
            notice = {"type": "work.available", "intent_id": data["intent_id"]}
            messages.append((WORK_GROUP, {**notice, "phase": data["to_phase"]}))
    return messages


def not_broadcast(events: Sequence[IntentEvent]) -> None:
    logger.warning("events %s not broadcast: channel layer unavailable", [e.pk for e in events])


def redis_messages(messages: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, bytes]] | None:
    """The messages as the Redis PUBLISHes the pub/sub channel layer would make; None with
    another layer."""
    layer = get_channel_layer()
    if not isinstance(layer, RedisPubSubChannelLayer):
        return None
    return [(redis_group_channel(g), layer.serialize(m)) for g, m in messages]


def broadcast(messages: list[tuple[str, dict[str, Any]]]) -> bool:
    """Give (group, message) pairs to the channel layer from synchronous code. With Redis this
    is one round trip of PUBLISHes on the request's own thread (no hop to the event loop, no
    connection per call), behind the live-status circuit breaker; False when the layer is
    unavailable."""
    layer = get_channel_layer()
    if layer is None:
        return True
    pairs = redis_messages(messages)
    if pairs is not None:

        def publish_all(r: Any) -> list[Any]:
            pipe = r.pipeline(transaction=False)
            for channel, payload in pairs:
                pipe.publish(channel, payload)
            return list(pipe.execute())

        return live.call(publish_all) is not None
    try:
        for group, message in messages:
            async_to_sync(_send)(layer, group, message)
    except Exception as exc:
        logger.warning("channel layer error: %s", exc)
        return False
    return True


async def _send(layer: Any, group: str, message: dict[str, Any]) -> None:
    await asyncio.wait_for(layer.group_send(group, message), BROADCAST_TIMEOUT_SECONDS)


def intent_event(
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
    """The intent's event, not saved yet: it goes to the intent's state as it is now."""
    return IntentEvent(
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


def record(event: IntentEvent) -> IntentEvent:
    """Save an event inside the transaction of its change; it is published after commit."""
    event.save(force_insert=True)
    transaction.on_commit(lambda: publish(event))
    return event


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
    return record(
        intent_event(
            intent=intent,
            kind=kind,
            actor=actor,
            from_status=from_status,
            from_phase=from_phase,
            executor_id=executor_id,
            payload=payload,
            duration_seconds=duration_seconds,
        )
    )


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

"""Executors joining the line: registration, with its event in the same transaction; and the
heartbeat every executor call makes, with the executor coming online announced."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from django.db import connection, transaction

from executors.authentication import Principal
from executors.models import Executor
from executors.services import executor_register, executor_touch, executor_touched
from intents.events import publish, publish_beating, record_executor_event
from intents.models import EventKind, IntentEvent


def executor_join(
    *, principal: Principal, executor_id: str, fields: dict[str, Any]
) -> tuple[Executor, bool, str | None]:
    """`executors.services.executor_register`, and its `executor_registered` event."""
    with transaction.atomic():
        executor, created, token = executor_register(
            principal=principal, executor_id=executor_id, fields=fields
        )
        record_executor_event(
            executor=executor,
            kind=EventKind.EXECUTOR_REGISTERED,
            actor=principal.identity,
            payload={"created": created, **fields},
        )
    return executor, created, token


def executor_called(
    *,
    executor_id: str,
    actor: str,
    now: datetime,
    events: Sequence[IntentEvent] = (),
    announce: bool = True,
) -> None:
    """After an executor call's change is committed: its heartbeat (`executor_touch`) and the
    publish of its events, in one Redis round trip. An executor found coming online is
    announced when `announce` (`executor_online`, in a transaction of its own, published
    after the call's events); its row is brought online either way, as `executor_touch` does.

    Inside a caller's transaction (tests, scripts) the events wait for its commit and the
    heartbeat does not: two round trips then."""
    if connection.in_atomic_block:
        came_online = executor_touch(executor_id=executor_id, now=now)
        if events:
            transaction.on_commit(partial(publish, *events))
    else:
        touched = publish_beating(events, executor_id=executor_id)
        came_online = executor_touched(executor_id=executor_id, touched=touched, now=now)
    if came_online and announce:
        with transaction.atomic():
            record_executor_event(
                executor=Executor(pk=executor_id), kind=EventKind.EXECUTOR_ONLINE, actor=actor
            )

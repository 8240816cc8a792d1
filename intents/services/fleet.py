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


def executor_heard(
    *, executor_id: str, actor: str, now: datetime, executor: Executor | None = None
) -> None:
    """Rule: every executor call is a heartbeat (`executor_touch`), and an executor found
    coming online is announced (`executor_online`). Inside the call's transaction; `executor`:
    its row, when the caller has loaded it."""
    if executor_touch(executor_id=executor_id, now=now, executor=executor):
        announce_online(executor_id=executor_id, actor=actor)


def executor_called(
    *, executor_id: str, actor: str, now: datetime, events: Sequence[IntentEvent] = ()
) -> None:
    """`executor_heard` after an executor call's change is committed: its heartbeat and the
    publish of its events in one Redis round trip. An executor found coming online is
    announced in a transaction of its own, published after the call's events (a second round
    trip, in that rare case only).

    Inside a caller's transaction (tests, scripts) the events wait for its commit and the
    heartbeat does not: two round trips then."""
    if connection.in_atomic_block:
        if events:
            transaction.on_commit(partial(publish, *events))
        executor_heard(executor_id=executor_id, actor=actor, now=now)
        return
    touched = publish_beating(events, executor_id=executor_id)
    if executor_touched(executor_id=executor_id, touched=touched, now=now):
        with transaction.atomic():
            announce_online(executor_id=executor_id, actor=actor)


def announce_online(*, executor_id: str, actor: str) -> None:
    record_executor_event(
        executor=Executor(pk=executor_id), kind=EventKind.EXECUTOR_ONLINE, actor=actor
    )

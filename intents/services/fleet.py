"""Executors joining the line: registration, with its event in the same transaction."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from executors.authentication import Principal
from executors.models import Executor
from executors.services import executor_register
from intents.events import record_executor_event
from intents.models import EventKind


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

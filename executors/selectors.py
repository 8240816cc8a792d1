"""Reads about executors: who is alive, and the spec's ExecutorStatus of one."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from executors.live import live
from executors.models import Executor


def heartbeat_fresh(last: datetime | None, now: datetime) -> bool:
    """A heartbeat at `last` still counts at `now` (EXECUTOR_OFFLINE_AFTER_SECONDS)."""
    offline_after = timedelta(seconds=settings.EXECUTOR_OFFLINE_AFTER_SECONDS)
    return last is not None and now - last <= offline_after


def executor_alive(executor: Executor, *, now: datetime, alive: bool | None = None) -> bool:
    """The one rule for "is this executor alive": its Redis heartbeat key (`alive`, when Redis
    can tell); otherwise its `online` flag (which the reaper clears when it declares the
    executor gone) and a fresh last_heartbeat."""
    if alive is not None:
        return alive
    return executor.online and heartbeat_fresh(executor.last_heartbeat, now)


def liveness(executors: list[Executor]) -> dict[str, bool] | None:
    """Which of these executors have a live Redis key (one round trip; None when Redis cannot
    tell)."""
    return live.alive([e.executor_id for e in executors])


def alive_among(
    executors: list[Executor], alive: dict[str, bool] | None, now: datetime
) -> list[Executor]:
    """The executors alive by `executor_alive`, given their Redis liveness (`liveness`)."""
    return [
        e
        for e in executors
        if executor_alive(e, now=now, alive=None if alive is None else alive.get(e.pk, False))
    ]


def executors_and_liveness() -> tuple[list[Executor], dict[str, bool] | None]:
    """Every executor, and which are alive by their Redis heartbeat key. Without registered_at,
    which no reader of these uses: parsing 200 timestamps was a sixth of /state's executors."""
    executors = list(Executor.objects.defer("registered_at"))
    return executors, liveness(executors)


def executor_status(
    executor: Executor, *, holding: int, now: datetime, alive: bool | None = None
) -> str:
    """offline / idle / busy, derived from the heartbeat and the work held."""
    if not executor_alive(executor, now=now, alive=alive):
        return "offline"
    return "busy" if holding else "idle"


def executor_data(
    executor: Executor, *, held: list[str], now: datetime, alive: bool | None = None
) -> dict[str, Any]:
    """The spec's ExecutorStatus; `held`: the ids of the intents it holds, oldest claim
    first."""
    if alive is None:
        alive = (live.alive([executor.executor_id]) or {}).get(executor.executor_id)
    status = executor_status(executor, holding=len(held), now=now, alive=alive)
    return {
        "executor_id": executor.executor_id,
        "executor_type": executor.executor_type,
        "environment": executor.environment,
        "status": status,
        "current_work": held[0] if held else None,
        "capabilities": executor.capabilities,
        "availability": executor.availability,
        "builds_completed": executor.builds_completed,
        "avg_build_time": round(executor.avg_build_time, 3),
        "success_rate": round(executor.success_rate, 4),
        "last_heartbeat": executor.last_heartbeat.isoformat() if executor.last_heartbeat else None,
        "is_healthy": executor.is_healthy and status != "offline",
        "max_concurrent": executor.max_concurrent,
        "current_work_all": held,
    }

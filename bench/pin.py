"""CPU pinning for the bench: app servers on one core, load generators on the other, so that
the clients' CPU does not come out of the servers' (taskset's affinity, through
os.sched_setaffinity). Off with BENCH_PIN=0 (`--no-pin`), and off by itself on a machine with
fewer than two usable cores. PostgreSQL and Redis are not pinned: they are shared."""

from __future__ import annotations

import os
from typing import Any

# The cores the bench may use, as the orchestrator found them before it pinned anything
# (its children inherit both the variable and, until they pin, its affinity).
os.environ.setdefault("BENCH_CPUS", ",".join(str(c) for c in sorted(os.sched_getaffinity(0))))


def _cores() -> list[int]:
    return [int(c) for c in os.environ["BENCH_CPUS"].split(",")]


def enabled() -> bool:
    return os.environ.get("BENCH_PIN", "1") != "0" and len(_cores()) >= 2


def server_cpus() -> set[int]:
    return {_cores()[0]}


def load_cpus() -> set[int]:
    return set(_cores()[1:])


def to_server_core() -> None:
    """preexec_fn of a server process: its children (granian's worker) inherit it."""
    if enabled():
        os.sched_setaffinity(0, server_cpus())


def to_load_cores() -> None:
    if enabled():
        os.sched_setaffinity(0, load_cpus())


def run_on_load_cores(target: Any, *args: Any) -> None:
    """A spawned load generator's entry point: pinned before it starts its threads."""
    to_load_cores()
    target(*args)

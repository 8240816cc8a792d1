"""`python -m bench.workcpu DATABASE [N]`: the CPU time of the executor's hot calls in this
process, the ORM path against the one-statement path (intents/services/hotpath.py), on
PostgreSQL. DATABASE is created if missing and migrated; its intents and events are emptied.

Each round gives N intents, claimed by one executor in the build phase, to each path in turn:
three progress reports then a hand-in that passes its gate (build → test), and N more whose
hand-in is reported failed (back to the queue). Timed: the service calls only, in this
process's CPU time (user + system). Prints JSON: ms of CPU, queries and Redis round trips per
call, the best of 5 rounds for each path and call."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import redis

PG = "postgres://postgres@127.0.0.1:5432/"
ROUNDS = 5


def setup(database: str) -> None:
    with psycopg.connect(PG + "postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            conn.execute(f'CREATE DATABASE "{database}"')
    os.environ.update(
        {
            "DATABASE_URL": PG + database,
            "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
            "DJANGO_SETTINGS_MODULE": "assemblyline.settings",
            "SECRET_KEY": "bench",
            "LIVE_CHECKS": "false",
            "DB_POOL": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def main() -> None:
    database, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 300
    setup(database)
    from django.db import connection
    from django.utils import timezone

    from bench.fleet import ARTIFACTS
    from executors.models import Executor
    from intents import services
    from intents.models import Intent, Phase, Status
    from intents.services.work import progress_orm

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE intents_intentevent, verification_verificationrun, intents_intent CASCADE"
        )
    executor, _ = Executor.objects.get_or_create(
        executor_id="workcpu", defaults={"environment": "server"}
    )
    queries, trips = [0], [0]

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries[0] += 1
        return execute(sql, params, many, context)

    # Redis round trips: every command or pipeline is one send on a connection.
    send = redis.connection.AbstractConnection.send_packed_command

    def sent(self: Any, command: Any, check_health: bool = True) -> None:
        trips[0] += 1
        send(self, command, check_health)

    redis.connection.AbstractConnection.send_packed_command = sent  # type: ignore[method-assign]

    def claimed(tag: str) -> list[str]:
        now = timezone.now()
        intents = [
            Intent(
                id=f"int_{tag}_{i}",
                title=f"workcpu {i}",
                created_by=f"user:bench-{i % 7}",
                priority=1 + i % 10,
                status=Status.ASSIGNED,
                current_phase=Phase.BUILD,
                assigned_to=executor,
                assigned_at=now,
                lease_expires_at=now + timedelta(seconds=300),
                last_progress_at=now,
            )
            for i in range(n)
        ]
        Intent.objects.bulk_create(intents)
        return [intent.pk for intent in intents]

    def timed(calls: list[Callable[[], Any]]) -> tuple[float, float, float]:
        """ms of CPU, queries and Redis round trips per call."""
        queries[0] = trips[0] = 0
        start = time.process_time()
        with connection.execute_wrapper(count):
            for call in calls:
                call()
        cpu = (time.process_time() - start) / len(calls) * 1e3
        return cpu, queries[0] / len(calls), trips[0] / len(calls)

    def run(path: str, round_: int) -> dict[str, tuple[float, float, float]]:
        sql = path == "sql"
        report = services.work_progress if sql else progress_orm
        passing, failing = claimed(f"{path}{round_}p"), claimed(f"{path}{round_}f")
        progress = [
            lambda pk=pk, step=step: report(
                executor_id="workcpu",
                actor="workcpu",
                intent_id=pk,
                phase=Phase.BUILD,
                progress=step,
                message=f"build {step}",
            )
            for pk in passing + failing
            for step in (0.25, 0.5, 0.75)
        ]

        def complete(pk: str, status: str) -> Callable[[], Any]:
            return lambda: services.work_complete(
                executor_id="workcpu",
                actor="workcpu",
                intent_id=pk,
                status=status,
                artifacts=ARTIFACTS[Phase.BUILD] if status == Status.COMPLETED else {},
                phase=Phase.BUILD,
                sql=sql,
            )

        return {
            "progress": timed(progress),
            "complete_passed": timed([complete(pk, Status.COMPLETED) for pk in passing]),
            "complete_failed": timed([complete(pk, Status.FAILED) for pk in failing]),
        }

    # Event log lines go nowhere (the same lines for both paths), the answer to stdout.
    sys.stdout.flush()
    real = os.dup(1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    rounds: dict[str, list[dict[str, tuple[float, float, float]]]] = {"orm": [], "sql": []}
    for round_ in range(ROUNDS):
        for path in rounds:
            rounds[path].append(run(path, round_))
    result: dict[str, Any] = {"intents_per_round": n, "rounds": ROUNDS}
    for path, runs in rounds.items():
        result[path] = {
            call: {
                "cpu_ms": round(min(r[call][0] for r in runs), 3),
                "queries": round(runs[0][call][1], 2),
                "redis_round_trips": round(runs[0][call][2], 2),
            }
            for call in runs[0]
        }
    result["orm_over_sql"] = {
        call: round(result["orm"][call]["cpu_ms"] / result["sql"][call]["cpu_ms"], 2)
        for call in result["sql"]
    }
    sys.stdout.flush()
    os.dup2(real, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

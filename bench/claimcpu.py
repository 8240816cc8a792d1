"""`python -m bench.claimcpu [N]`: this process's CPU time per `work_claim` call on
PostgreSQL, the ORM path (`claim_with_orm`: SQLite's, and PostgreSQL's before issue 19) against
the one-call path (`work_claim`: the `intents_claim` function), with 20,000 intents queued.

5 rounds × N claims (300 by default) through each path, alternating; each round a fresh
executor (online, its heartbeat live in Redis, so the claim is the common one), the best round
of each. Also the wall time and the SQL statements per call. Database `<BENCH_DB_PREFIX>_claimcpu`
(recreated), Redis BENCH_REDIS_URL. Prints JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PG = "postgresql://postgres@127.0.0.1:5432/"
QUEUED = 20_000
ROUNDS = 5


def prepare(database: str, redis_url: str) -> None:
    with psycopg.connect(PG + "postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    os.environ.update(
        {
            "DATABASE_URL": PG + database,
            "REDIS_URL": redis_url,
            "DJANGO_SETTINGS_MODULE": "assemblyline.settings",
            "SECRET_KEY": "bench",
            "LIVE_CHECKS": "false",
            "DB_POOL": "false",
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
        }
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=os.environ, check=True
    )


def seed() -> None:
    from django.db import connection
    from django.utils import timezone

    from intents.models import Intent

    now = timezone.now()
    Intent.objects.bulk_create(
        (
            Intent(
                title=f"bench {n}",
                created_by="bench",
                spec_text="-",
                queued_at=now,
                rank=now + timedelta(milliseconds=n),
            )
            for n in range(QUEUED)
        ),
        batch_size=2000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE intents_intent")  # as autovacuum would, after a bulk load


def measure(claim: Callable[[str], Any], executor_id: str, n: int) -> dict[str, float]:
    from django.db import connection

    statements = 0

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    claim(executor_id)  # comes online, its heartbeat key set: the rest are common claims
    with connection.execute_wrapper(count):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            assert claim(executor_id).intent is not None
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"cpu_ms": cpu / n * 1e3, "wall_ms": wall / n * 1e3, "statements": statements / n}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    database = os.environ.get("BENCH_DB_PREFIX", "assemblyline") + "_claimcpu"
    prepare(database, os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    import django

    django.setup()
    from django.utils import timezone

    from executors.live import live
    from executors.models import Executor
    from intents.services import work_claim
    from intents.services.claim import claim_with_orm

    seed()
    paths: dict[str, Callable[[str], Any]] = {
        "orm": lambda e: claim_with_orm(executor_id=e, actor=e, now=timezone.now()),
        "one_call": lambda e: work_claim(executor_id=e, actor=e),
    }
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in paths}
    for r in range(ROUNDS):
        for name, claim in paths.items():
            executor_id = f"{name}-{r}"
            Executor.objects.create(executor_id=executor_id, max_concurrent=n + 1)
            live.forget(executor_id)
            rounds[name].append(measure(claim, executor_id, n))
    best = {name: min(found, key=lambda x: x["cpu_ms"]) for name, found in rounds.items()}
    print(
        json.dumps(
            {
                "queued": QUEUED,
                "claims_per_round": n,
                "rounds": ROUNDS,
                "redis": live.configured,
                **{
                    f"{name}_{key}": round(value, 3)
                    for name, figures in best.items()
                    for key, value in figures.items()
                },
                "cpu_ratio_orm_to_one_call": round(
                    best["orm"]["cpu_ms"] / best["one_call"]["cpu_ms"], 2
                ),
            }
        )
    )


if __name__ == "__main__":
    main()

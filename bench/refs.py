"""The two references of the same run: PostgreSQL's own claim limit (pgbench running our claim
SQL on our table) and Procrastinate (a Python PostgreSQL job queue) with no-op jobs."""

from __future__ import annotations

import asyncio
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

CLAIM_UPDATE = """WITH c AS (
{select}
)
UPDATE intents_intent AS i SET status = 'assigned', assigned_to_id = 'pgbench',
    assigned_at = now(), lease_expires_at = now() + interval '300 seconds',
    last_progress_at = now(), stalled_at = NULL, spilled = false, updated_at = now()
FROM c WHERE i.id = c.id;
"""


def captured_claim_select() -> str:
    """The SELECT ... FOR UPDATE SKIP LOCKED our service issues for a claim, captured from a
    real claim through the ORM path (Django must be set up on the pgbench database; the
    one-call path runs its statements inside the `intents_claim` function, out of sight)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from executors.models import Executor
    from intents.services.claim import claim_with_orm

    executor, _ = Executor.objects.get_or_create(
        executor_id="pgbench", defaults={"environment": "server"}
    )
    with CaptureQueriesContext(connection) as queries:
        claim_with_orm(executor_id=executor.pk, actor="pgbench", now=timezone.now())
    selects = [
        q["sql"]
        for q in queries.captured_queries
        if "SKIP LOCKED" in q["sql"] and "intents_intent" in q["sql"]
    ]
    if not selects:
        raise RuntimeError("no SKIP LOCKED claim query captured")
    return selects[-1]


def pgbench(database: str, select: str, clients: int, seconds: int) -> dict[str, Any]:
    script = Path(tempfile.mkdtemp()) / "claim.sql"
    script.write_text(CLAIM_UPDATE.format(select=select).replace("\n", " ") + "\n")
    run = subprocess.run(
        [
            "pgbench",
            "-n",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-c",
            str(clients),
            "-j",
            "2",
            "-T",
            str(seconds),
            "-f",
            str(script),
            database,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    tps = float(re.search(r"tps = ([\d.]+)", run.stdout).group(1))  # type: ignore[union-attr]
    latency = re.search(r"latency average = ([\d.]+) ms", run.stdout)
    return {
        "clients": clients,
        "seconds": seconds,
        "claims_per_second": tps,
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "script": script.read_text(),
    }


def procrastinate(conninfo: str, jobs: int, concurrency: int) -> dict[str, Any]:
    import procrastinate as pc

    app = pc.App(connector=pc.PsycopgConnector(conninfo=conninfo))

    @app.task(name="noop", queue="bench")
    async def noop() -> None:
        return None

    async def run() -> float:
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            await noop.batch_defer_async(*({} for _ in range(jobs)))
            start = time.perf_counter()
            await app.run_worker_async(
                queues=["bench"], concurrency=concurrency, wait=False, install_signal_handlers=False
            )
            return time.perf_counter() - start

    elapsed = asyncio.run(run())
    return {
        "jobs": jobs,
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "jobs_per_second": round(jobs / elapsed, 1),
    }


# The executor cycle straight to PostgreSQL, one round trip per call as issue 19's hot path
# would make it: the claim (our captured SKIP LOCKED select, the update and its event in one
# statement), three progress reports and the complete (each an update with its event insert).
EVENT = (
    "INSERT INTO intents_intentevent (executor_id, actor, kind, from_status, to_status, "
    "from_phase, to_phase, payload, created_at, intent_id) SELECT 'pgbench', 'pgbench', "
    "'{kind}', '{before}', '{after}', u.current_phase, u.current_phase, '{{}}'::jsonb, "
    "now(), u.id FROM u"
)
CYCLE = [
    "WITH c AS ({select}), u AS (UPDATE intents_intent AS i SET status = 'assigned', "
    "assigned_to_id = 'pgbench', assigned_at = now(), lease_expires_at = now() + interval "
    "'300 seconds', last_progress_at = now(), stalled_at = NULL, spilled = false, "
    "updated_at = now() FROM c WHERE i.id = c.id RETURNING i.id, i.current_phase), "
    "e AS (" + EVENT.format(kind="claimed", before="queued", after="assigned") + ") "
    "SELECT id AS iid FROM u \\gset",
    *[
        "WITH u AS (UPDATE intents_intent SET status = 'in_progress', phase_progress = "
        f"jsonb_build_object(current_phase, {step}), progress_message = 'p {step}', "
        "last_progress_at = now(), updated_at = now() WHERE id = ':iid' AND status IN "
        "('assigned', 'in_progress') AND assigned_to_id = 'pgbench' RETURNING id, "
        "current_phase) "
        + EVENT.format(kind="progress", before="in_progress", after="in_progress")
        + ";"
        for step in (0.25, 0.5, 0.75)
    ],
    "WITH u AS (UPDATE intents_intent SET status = 'completed', finished_at = now(), "
    "artifacts = '{\"build_output\": \"ok\"}'::jsonb, updated_at = now() WHERE id = ':iid' "
    "AND status = 'in_progress' AND assigned_to_id = 'pgbench' RETURNING id, current_phase) "
    + EVENT.format(kind="completed", before="in_progress", after="completed")
    + ";",
]


def pgbench_cycles(
    database: str, select: str, clients: int, seconds: int, preexec: Any = None
) -> dict[str, Any]:
    """claim → 3 progress → complete from `clients` pgbench clients; pgbench's tps is then
    cycles/s (one script run = one cycle, five round trips)."""
    script = Path(tempfile.mkdtemp()) / "cycle.sql"
    flat = " ".join(select.split())
    script.write_text("\n".join(line.replace("{select}", flat) for line in CYCLE) + "\n")
    run = subprocess.run(
        [
            "pgbench",
            "-n",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-c",
            str(clients),
            "-j",
            "1",
            "-T",
            str(seconds),
            "-f",
            str(script),
            database,
        ],
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=preexec,
    )
    found = re.search(r"tps = ([\d.]+)", run.stdout)
    if run.returncode or not found:
        raise RuntimeError(f"pgbench cycle failed: {run.stdout[-800:]} {run.stderr[-800:]}")
    failed = re.search(r"number of failed transactions: (\d+)", run.stdout)
    return {
        "clients": clients,
        "seconds": seconds,
        "cycles_per_second": float(found.group(1)),
        "failed": int(failed.group(1)) if failed else 0,
        "script": script.read_text(),
    }

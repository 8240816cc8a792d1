"""What the bench's parts share: the databases and Redis it uses, the app's environment, the
app process that serves it, tokens, and the load generators' spawning."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from bench import pin
from bench.servers import Server

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG = "postgres://postgres@127.0.0.1:5432/"
# BENCH_DB_PREFIX: e.g. a session's own database name, beside others' on a shared PostgreSQL.
_PREFIX = os.environ.get("BENCH_DB_PREFIX", "assemblyline")
BENCH_DB, PGBENCH_DB, PROC_DB = f"{_PREFIX}_bench", f"{_PREFIX}_pgbench", f"{_PREFIX}_proc"
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * len(ordered))) - 1))], 2)


def figures(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
    }


def recreate(name: str) -> None:
    with psycopg.connect(PG + "postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def server_env(database: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": PG + database,
        "REDIS_URL": REDIS,
        "DJANGO_SETTINGS_MODULE": "assemblyline.settings",
        "SECRET_KEY": "bench",
        "LIVE_CHECKS": "false",
        "REAPER": "true",
        "PYTHONUNBUFFERED": "1",
        "DB_POOL": "true",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }


def migrate(database: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"],
        cwd=ROOT,
        env=server_env(database),
        check=True,
    )


def App(database: str, pinned: bool = True) -> Server:  # noqa: N802
    """One app process as production serves it (pinned to the server core, bench/pin.py)."""
    return Server(server_env(database), pinned=pinned)


def setup_django() -> None:
    os.environ.update(
        {
            k: v
            for k, v in server_env(BENCH_DB).items()
            if k
            in (
                "DATABASE_URL",
                "REDIS_URL",
                "DJANGO_SETTINGS_MODULE",
                "SECRET_KEY",
                "LIVE_CHECKS",
                "ALLOWED_HOSTS",
            )
        }
    )
    os.environ["DB_POOL"] = "false"  # the orchestrator only; server_env() turns it on
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def make_tokens(count: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    from executors.models import Executor, Role
    from executors.services import token_create

    fleet_tokens = []
    for n in range(count):
        executor = Executor.objects.create(
            executor_id=f"ex-{n:03d}", environment="local" if n % 2 else "server"
        )
        fleet_tokens.append(
            (executor.pk, token_create(name=executor.pk, role=Role.EXECUTOR, executor=executor)[1])
        )
    user = get_user_model().objects.create_superuser("bench", "b@example.com", "bench")
    return {
        "fleet": fleet_tokens,
        "submitter": token_create(name="feed", role=Role.SUBMITTER)[1],
        "viewer": token_create(name="viewer", role=Role.VIEWER)[1],
        "user": user,
    }


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS).flushdb()


def spawn(target: Any, *args: Any) -> tuple[Any, Any]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    # Load generators run on the load core(s), away from the servers (bench/pin.py).
    process = ctx.Process(target=pin.run_on_load_cores, args=(target, *args, out), daemon=True)
    process.start()
    return process, out


def profile(server: Server, seconds: float, name: str) -> subprocess.Popen[bytes] | None:
    """With BENCH_PROFILE=1: py-spy on a server, where its CPU goes under this load (--gil by
    default: only the thread holding the GIL, so waits on the database are not counted;
    BENCH_PROFILE_FLAGS to change), written to results/profile-<name>.txt."""
    if not os.environ.get("BENCH_PROFILE"):
        return None
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(server.process.pid),
            "--duration",
            str(int(seconds)),
            "--format",
            "raw",
            "--nonblocking",
            *os.environ.get("BENCH_PROFILE_FLAGS", "--gil").split(),
            "-o",
            str(RESULTS / f"profile-{name}.txt"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

"""`python -m bench [--quick]`: the real line under load, beside PostgreSQL's own claim limit
(pgbench) and Procrastinate, on this machine's PostgreSQL and Redis.

Writes bench/results/latest.json, latest.md and latency.png, and the README's table.
Real servers: Daphne processes serving assemblyline.asgi (1 and 2), load from separate
processes (executors, a submitter, WebSocket viewers). Live HTTP checks are off (the built
services do not exist here); every other gate check runs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench import compare, fleet, load, pin, refs
from bench.servers import Server

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG = "postgres://postgres@127.0.0.1:5432/"
# BENCH_DB_PREFIX: e.g. a session's own database name, beside others' on a shared PostgreSQL.
_PREFIX = os.environ.get("BENCH_DB_PREFIX", "assemblyline")
BENCH_DB, PGBENCH_DB, PROC_DB = f"{_PREFIX}_bench", f"{_PREFIX}_pgbench", f"{_PREFIX}_proc"
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
# The submitter keeps the queue fed (20,000 intents are loaded before each scenario).
SUBMITS_PER_SECOND = 5.0
# Offered-load scenarios run at least this long: at 50 calls/s a 15 s run made ~150 claims,
# so a p99 was the 2nd-slowest claim and moved by 2x from run to run.
PACED_SECONDS = 60


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


def Daphne(database: str, pinned: bool = True) -> Server:  # noqa: N802
    """One Daphne process serving the app (pinned to the server core, bench/pin.py)."""
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


def profile(server: Daphne, seconds: float, name: str) -> subprocess.Popen[bytes] | None:
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


def scenario(
    name: str,
    tokens: dict[str, Any],
    *,
    processes: int,
    executors: int,
    viewers: int,
    seconds: float,
    interval: float = 0.0,
    claims_only: bool = False,
) -> dict[str, Any]:
    print(f"--- {name}", flush=True)
    load.reset(PG + BENCH_DB)
    flush_redis()
    from executors.models import Executor

    chosen = tokens["fleet"][:executors]
    # Claims only: executors never hand work back, so they may hold any number at once.
    Executor.objects.filter(pk__in=[e for e, _ in chosen]).update(
        max_concurrent=30_000 if claims_only else 1
    )
    load.bulk(PG + BENCH_DB, count=20_000, spec=fleet.SPEC, prefix="w")
    # Two processes cannot have a core each beside the load on a 2-core machine: unpinned.
    servers = [Daphne(BENCH_DB, pinned=processes == 1) for _ in range(processes)]
    urls = [s.url for s in servers]
    try:
        watcher = None
        if viewers:
            # The load starts when every viewer has its snapshot (counted by the viewers).
            ready = mp.get_context("spawn").Value("i", 0)
            watcher = spawn(fleet.viewers, urls, tokens["viewer"], viewers, seconds + 25, ready)
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and ready.value < viewers:
                time.sleep(0.2)
            print(
                f"{ready.value} viewers have their snapshot; peak RSS so far "
                f"{[s.peak_rss_mb() for s in servers]} MB",
                flush=True,
            )
            time.sleep(1)
        profiler = profile(servers[0], seconds, f"{processes}p-{executors}e")
        cpu0 = [s.cpu_seconds() for s in servers]
        wall0 = time.monotonic()
        groups = [chosen[i::4] for i in range(4)]
        workers = [
            spawn(fleet.executors, urls[i % len(urls)], group, seconds, interval, claims_only)
            for i, group in enumerate(groups)
        ]
        feeder = spawn(fleet.submitter, urls[0], tokens["submitter"], seconds, SUBMITS_PER_SECOND)
        results = [out.get(timeout=seconds + 120) for _, out in workers]
        wall = time.monotonic() - wall0
        cpu = [
            round((s.cpu_seconds() - c) / wall * 100, 1) for s, c in zip(servers, cpu0, strict=True)
        ]
        rss = [s.peak_rss_mb() for s in servers]
        fed = feeder[1].get(timeout=60)
        if profiler is not None:
            profiler.wait(60)
        ws: dict[str, Any] = {}
        if watcher is not None:
            got = watcher[1].get(timeout=120)
            ws = {"connected": got["connected"], **figures(got["latencies"])}
    finally:
        for server in servers:
            server.stop()
    merged: dict[str, list[float]] = {
        k: [] for k in ("claim", "claim_empty", "progress", "complete")
    }
    for result in results:
        for key in merged:
            merged[key] += result[key]
    cycles = sum(r["cycles"] for r in results)
    summary = {
        "name": name,
        "processes": processes,
        "executors": executors,
        "viewers": viewers,
        "interval": interval,
        "claims_only": claims_only,
        "offered_per_second": round(executors / interval) if interval else None,
        "seconds": round(wall, 1),
        "cycles": cycles,
        "cycles_per_second": round(cycles / wall, 1),
        "claims_per_second": round(len(merged["claim"]) / wall, 1),
        "requests_per_second": round(sum(len(v) for v in merged.values()) / wall, 1),
        "errors": sum(r["errors"] for r in results),
        "submitted": fed["submitted"],
        "endpoints": {k: figures(v) for k, v in merged.items()},
        "websocket_ms": ws,
        "cpu_percent": cpu,
        "peak_rss_mb": rss,
    }
    print(
        json.dumps(
            {
                k: summary[k]
                for k in ("cycles_per_second", "claims_per_second", "cpu_percent", "peak_rss_mb")
            }
        ),
        flush=True,
    )
    print(json.dumps(summary["endpoints"]), json.dumps(ws), flush=True)
    return summary


def idle_long_poll(tokens: dict[str, Any], count: int, seconds: float) -> dict[str, Any]:
    print(f"--- {count} idle executors long-polling (wait=30) for {seconds:.0f} s", flush=True)
    load.reset(PG + BENCH_DB)
    flush_redis()
    server = Daphne(BENCH_DB)
    try:
        process, polls = spawn(fleet.idle_pollers, server.url, tokens["fleet"][:count], seconds + 5)
        time.sleep(5)  # all connected and waiting
        before = httpx.get(server.url + "/state").json()["requests_total"]
        cpu0, wall0 = server.cpu_seconds(), time.monotonic()
        profiler = profile(server, seconds, "idle")
        time.sleep(seconds)
        if profiler is not None:
            profiler.wait(60)
        wall = time.monotonic() - wall0
        cpu = (server.cpu_seconds() - cpu0) / wall * 100
        made = httpx.get(server.url + "/state").json()["requests_total"] - before - 1
        held = polls.get(timeout=60)
        process.terminate()
    finally:
        server.stop()
    result = {
        "executors": count,
        "seconds": round(wall, 1),
        "cpu_percent_of_one_core": round(cpu, 2),
        "requests": made,
        "requests_per_minute": round(made / wall * 60),
        "polls": held,
    }
    print(json.dumps(result), flush=True)
    return result


def timed_gets(http: httpx.Client, path: str, count: int, **kw: Any) -> list[float]:
    values = []
    for _ in range(count):
        start = time.perf_counter()
        response = http.get(path, **kw)
        values.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return values


def scaling(tokens: dict[str, Any], sizes: list[int], history: int) -> dict[str, Any]:
    from django.contrib.sessions.backends.db import SessionStore

    from executors.models import Executor

    print(
        f"--- scaling: claims at {sizes} queued, /state and the dashboard with {history} "
        "in history",
        flush=True,
    )
    load.reset(PG + BENCH_DB)
    flush_redis()
    executor_id, token = tokens["fleet"][1]
    Executor.objects.filter(pk=executor_id).update(max_concurrent=30_000)
    session = SessionStore()
    session["_auth_user_id"] = str(tokens["user"].pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = tokens["user"].get_session_auth_hash()
    session.create()
    loaded, steps = 0, []
    for size in sizes:
        load.bulk(PG + BENCH_DB, count=size - loaded, start=loaded + 1, spec=fleet.SPEC, prefix="s")
        loaded = size
        server = Daphne(BENCH_DB)
        try:
            with httpx.Client(
                base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
            ) as http:
                timed_gets(
                    http, "/assembly-line/work/next", 20, params={"executor_id": executor_id}
                )  # warm
                claims = timed_gets(
                    http, "/assembly-line/work/next", 300, params={"executor_id": executor_id}
                )
                state = timed_gets(http, "/assembly-line/state", 100)
        finally:
            server.stop()
        steps.append({"queued": size, "claim_ms": figures(claims), "state_ms": figures(state)})
        print(json.dumps(steps[-1]), flush=True)
    load.bulk(
        PG + BENCH_DB,
        count=history,
        start=10_000_001,
        status="completed",
        phase="production",
        prefix="h",
        spec=fleet.SPEC,
    )
    server = Daphne(BENCH_DB)
    try:
        with httpx.Client(
            base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            timed_gets(http, "/assembly-line/state", 10)
            state = timed_gets(http, "/assembly-line/state", 100)
        with httpx.Client(
            base_url=server.url, timeout=30, cookies={"sessionid": session.session_key}
        ) as http:
            timed_gets(http, "/assembly-line/dashboard", 5)
            page = timed_gets(http, "/assembly-line/dashboard", 50)
    finally:
        server.stop()
    with_history = {
        "queued": loaded,
        "history": history,
        "state_ms": figures(state),
        "dashboard_ms": figures(page),
    }
    print(json.dumps(with_history), flush=True)
    return {"steps": steps, "with_history": with_history}


def pgbench_database(quick: bool) -> str:
    """The pgbench database, queued intents and a `pgbench` executor; our claim's SELECT,
    captured from the service (Django is set up on the bench database)."""
    select = refs.captured_claim_select()
    recreate(PGBENCH_DB)
    migrate(PGBENCH_DB)
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "createtoken",
            "--role",
            "executor",
            "--executor-id",
            "pgbench",
            "--environment",
            "server",
        ],
        cwd=ROOT,
        env=server_env(PGBENCH_DB),
        check=True,
        capture_output=True,
    )
    load.bulk(PG + PGBENCH_DB, count=300_000, spec="x", prefix="p")
    return select


def references(clients: int, quick: bool, select: str) -> dict[str, Any]:
    print("--- references: pgbench (our claim SQL) and Procrastinate", flush=True)
    pg = refs.pgbench(PGBENCH_DB, select, clients, 5 if quick else 10)
    recreate(PROC_DB)
    proc = refs.procrastinate(
        f"postgresql://postgres@127.0.0.1:5432/{PROC_DB}",
        jobs=2000 if quick else 5000,
        concurrency=10,
    )
    print(
        json.dumps({"pgbench": pg["claims_per_second"], "procrastinate": proc["jobs_per_second"]}),
        flush=True,
    )
    return {"pgbench": pg, "procrastinate": proc}


def prepare(executors: int) -> None:
    """A fresh line for a comparison run: 20,000 queued, the first `executors` executors
    taking one intent at a time."""
    from executors.models import Executor

    load.reset(PG + BENCH_DB)
    flush_redis()
    Executor.objects.update(max_concurrent=1)
    load.bulk(PG + BENCH_DB, count=20_000, spec=fleet.SPEC, prefix="w")


def issue19(tokens: dict[str, Any], select: str, quick: bool, seconds: float) -> dict[str, Any]:
    return compare.run(
        env=server_env,
        database=BENCH_DB,
        pgbench_database=PGBENCH_DB,
        select=select,
        tokens=tokens["fleet"],
        prepare=prepare,
        seconds=seconds,
        paced_seconds=15 if quick else 30,
    )


# (key, name, load): the report's targets read them by key.
SCENARIOS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "claims-1p",
        "claims only, 1 process, 50 executors",
        {"processes": 1, "executors": 50, "viewers": 0, "claims_only": True},
    ),
    (
        "claims-2p",
        "claims only, 2 processes, 50 executors",
        {"processes": 2, "executors": 50, "viewers": 0, "claims_only": True},
    ),
    (
        "sat-50",
        "1 process, 50 executors, 100 viewers",
        {"processes": 1, "executors": 50, "viewers": 100},
    ),
    (
        "paced-50",
        "1 process, 50 executors (1 call/s each), 100 viewers",
        {"processes": 1, "executors": 50, "viewers": 100, "interval": 1.0},
    ),
    (
        "sat-200-1p",
        "1 process, 200 executors, 1000 viewers",
        {"processes": 1, "executors": 200, "viewers": 1000},
    ),
    (
        "sat-200-2p",
        "2 processes, 200 executors, 1000 viewers",
        {"processes": 2, "executors": 200, "viewers": 1000},
    ),
    (
        "paced-200-2p",
        "2 processes, 200 executors (1 call/2 s each), 1000 viewers",
        {"processes": 2, "executors": 200, "viewers": 1000, "interval": 2.0},
    ),
]


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
        "pinned": pin.enabled(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="short runs, 100k not 1M")
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument(
        "--no-pin", action="store_true", help="no CPU pinning of servers and load generators"
    )
    parser.add_argument(
        "--only",
        choices=["scenarios", "idle", "scaling", "compare"],
        help="one part alone (no report)",
    )
    parser.add_argument("--processes", type=int, default=1, help="with --only scenarios")
    parser.add_argument("--executors", type=int, default=50, help="with --only scenarios")
    parser.add_argument("--viewers", type=int, default=0, help="with --only scenarios")
    parser.add_argument(
        "--interval",
        type=float,
        default=0.0,
        help="with --only scenarios: one call per executor per this many s",
    )
    parser.add_argument("--claims-only", action="store_true", help="with --only scenarios")
    parser.add_argument("--seconds", type=float, help="length of each load scenario")
    args = parser.parse_args()
    if args.no_pin:
        os.environ["BENCH_PIN"] = "0"  # inherited by every server and load generator
    pin.to_load_cores()  # the orchestrator is load too
    RESULTS.mkdir(parents=True, exist_ok=True)
    seconds = args.seconds or (8 if args.quick else 15)
    recreate(BENCH_DB)
    migrate(BENCH_DB)
    setup_django()
    tokens = make_tokens(200)
    load.bulk(PG + BENCH_DB, count=10, spec=fleet.SPEC, prefix="c")
    started = time.time()
    if args.only == "scenarios":
        scenario(
            f"{args.processes} process(es), {args.executors} executors, {args.viewers} "
            f"viewers, interval {args.interval}, claims only {args.claims_only}",
            tokens,
            processes=args.processes,
            executors=args.executors,
            viewers=args.viewers,
            seconds=seconds,
            interval=args.interval,
            claims_only=args.claims_only,
        )
        return 0
    if args.only == "compare":
        select = pgbench_database(args.quick)
        found = issue19(tokens, select, args.quick, seconds)
        found["machine"] = machine()
        stamp = time.strftime("%Y-%m-%d-%H%M", time.gmtime())
        (RESULTS / f"compare-{stamp}.json").write_text(json.dumps(found, indent=2))
        table = compare.markdown(found)
        (RESULTS / f"compare-{stamp}.md").write_text(table)
        print(table)
        return 0
    if args.only == "idle":
        idle_long_poll(tokens, 200, 30)
        return 0
    if args.only == "scaling":
        scaling(tokens, [1_000, 100_000, 1_000_000], 1_000_000)
        return 0
    paced = seconds if args.quick else max(seconds, PACED_SECONDS)
    select = pgbench_database(args.quick)
    result: dict[str, Any] = {
        "paced_seconds": paced,
        "machine": machine(),
        "references": references(50, args.quick, select),
        "issue19": issue19(tokens, select, args.quick, seconds),
        "scenarios": [
            {
                "key": key,
                **scenario(name, tokens, seconds=paced if kw.get("interval") else seconds, **kw),
            }
            for key, name, kw in SCENARIOS
        ],
        "idle_long_poll": idle_long_poll(tokens, 200, 15 if args.quick else 30),
        "scaling": scaling(
            tokens,
            [1_000, 10_000, 100_000] if args.quick else [1_000, 100_000, 1_000_000],
            100_000 if args.quick else 1_000_000,
        ),
    }
    result["seconds"] = round(time.time() - started)
    from bench.report import write

    write(result, RESULTS, readme=None if args.no_readme else ROOT / "README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

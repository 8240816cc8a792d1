"""The line under load (executors, a submitter and WebSocket viewers against the app, one or two
processes), idle long-polling, and claim and /state latency against queue and history size."""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from typing import Any

import httpx

from bench import fleet, load
from bench.common import (
    BENCH_DB,
    PG,
    App,
    figures,
    flush_redis,
    profile,
    spawn,
)

# The submitter keeps the queue fed (20,000 intents are loaded before each scenario).
SUBMITS_PER_SECOND = 5.0
# Offered-load scenarios run at least this long: at 50 calls/s a 15 s run made ~150 claims,
# so a p99 was the 2nd-slowest claim and moved by 2x from run to run.
PACED_SECONDS = 60


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
    servers = [App(BENCH_DB, pinned=processes == 1) for _ in range(processes)]
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
    server = App(BENCH_DB)
    try:
        start = httpx.get(server.url + "/state").json()["requests_total"]
        # The pollers run on past the window however long they take to start.
        process, polls = spawn(
            fleet.idle_pollers, server.url, tokens["fleet"][:count], seconds + 40
        )
        # The window opens once every poller has made its first request (and is waiting):
        # before, a slow start put the first claims inside it.
        asked, deadline = 1, time.monotonic() + 30
        while time.monotonic() < deadline:
            made = httpx.get(server.url + "/state").json()["requests_total"] - start - asked
            asked += 1
            if made >= count:
                break
            time.sleep(0.5)
        time.sleep(1)
        before = httpx.get(server.url + "/state").json()["requests_total"]
        cpu0, wall0 = server.cpu_seconds(), time.monotonic()
        profiler = profile(server, seconds, "idle")
        time.sleep(seconds)
        if profiler is not None:
            profiler.wait(60)
        wall = time.monotonic() - wall0
        cpu = (server.cpu_seconds() - cpu0) / wall * 100
        made = httpx.get(server.url + "/state").json()["requests_total"] - before - 1
        held = polls.get(timeout=120)
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


def cpu_per_call(seconds: float, calls: list[float]) -> float:
    """The app process's CPU per call, in ms: steadier than latency on a busy machine (it also
    counts the reaper's passes in the same seconds)."""
    return round(seconds * 1000 / len(calls), 2)


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
        server = App(BENCH_DB)
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
                cpu = server.cpu_seconds()
                state = timed_gets(http, "/assembly-line/state", 100)
                state_cpu = server.cpu_seconds() - cpu
        finally:
            server.stop()
        steps.append(
            {
                "queued": size,
                "claim_ms": figures(claims),
                "state_ms": figures(state),
                "state_cpu_ms": cpu_per_call(state_cpu, state),
            }
        )
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
    server = App(BENCH_DB)
    try:
        with httpx.Client(
            base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            timed_gets(http, "/assembly-line/state", 10)
            cpu = server.cpu_seconds()
            state = timed_gets(http, "/assembly-line/state", 100)
            state_cpu = server.cpu_seconds() - cpu
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
        "state_cpu_ms": cpu_per_call(state_cpu, state),
        "dashboard_ms": figures(page),
    }
    print(json.dumps(with_history), flush=True)
    return {"steps": steps, "with_history": with_history}


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

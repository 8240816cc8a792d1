"""`python -m bench.appcpu [N] [--profile FILE]`: this process's CPU per executor call through
the app's own ASGI handler (middleware, views, services, the thread hop), without a server or a
socket, on PostgreSQL and Redis. It tells what the framework around a service costs, minutes
apart, on a busy machine: one process, one caller, nothing else in the numbers.

N cycles (300 by default) of one executor: claim, three progress reports, a hand-in that passes
its gate; the best of 5 rounds per call kind. With `--bare`, a `JsonResponse` view with no
middleware and no database through the same handler (the floor). Database
`<BENCH_DB_PREFIX>_appcpu` (recreated), Redis BENCH_REDIS_URL. Prints JSON."""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import sys
import time
from typing import Any

from bench.claimcpu import prepare

ROUNDS = 5


def call(app: Any, method: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
    path, _, query = path.partition("?")
    payload = json.dumps(body).encode() if body is not None else b""
    headers = [
        (b"host", b"127.0.0.1"),
        (b"authorization", f"Bearer {token}".encode()),
        (b"accept", b"application/json"),
    ]
    if body is not None:
        length = str(len(payload)).encode()
        headers += [(b"content-type", b"application/json"), (b"content-length", length)]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, Any]] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:
            await asyncio.sleep(3600)
        received = True
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        await app(scope, receive, send)

    return run, sent


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 300
    profile = sys.argv[sys.argv.index("--profile") + 1] if "--profile" in sys.argv else None
    database = os.environ.get("BENCH_DB_PREFIX", "bench") + "_appcpu"
    prepare(database, os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    os.environ.setdefault("REAPER", "false")
    os.environ["DB_POOL"] = "true"  # as the app is served (bench/common.py server_env)
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1"
    from assemblyline.asgi import django_asgi_app as app
    from bench.fleet import ARTIFACTS, SPEC
    from executors.models import Executor, Role
    from executors.services import token_create
    from intents.models import Phase
    from intents.services import intent_submit

    executor = Executor.objects.create(executor_id="appcpu", environment="server")
    token = token_create(name="appcpu", role=Role.EXECUTOR, executor=executor)[1]
    loop = asyncio.new_event_loop()

    def go(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        run, sent = call(app, method, path, token, body)
        loop.run_until_complete(run())
        status = sent[0]["status"]
        answer = json.loads(b"".join(m.get("body", b"") for m in sent[1:]) or b"null")
        if status != 200:
            raise SystemExit(f"{method} {path}: {status} {answer}")
        return answer

    def cycle(times: dict[str, list[float]]) -> None:
        def timed(kind: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
            start = time.process_time()
            answer = go(method, path, body)
            times.setdefault(kind, []).append(time.process_time() - start)
            return answer

        claim = timed("claim", "GET", "/assembly-line/work/next?executor_id=appcpu")
        intent = claim["intent"]["id"]
        phase = claim["intent"]["current_phase"]
        for step in (0.25, 0.5, 0.75):
            timed(
                "progress",
                "POST",
                "/assembly-line/work/progress",
                {"intent_id": intent, "executor_id": "appcpu", "phase": phase, "progress": step},
            )
        timed(
            "complete",
            "POST",
            "/assembly-line/work/complete",
            {
                "intent_id": intent,
                "executor_id": "appcpu",
                "phase": phase,
                "status": "completed",
                "artifacts": ARTIFACTS[Phase(phase)],
            },
        )

    best: dict[str, float] = {}
    profiler = cProfile.Profile() if profile else None
    for _ in range(ROUNDS):
        for i in range(n):
            intent_submit(title=f"appcpu {i}", spec_text=SPEC, actor="bench", priority=5)
        go("POST", "/assembly-line/executors/heartbeat", {"executor_id": "appcpu"})
        times: dict[str, list[float]] = {}
        if profiler:
            profiler.enable()
        for _ in range(n):
            cycle(times)
        if profiler:
            profiler.disable()
        for kind, spent in times.items():
            ms = sum(spent) / len(spent) * 1e3
            best[kind] = min(best.get(kind, ms), ms)
    calls = {k: round(v, 3) for k, v in best.items()}
    per_cycle = best["claim"] + 3 * best["progress"] + best["complete"]
    calls["per_call_mean"] = round(per_cycle / 5, 3)
    print(json.dumps({"database": database, "cycles": n, "ms_cpu": calls}))
    if profiler and profile:
        profiler.dump_stats(profile)


if __name__ == "__main__":
    main()

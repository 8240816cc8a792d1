"""`python -m bench.fanoutpace [SERVER] [EVENTS]`: a fanout process's CPU per frame per viewer
at a fixed pace. One server process (daphne by default) on the server core holds 1,000
dashboards (`?batch=1`, bench/fleet.py's viewers); this process publishes one event every
0.1 s straight to Redis, as a committing process would (intents/events.py `broadcast`), EVENTS
of them (300 by default). At that pace a frame carries one event however loaded the machine
is, where `--only fanout`'s executors make 55 events/s and a starved process batches more of
them per frame, which makes its CPU per event look smaller. Prints one JSON line."""

from __future__ import annotations

import json
import multiprocessing as mp
import sys
import time
from datetime import UTC, datetime

from bench import fleet, pin
from bench.common import (
    BENCH_DB,
    flush_redis,
    make_tokens,
    migrate,
    percentile,
    recreate,
    server_env,
    setup_django,
    spawn,
)
from bench.servers import PRODUCTION, Server

VIEWERS = 1000
PACE_SECONDS = 0.1
# About the size of a real event's JSON (intents/events.py).
PADDING = "x" * 300


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else PRODUCTION
    events = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    pin.to_load_cores()
    recreate(BENCH_DB)
    migrate(BENCH_DB)
    setup_django()
    flush_redis()
    viewer_token = make_tokens(1)["viewer"]
    from intents.events import broadcast
    from intents.fanout import LINE_GROUP

    server = Server(server_env(BENCH_DB), kind=kind)
    try:
        ready = mp.get_context("spawn").Value("i", 0)
        stay = events * PACE_SECONDS + 40
        _, watched = spawn(fleet.viewers, [server.url], viewer_token, VIEWERS, stay, ready)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and ready.value < VIEWERS:
            time.sleep(0.2)
        time.sleep(2)
        cpu0, start = server.cpu_seconds(), time.monotonic()
        for n in range(events):
            event = {"id": n, "kind": "progress", "note": PADDING}
            event["timestamp"] = datetime.now(UTC).isoformat()
            broadcast([(LINE_GROUP, {"type": "line.event", "event": json.dumps(event)})])
            time.sleep(max(0.0, start + (n + 1) * PACE_SECONDS - time.monotonic()))
        time.sleep(1)
        cpu, wall = server.cpu_seconds() - cpu0, time.monotonic() - start
        rss = server.peak_rss_mb()
        got = watched.get(timeout=stay + 60)
    finally:
        server.stop()
    latencies = got["latencies"]
    frames_per_viewer = got["frames"] / max(got["timed"], 1)
    found = {
        "server": kind,
        "connected": ready.value,
        "events": events,
        "frames_per_viewer": round(frames_per_viewer, 1),
        "events_per_frame": round(len(latencies) / max(got["frames"], 1), 2),
        "cpu_percent": round(cpu / wall * 100, 1),
        "cpu_us_per_frame": round(cpu / max(frames_per_viewer * ready.value, 1) * 1e6, 2),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "peak_rss_mb": rss,
    }
    print(json.dumps(found), flush=True)


if __name__ == "__main__":
    main()

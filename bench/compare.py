"""Issue 19's measurements, in one run: the floor (bare Django, bench/floor.py) and the app's
executor calls under Daphne, uvicorn and granian; the executor cycle straight to PostgreSQL
(bench/refs.py) with as many clients as HTTP executors; django-prometheus's cursor wrapper per
query (bench/cursor.py); and the app without its process tuning. (The lean middleware chain
that bench/lean.py measured is now the app's own for executor calls: TOKEN_API_MIDDLEWARE.)"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx

from bench import fanout, fleet, pin, refs
from bench.common import percentile, spawn
from bench.servers import FLOOR, KINDS, PRODUCTION, ROOT, Server

# As many HTTP executors in the closed loop as pgbench clients in the SQL reference.
CLIENTS = 16
PACED_EXECUTORS = 50  # one call a second each: 50 calls/s


def queries_total(url: str) -> float:
    """django-prometheus's count of executed queries in this server (METRICS_PUBLIC)."""
    text = httpx.get(url + "/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(("django_db_execute_total{", "django_db_execute_many_total{"))
    )


def floor(env: dict[str, str], kind: str, seconds: float) -> dict[str, Any]:
    server = Server(
        {**env, "DJANGO_SETTINGS_MODULE": "bench.floor"}, kind=kind, app=FLOOR, probe="/floor"
    )
    try:
        affinity = server.tree.cpu_affinity()
        for _ in range(200):
            httpx.get(server.url + "/floor")
        cpu0, wall0 = server.cpu_seconds(), time.monotonic()
        _, out = spawn(fleet_hammer, server.url, "/floor", 8, seconds)
        counts = out.get(timeout=seconds + 60)
        wall, cpu = time.monotonic() - wall0, server.cpu_seconds() - cpu0
    finally:
        server.stop()
    ok = counts["ok"]
    return {
        "server": kind,
        "affinity": affinity,
        "requests": ok,
        "errors": counts["errors"],
        "requests_per_second": round(ok / wall, 1),
        "cpu_ms_per_request": round(cpu / max(ok, 1) * 1000, 3),
        "cpu_percent": round(cpu / wall * 100, 1),
    }


def fleet_hammer(*args: Any) -> None:
    from bench.servers import hammer

    hammer(*args)


def app_calls(
    env: dict[str, str],
    kind: str,
    tokens: list[tuple[str, str]],
    seconds: float,
    interval: float,
    prepare: Callable[[int], None],
    label: str,
) -> dict[str, Any]:
    """Executors looping claim → 3 progress → complete against one app process; interval 0
    is the closed loop (the process's throughput), > 0 an offered load."""
    prepare(len(tokens))
    server = Server({**env, "METRICS_PUBLIC": "true"}, kind=kind)
    try:
        queries0 = queries_total(server.url)
        cpu0, wall0 = server.cpu_seconds(), time.monotonic()
        workers = [
            spawn(fleet.executors, server.url, tokens[i::2], seconds, interval, False)
            for i in range(2)
        ]
        results = [out.get(timeout=seconds + 120) for _, out in workers]
        wall, cpu = time.monotonic() - wall0, server.cpu_seconds() - cpu0
        rss = server.peak_rss_mb()
        queries = queries_total(server.url) - queries0
    finally:
        server.stop()
    merged: dict[str, list[float]] = {
        k: [] for k in ("claim", "claim_empty", "progress", "complete")
    }
    for result in results:
        for key in merged:
            merged[key] += result[key]
    calls = sum(len(v) for v in merged.values())
    # Paced runs: the calls before the steady window (bench/fleet.py) cost CPU too.
    warmup = [ms for result in results for ms in result["warmup"]]
    cycles = sum(r["cycles"] for r in results)
    p99 = {k: percentile(merged[k], 99) for k in ("claim", "progress", "complete")}
    return {
        "server": kind,
        "run": label,
        "executors": len(tokens),
        "interval": interval,
        "calls": calls,
        "cycles": cycles,
        "errors": sum(r["errors"] for r in results),
        "calls_per_second": round((calls + len(warmup)) / wall, 1),
        "cycles_per_second": round(cycles / wall, 2),
        "cpu_ms_per_call": round(cpu / max(calls + len(warmup), 1) * 1000, 2),
        "warmup_calls": len(warmup),
        "warmup_p99": percentile(warmup, 99),
        "cpu_percent": round(cpu / wall * 100, 1),
        "queries_per_call": round(queries / max(calls, 1), 1),
        "p50": {k: percentile(merged[k], 50) for k in ("claim", "progress", "complete")},
        "p99": p99,
        "worst_p99": max((v or 0) for v in p99.values()),
        "peak_rss_mb": rss,
    }


def cursor_cost(database: str) -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, "-m", "bench.cursor", database, "5000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=pin.to_server_core,
    )
    return dict(json.loads(run.stdout.strip().splitlines()[-1]))


def run(
    *,
    env: Callable[[str], dict[str, str]],
    database: str,
    pgbench_database: str,
    select: str,
    tokens: list[tuple[str, str]],
    prepare: Callable[[int], None],
    seconds: float,
    paced_seconds: float,
    kinds: tuple[str, ...] = KINDS,
    viewer_token: str = "",
    viewers: int = 0,
) -> dict[str, Any]:
    print(
        "--- issue 19: floor, servers, raw SQL cycle, cursor wrapper, untuned process", flush=True
    )
    pin.to_load_cores()  # this orchestrator too
    result: dict[str, Any] = {
        "pinned": pin.enabled(),
        "server_cpus": sorted(pin.server_cpus()) if pin.enabled() else None,
        "clients": CLIENTS,
        "servers": {},
    }
    app_env = env(database)
    for kind in kinds:
        entry: dict[str, Any] = {}
        try:
            entry["floor"] = floor(app_env, kind, seconds)
            print(json.dumps(entry["floor"]), flush=True)
            entry["saturated"] = app_calls(
                app_env, kind, tokens[:CLIENTS], seconds, 0.0, prepare, "closed loop"
            )
            print(json.dumps(entry["saturated"]), flush=True)
            entry["paced"] = app_calls(
                app_env, kind, tokens[:PACED_EXECUTORS], paced_seconds, 1.0, prepare, "50 calls/s"
            )
            print(json.dumps(entry["paced"]), flush=True)
        except Exception as exc:  # one server failing must not lose the others' numbers
            entry["error"] = repr(exc)
            print(f"{kind}: {exc!r}", flush=True)
        result["servers"][kind] = entry
    # Process tuning (core/runtime/process.py) off: CPython's own gc threshold and GIL
    # switch interval. It stays only while the tuned process does better.
    untuned = app_calls(
        {**app_env, "GC_GEN0_THRESHOLD": "700", "GIL_SWITCH_SECONDS": "0.005"},
        PRODUCTION,
        tokens[:PACED_EXECUTORS],
        paced_seconds,
        1.0,
        prepare,
        "untuned, 50 calls/s",
    )
    print(json.dumps(untuned), flush=True)
    result["untuned"] = untuned
    result["raw_sql"] = refs.pgbench_cycles(
        pgbench_database, select, CLIENTS, int(max(5, seconds)), preexec=pin.to_load_cores
    )
    print(json.dumps({k: v for k, v in result["raw_sql"].items() if k != "script"}), flush=True)
    result["cursor"] = cursor_cost(database)
    print(json.dumps(result["cursor"]), flush=True)
    if viewers:
        print(f"--- WebSocket fanout, {viewers} viewers, under each server", flush=True)
        result["fanout"] = fanout.runs(
            app_env, kinds, tokens, viewer_token, viewers, paced_seconds, prepare
        )
    return result


def targets(c: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """The issue's per-CPU targets as lines (text, bound, pass), for each server."""
    lines: list[tuple[str, str, bool]] = []
    raw = c["raw_sql"]["cycles_per_second"]
    for kind, entry in c["servers"].items():
        if "error" in entry:
            continue
        per_call = entry["saturated"]["cpu_ms_per_call"]
        floor_ms = entry["floor"]["cpu_ms_per_request"]
        ratio = per_call / floor_ms
        lines.append(
            (
                f"{kind}: app CPU per executor call ÷ floor CPU per request: "
                f"{per_call:.2f} / {floor_ms:.2f} ms = {ratio:.1f}×",
                "≤ 2×",
                ratio <= 2,
            )
        )
        cycles = entry["saturated"]["cycles_per_second"]
        lines.append(
            (
                f"{kind}: HTTP cycles/s (1 process, {c['clients']} executors) ÷ raw SQL "
                f"cycles/s ({c['clients']} clients): {cycles:.1f} / {raw:.0f} = "
                f"{cycles / raw:.1%}",
                "≥ 25%",
                cycles >= 0.25 * raw,
            )
        )
        worst = entry["paced"]["worst_p99"]
        lines.append(
            (
                f"{kind}: executor endpoint p99 at 50 calls/s, 1 process: {worst:.1f} ms",
                "≤ 20 ms",
                worst <= 20,
            )
        )
    return lines


def markdown(c: dict[str, Any]) -> str:
    rows = [
        "| server | floor CPU ms/req | floor req/s | app CPU ms/call | ÷ floor | "
        "cycles/s (closed loop) | calls/s | server CPU % | queries/call | "
        "p99 claim/progress/complete at 50 calls/s | CPU % at 50 calls/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, e in c["servers"].items():
        if "error" in e:
            rows.append(f"| {kind} | failed: {e['error'][:80]} ||||||||||")
            continue
        f, s, p = e["floor"], e["saturated"], e["paced"]
        rows.append(
            f"| {kind} | {f['cpu_ms_per_request']:.2f} | {f['requests_per_second']:.0f} | "
            f"{s['cpu_ms_per_call']:.2f} | {s['cpu_ms_per_call'] / f['cpu_ms_per_request']:.1f}× "
            f"| {s['cycles_per_second']:.1f} | {s['calls_per_second']:.0f} | "
            f"{s['cpu_percent']:.0f} | "
            f"{s['queries_per_call']:.1f} | "
            f"{'/'.join(str(p['p99'][k]) for k in ('claim', 'progress', 'complete'))} | "
            f"{p['cpu_percent']:.0f} |"
        )
    ok = {k: e for k, e in c["servers"].items() if "error" not in e}
    lines = [*rows, ""]
    if "daphne" in ok:
        base = ok["daphne"]["saturated"]
        for kind, e in ok.items():
            if kind == "daphne":
                continue
            cpu = base["cpu_ms_per_call"] / e["saturated"]["cpu_ms_per_call"]
            thr = e["saturated"]["cycles_per_second"] / base["cycles_per_second"]
            lines.append(
                f"- {kind} vs Daphne, executor calls: Daphne's CPU per call ÷ "
                f"{kind}'s = {cpu:.2f}×, {kind}'s cycles/s ÷ Daphne's = {thr:.2f}×: "
                f"{'wins by ≥ 1.3×' if max(cpu, thr) >= 1.3 else 'no win by ≥ 1.3×'}."
            )
        for kind, e in ok.items():
            paced = e["paced"]
            lines.append(
                f"- {kind}, 50 calls/s: the p99 is of the steady window; the "
                f"{paced.get('warmup_calls', 0)} calls before it (each executor's first claim, "
                f"a fresh process) had a p99 of {paced.get('warmup_p99')} ms."
            )
        tuned = ok.get(PRODUCTION, {}).get("paced")
        if "untuned" in c and tuned:
            u = c["untuned"]
            lines.append(
                f"- Process tuning ({PRODUCTION}, 50 calls/s, core/runtime/process.py): worst "
                f"p99 {tuned['worst_p99']:.1f} ms tuned vs {u['worst_p99']:.1f} untuned (gc "
                f"threshold 700, GIL switch 5 ms); CPU {tuned['cpu_percent']:.0f}% vs "
                f"{u['cpu_percent']:.0f}%; peak RSS {tuned['peak_rss_mb']:.0f} vs "
                f"{u['peak_rss_mb']:.0f} MB."
            )
        cur = c["cursor"]
        per_call = cur["wrapper_us_per_query"] * base["queries_per_call"]
        lines.append(
            f"- django-prometheus cursor wrapper: {cur['wrapper_us_per_query']:.1f} µs "
            f"CPU per query ({cur['plain_us']:.1f} plain, {cur['wrapped_us']:.1f} "
            f"wrapped); × {base['queries_per_call']:.1f} queries per call = "
            f"{per_call / 1000:.3f} ms per call "
            f"({per_call / 1000 / base['cpu_ms_per_call']:.1%} of it)."
        )
    lines.append(
        f"- Raw SQL cycle, {c['clients']} pgbench clients: "
        f"{c['raw_sql']['cycles_per_second']:.0f} cycles/s "
        f"(failed {c['raw_sql']['failed']})."
    )
    lines.append(
        f"- Pinned: {c['pinned']} (servers on CPU {c['server_cpus']}, load generators, "
        "pgbench and the orchestrator on the other; PostgreSQL, Redis and the "
        "machine's other users on both)."
    )
    if "fanout" in c:
        lines += ["", *fanout.markdown(c["fanout"])]
    lines += ["", "| target | bound | result |", "|---|---|---|"]
    for text, bound, passed in targets(c) + fanout.targets(c.get("fanout", {})):
        lines.append(f"| {text} | {bound} | {'pass' if passed else '**FAIL**'} |")
    return "\n".join(lines) + "\n"

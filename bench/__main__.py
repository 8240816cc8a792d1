"""`python -m bench [--quick]`: the real line under load, beside PostgreSQL's own claim limit
(pgbench) and Procrastinate, on this machine's PostgreSQL and Redis.

Writes bench/results/latest.json, latest.md and latency.png, and the README's table.
Real servers: app processes (1 and 2, as production serves them), load from separate
processes (executors, a submitter, WebSocket viewers). Live HTTP checks are off (the built
services do not exist here); every other gate check runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any

from bench import compare, fanout, fleet, load, pin, refs
from bench.common import (
    BENCH_DB,
    PG,
    PGBENCH_DB,
    PROC_DB,
    RESULTS,
    ROOT,
    flush_redis,
    make_tokens,
    migrate,
    recreate,
    server_env,
    setup_django,
)
from bench.scenarios import PACED_SECONDS, SCENARIOS, idle_long_poll, scaling, scenario
from bench.servers import KINDS

# Viewers in the per-server WebSocket fanout run (issue 19's RSS target names 1,000).
VIEWERS = 1000


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
        viewer_token=tokens["viewer"],
        viewers=VIEWERS,
    )


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
        choices=["scenarios", "idle", "scaling", "compare", "fanout"],
        help="one part alone (no report)",
    )
    parser.add_argument("--processes", type=int, default=1, help="with --only scenarios")
    parser.add_argument("--executors", type=int, default=50, help="with --only scenarios")
    parser.add_argument("--viewers", type=int, default=0, help="with --only scenarios or fanout")
    parser.add_argument(
        "--interval",
        type=float,
        default=0.0,
        help="with --only scenarios: one call per executor per this many s",
    )
    parser.add_argument("--claims-only", action="store_true", help="with --only scenarios")
    parser.add_argument("--seconds", type=float, help="length of each load scenario")
    parser.add_argument(
        "--pollers", type=int, default=200, help="with --only idle (0: the idle server's floor)"
    )
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
    if args.only == "fanout":
        kinds = tuple(os.environ.get("BENCH_SERVERS", ",".join(KINDS)).split(","))
        found = fanout.runs(
            server_env(BENCH_DB),
            kinds,
            tokens["fleet"],
            tokens["viewer"],
            args.viewers or VIEWERS,
            seconds,
            prepare,
        )
        stamp = time.strftime("%Y-%m-%d-%H%M", time.gmtime())
        (RESULTS / f"fanout-{stamp}.json").write_text(json.dumps(found, indent=2))
        print("\n".join(fanout.markdown(found)))
        return 0
    if args.only == "idle":
        idle_long_poll(tokens, args.pollers, 30)
        return 0
    if args.only == "scaling":
        scaling(
            tokens,
            [1_000, 10_000, 100_000] if args.quick else [1_000, 100_000, 1_000_000],
            100_000 if args.quick else 1_000_000,
        )
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
        # A window as long as a poll's wait (30 s), quick or not: a shorter one sees no poll
        # end and start again, only the process idling (a quick run's "0 requests/min").
        "idle_long_poll": idle_long_poll(tokens, 200, 30),
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

"""`assembly-line`: submit intents, see the line, watch it live, and run an executor loop.

    assembly-line submit --title billing --spec-file billing.md --priority 7
    assembly-line status
    assembly-line watch
    assembly-line work --executor-id laptop-1 --environment local -- ./build.sh
    assembly-line mcp          # an MCP server for an AI session (extra: [mcp])

Configuration: --url/--token/--retries or ASSEMBLY_LINE_URL / ASSEMBLY_LINE_TOKEN /
ASSEMBLY_LINE_RETRIES.

`work` (its loop: work_loop.py) claims intents (long poll), runs COMMAND for each with the
intent as JSON on stdin and in env vars (ASSEMBLY_LINE_INTENT_ID, _PHASE, _TITLE, _ATTEMPT,
_INTENT_FILE, _ARTIFACTS_FILE), turns the lines it prints as `PROGRESS 0.4 message` into
progress reports, and completes the phase with the JSON object the command wrote to
$ASSEMBLY_LINE_ARTIFACTS_FILE (exit 0), or reports the phase failed (non-zero exit).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from assembly_line_client.client import Client
from assembly_line_client.errors import ApiError, LineError
from assembly_line_client.work_loop import Executor


def _client(args: argparse.Namespace) -> Client:
    if not args.url or not args.token:
        raise SystemExit(
            "assembly-line: set --url and --token (or ASSEMBLY_LINE_URL and ASSEMBLY_LINE_TOKEN)"
        )
    return Client(args.url, args.token, retries=args.retries)


def cmd_submit(args: argparse.Namespace, out: TextIO) -> int:
    spec_text = Path(args.spec_file).read_text(encoding="utf-8") if args.spec_file else None
    with _client(args) as line:
        submitted = line.submit(
            args.title,
            spec_path=args.spec_path,
            spec_text=spec_text,
            priority=args.priority,
            environment_preference=args.environment,
            requires_human_review=args.review,
            required_capabilities=args.capability or None,
            idempotency_key=args.idempotency_key,
        )
    if args.json:
        print(json.dumps(submitted.raw), file=out)
    else:
        print(
            f"{submitted.intent_id} {submitted.status} in {submitted.current_phase}, "
            f"estimated start {submitted.estimated_start}",
            file=out,
        )
    return 0


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    with _client(args) as line:
        state = line.state()
    if args.json:
        print(json.dumps(state), file=out)
        return 0
    by_phase = state.get("metrics", {}).get("by_phase", {})
    statuses = sorted({s for counts in by_phase.values() for s in counts})
    rows = [[phase, *[str(by_phase[phase].get(s, 0)) for s in statuses]] for phase in by_phase]
    print(f"queue depth {state['queue_depth']}, in progress {state['in_progress']}", file=out)
    print(_table(rows, ["phase", *statuses]), file=out)
    print(file=out)
    executors = state.get("executors", {})
    rows = [
        [
            e["executor_id"],
            e["environment"],
            e["status"],
            e.get("current_work") or "-",
            e.get("last_heartbeat") or "-",
        ]
        for e in executors.values()
    ]
    print(_table(rows, ["executor", "env", "status", "work", "last heartbeat"]), file=out)
    return 0


def _clock(timestamp: str) -> str:
    """HH:MM:SS of an ISO timestamp (the date is today's while watching)."""
    return timestamp[11:19] if len(timestamp) >= 19 else timestamp


def _change(before: Any, after: Any) -> str:
    if before and after and before != after:
        return f"{before} -> {after}"
    return str(after or before or "")


def describe(message: dict[str, Any]) -> str:
    """One line per event for a person: what happened to which intent (by title), in which
    phase, the status change, progress and message, and who did it."""
    if message.get("type") == "snapshot":
        state = message.get("state", {})
        return (
            f"snapshot: queue {state.get('queue_depth')}, in progress "
            f"{state.get('in_progress')}, executors {len(state.get('executors', {}))}"
        )
    event = message.get("event", message)
    payload = event.get("payload") or {}
    parts = [_clock(str(event.get("timestamp", ""))), str(event.get("type", ""))]
    if event.get("intent_id"):
        parts.append(repr(event.get("intent_title") or event["intent_id"]))
        parts.append(_change(event.get("from_phase"), event.get("to_phase")))
        parts.append(_change(event.get("from_status"), event.get("to_status")))
    progress = payload.get("progress")
    if isinstance(progress, (int, float)) and not isinstance(progress, bool):
        parts.append(f"{progress:.0%}")
    if payload.get("message"):
        parts.append(f'"{payload["message"]}"')
    who = event.get("executor_id") or event.get("actor")
    if who:
        parts.append(f"by {who}")
    return " ".join(part for part in parts if part)


def cmd_watch(args: argparse.Namespace, out: TextIO) -> int:
    with _client(args) as line:
        seen = 0
        for message in line.watch():
            print(json.dumps(message) if args.json else describe(message), file=out, flush=True)
            seen += message.get("type") == "event"
            if args.count and seen >= args.count:
                return 0
    return 0


def cmd_work(args: argparse.Namespace, out: TextIO) -> int:
    if not args.command:
        raise SystemExit("assembly-line work: give the command after --")
    with _client(args) as line:
        executor = Executor(line, args, out)
        signal.signal(signal.SIGTERM, lambda *_: executor.stop.set())
        try:
            return executor.loop()
        except KeyboardInterrupt:
            return 130


def cmd_mcp(args: argparse.Namespace, out: TextIO) -> int:
    try:
        from assembly_line_client import mcp_server
    except ImportError as exc:
        raise SystemExit(
            f'assembly-line mcp needs the MCP SDK ({exc}): pip install "assembly-line-client[mcp]"'
        ) from None
    if not args.token:
        raise SystemExit("assembly-line mcp: set ASSEMBLY_LINE_TOKEN (or --token)")
    if not 0.5 <= args.heartbeat <= 3600:
        raise SystemExit("assembly-line mcp: --heartbeat must be 0.5 to 3600 seconds")
    return mcp_server.run(
        url=args.url,
        token=args.token,
        executor_id=args.executor_id,
        http_port=args.http,
        host=args.host,
        heartbeat_seconds=args.heartbeat,
    )


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise SystemExit(f"assembly-line: {name} must be a whole number, not {value!r}") from None


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="assembly-line", description=__doc__.split("\n")[0])
    root.add_argument(
        "--url",
        default=os.environ.get("ASSEMBLY_LINE_URL", "http://127.0.0.1:8950"),
        help="the line's base URL (env ASSEMBLY_LINE_URL; default http://127.0.0.1:8950)",
    )
    root.add_argument(
        "--token",
        default=os.environ.get("ASSEMBLY_LINE_TOKEN"),
        help="your bearer token (env ASSEMBLY_LINE_TOKEN)",
    )
    root.add_argument(
        "--retries",
        type=int,
        default=_env_int("ASSEMBLY_LINE_RETRIES", 4),
        help="retries of a failed call, with backoff (env ASSEMBLY_LINE_RETRIES; default 4)",
    )
    sub = root.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    submit = sub.add_parser(
        "submit",
        help="submit a build intent",
        description="Submit a build intent. A spec is required: --spec-path (a file under "
        "the service's SPECS_ROOT) or --spec-file (a local file sent inline).",
    )
    submit.add_argument("--title", required=True)
    spec = submit.add_mutually_exclusive_group(required=True)
    spec.add_argument("--spec-path", help="a spec file under the service's SPECS_ROOT")
    spec.add_argument("--spec-file", help="a local spec file, sent inline")
    submit.add_argument("--priority", type=int, default=5)
    submit.add_argument("--environment", choices=["local", "server", "either"], default="either")
    submit.add_argument("--review", action="store_true", help="requires human review")
    submit.add_argument("--capability", action="append", default=[])
    submit.add_argument("--idempotency-key")
    submit.add_argument("--json", action="store_true")
    submit.set_defaults(func=cmd_submit)

    status = sub.add_parser("status", help="queue and executors as tables")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    watch = sub.add_parser(
        "watch",
        help="live events from the WebSocket",
        description="Live events, one line each: time, event, intent "
        "title, phase, status change, progress, message, who.",
    )
    watch.add_argument("--json", action="store_true")
    watch.add_argument("--count", type=int, default=0, help="stop after this many events")
    watch.set_defaults(func=cmd_watch)

    work = sub.add_parser("work", help="run an executor loop around a command")
    work.add_argument(
        "--executor-id",
        default=os.environ.get("ASSEMBLY_LINE_EXECUTOR_ID"),
        required=not os.environ.get("ASSEMBLY_LINE_EXECUTOR_ID"),
    )
    work.add_argument(
        "--environment",
        choices=["local", "server"],
        help="check the registration first: an executor token may not change "
        "its environment or capabilities (an admin sets them)",
    )
    work.add_argument(
        "--capability", action="append", default=[], help="(repeatable) as --environment"
    )
    work.add_argument("--wait", type=float, default=30.0, help="long-poll seconds (<= 30)")
    work.add_argument("--heartbeat", type=float, default=20.0, help="seconds between beats")
    work.add_argument("--max-items", type=int, default=0, help="exit after this many")
    work.add_argument("command", nargs=argparse.REMAINDER)
    work.set_defaults(func=cmd_work)

    mcp = sub.add_parser("mcp", help="serve the line to an AI session as MCP tools (stdio)")
    mcp.add_argument(
        "--executor-id",
        default=os.environ.get("ASSEMBLY_LINE_EXECUTOR_ID"),
        help="the executor the token acts as (ASSEMBLY_LINE_EXECUTOR_ID)",
    )
    mcp.add_argument(
        "--http",
        type=int,
        metavar="PORT",
        help="serve streamable HTTP on this port (path /mcp) instead of stdio",
    )
    mcp.add_argument("--host", default="127.0.0.1", help="address for --http")
    mcp.add_argument(
        "--heartbeat",
        type=float,
        default=os.environ.get("ASSEMBLY_LINE_HEARTBEAT_SECONDS", "20"),
        help="seconds between heartbeats while holding work (ASSEMBLY_LINE_HEARTBEAT_SECONDS)",
    )
    mcp.set_defaults(func=cmd_mcp)
    return root


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "command", None) and args.command[:1] == ["--"]:
        args.command = args.command[1:]
    try:
        return int(args.func(args, out or sys.stdout))
    except KeyboardInterrupt:  # Ctrl-C ends `watch` (or any command) without a traceback
        return 130
    except ApiError as exc:
        print(f"assembly-line: {exc}", file=sys.stderr)
        return 1
    except LineError as exc:
        print(f"assembly-line: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""`assemblyline` command: `serve` runs the service; `demo` runs it with demo data and four
simulated executors (two `local`, two `server`) moving intents along the line.

    assemblyline serve [--port 8950] [--host 127.0.0.1]
    assemblyline demo  [--port 8950]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import threading
import time
from typing import Any


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "assemblyline.settings")
    import django

    django.setup()


def _migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)


def _ensure_port_free(host: str, port: int) -> None:
    """Refuse to start (one line, exit 1) when the port is taken: a second demo would
    otherwise print tokens and write to the database before the server fails to listen."""
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        with socket.socket(family, kind, proto) as probe:
            # As the server will: a port left in TIME_WAIT is free, a listening one is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError:
                raise SystemExit(
                    f"assemblyline: port {port} on {host} is taken (another demo "
                    f"or server?); choose another with --port or PORT"
                ) from None


def _serve(host: str, port: int) -> None:
    from assemblyline.serve import main as serve

    # -v 0: no NCSA access log; every request is a JSON `request` line of our own.
    serve(["-b", host, "-p", str(port), "-v", "0", "--proxy-headers"])


def _demo_setup(port: int) -> dict[str, str]:
    from django.contrib.auth import get_user_model

    from executors.models import Role
    from executors.services import executor_provide, token_create

    user_model = get_user_model()
    if not user_model.objects.filter(username="admin").exists():
        user_model.objects.create_superuser("admin", "admin@example.com", "admin")
    tokens: dict[str, str] = {}
    for role in (Role.ADMIN, Role.SUBMITTER, Role.VIEWER):
        _, tokens[role] = token_create(name=f"demo-{role}", role=role)
    for executor_id, environment, kind in DEMO_EXECUTORS:
        executor, _ = executor_provide(
            executor_id=executor_id,
            fields={"environment": environment, "executor_type": kind},
            update=False,
        )
        _, tokens[executor_id] = token_create(
            name=executor_id, role=Role.EXECUTOR, executor=executor
        )
    return tokens


# Two of each environment: separation of duties keeps an intent's builder off its test and
# production phases, so a server-only intent needs a second server executor to get past build.
DEMO_EXECUTORS = [
    ("demo-laptop", "local", "claude_code"),
    ("demo-laptop-2", "local", "claude_code"),
    ("demo-server-ai", "server", "server_ai"),
    ("demo-server-ai-2", "server", "server_ai"),
]


def _pace() -> float:
    """DEMO_PACE scales the simulated executors' and submitter's pauses (1 = as shown to
    people; tests run the same demo faster)."""
    try:
        pace = float(os.environ.get("DEMO_PACE", "1"))
    except ValueError:
        raise SystemExit("assemblyline: DEMO_PACE must be a number, e.g. 0.2") from None
    if not 0 < pace <= 100:
        raise SystemExit("assemblyline: DEMO_PACE must be above 0 and at most 100")
    return pace


DEMO_SPEC = """# {title} - SPEC

## Purpose
A demo service built on the assembly line.

## Requirements
- [ ] Answers /health

## API Specs
**GET /health**

## Dependencies
None

## Success Criteria
- [ ] Health returns 200
"""


def _artifacts(phase: str, base_url: str) -> dict[str, Any]:
    """What a real executor would hand in; the demo's built service is this server itself,
    which answers /health and the UDC endpoints the live checks probe."""
    by_phase: dict[str, dict[str, Any]] = {
        "spec": {"spec_text": DEMO_SPEC.format(title="demo")},
        "build": {"build_output": "ok", "commit": "demo", "deployment_url": base_url},
        "test": {
            "test_results": {"passed": 12, "failed": 0, "skipped": 0, "coverage": 88.0},
            "quality": {"lint_errors": 0, "type_errors": 0, "warnings": []},
            "security": {"high": 0, "medium": 0, "low": 1, "secrets": 0},
        },
        "production": {
            "deployment_url": base_url,
            "rollback_plan": "redeploy the previous release",
            "files": ["README.md", "SPEC.md", "docs/api.md", "Dockerfile"],
        },
    }
    return by_phase[phase]


def _demo_executor(base_url: str, executor_id: str, token: str, stop: threading.Event) -> None:
    import httpx

    pace = _pace()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        while not stop.is_set():
            try:
                work = client.get("/assembly-line/work/next", params={"executor_id": executor_id})
                body = work.json()
                if not body.get("assigned"):
                    stop.wait(3 * pace)
                    continue
                intent = body["intent"]
                phase = intent["current_phase"]
                for step in (0.25, 0.5, 0.75):
                    stop.wait(1.5 * pace)
                    client.post(
                        "/assembly-line/work/progress",
                        json={
                            "intent_id": intent["id"],
                            "executor_id": executor_id,
                            "phase": phase,
                            "progress": step,
                            "message": f"{phase}: {int(step * 100)}%",
                        },
                    )
                client.post(
                    "/assembly-line/work/complete",
                    json={
                        "intent_id": intent["id"],
                        "executor_id": executor_id,
                        "status": "completed",
                        "phase": phase,
                        "artifacts": _artifacts(phase, base_url),
                    },
                )
            except (httpx.HTTPError, ValueError):
                stop.wait(2 * pace)


def _demo_submitter(base_url: str, token: str, stop: threading.Event) -> None:
    import httpx

    pace = _pace()
    headers = {"Authorization": f"Bearer {token}"}
    titles = [
        "billing-service",
        "search-indexer",
        "auth-gateway",
        "report-builder",
        "notifier",
        "image-resizer",
    ]
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for n, title in enumerate(titles):
            if stop.is_set():
                return
            body: dict[str, Any] = {
                "title": title,
                "priority": 3 + (n * 3) % 8,
                "environment_preference": ["either", "local", "server"][n % 3],
                "requires_human_review": n % 3 == 0,
            }
            if n % 2:
                body["spec_text"] = DEMO_SPEC.format(title=title)
            else:
                body["spec_path"] = f"{title}.md"  # no such file: the spec phase writes it
            try:
                client.post("/assembly-line/intent", json=body)
            except httpx.HTTPError:
                pass
            stop.wait(4 * pace)


def _wait_until_up(base_url: str) -> None:
    import httpx

    for _ in range(100):
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="assemblyline",
        description="The unified assembly line: run the service, or run it with a demo.",
        epilog="Settings come from the environment (DATABASE_URL, REDIS_URL, ...: see the "
        "README). Management commands (createtoken, reap, register, ...): "
        "python manage.py help.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands = {
        "serve": "run the service (HTTP and WebSocket; migrates and collects static first)",
        "demo": "run the service with demo data: an admin user (admin/admin), printed tokens, "
        "intents submitted and simulated executors moving them along the line",
    }
    for name, about in commands.items():
        cmd = sub.add_parser(name, help=about, description=about[0].upper() + about[1:] + ".")
        cmd.add_argument("--host", default="127.0.0.1", help="address to listen on")
        cmd.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("PORT", 8950)),
            help="port to listen on (env PORT; default 8950)",
        )
    args = parser.parse_args(argv)
    if args.command == "demo":
        # The demo's built services are this server itself: its live checks may call it.
        host = f"[{args.host}]" if ":" in args.host else args.host
        os.environ.setdefault(
            "LIVE_CHECK_ALLOW", f"127.0.0.1:{args.port},[::1]:{args.port},{host}:{args.port}"
        )
    _setup()
    _ensure_port_free(args.host, args.port)
    _pace()
    _migrate()
    if args.command == "demo":
        base_url = f"http://{args.host}:{args.port}"
        tokens = _demo_setup(args.port)
        print(f"\nunified-assembly-line demo on {base_url}", flush=True)
        print(f"  dashboard: {base_url}/assembly-line/dashboard   admin: {base_url}/admin/")
        print("  admin login: admin / admin")
        for name, token in tokens.items():
            print(f"  {name} token: {token}")
        print(
            f"  try: curl -H 'Authorization: Bearer {tokens['viewer']}' "
            f"{base_url}/assembly-line/state\n",
            flush=True,
        )
        stop = threading.Event()

        def start_demo() -> None:
            _wait_until_up(base_url)
            threading.Thread(
                target=_demo_submitter, args=(base_url, tokens["submitter"], stop), daemon=True
            ).start()
            for executor_id, _, _ in DEMO_EXECUTORS:
                threading.Thread(
                    target=_demo_executor,
                    args=(base_url, executor_id, tokens[executor_id], stop),
                    daemon=True,
                ).start()

        threading.Thread(target=start_demo, daemon=True).start()
    _serve(args.host, args.port)


if __name__ == "__main__":
    main(sys.argv[1:])

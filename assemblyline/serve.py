"""The serve entry point: `python -m assemblyline.serve [-b HOST] [-p PORT] [-v 0|1]
[--proxy-headers] [--server uvicorn|daphne]`.

Imports the application, then does what a serving process does once and an import must not
(a test that imports assemblyline.asgi stays as it was): registers in SERVICE_REGISTRY.json
with REGISTER_ON_START, tunes the process (core/runtime/process.py), and serves
`assemblyline.asgi:application` with uvicorn (uvloop, httptools, websockets), production's
server: on a quiet machine it sent the dashboards' frames for about half Daphne's CPU (1.5-1.8x
in three runs, the issue's 1.3x rule) and executor calls for 1.2x less (docs/performance.md).
`--server daphne` (or SERVER=daphne) serves with Daphne, tuned the same way, still supported
(and `runserver`'s). deploy/start.sh, `assemblyline serve`, the bench and the tests' real
servers all start here."""

from __future__ import annotations

import argparse
import os

import uvicorn
from daphne.cli import CommandLineInterface

import assemblyline.asgi  # noqa: F401  (django.setup() and the application, first)
from core.registry import register_on_start
from core.runtime.process import tune_process

SERVERS = ("daphne", "uvicorn")
# uvicorn: requests still running at SIGTERM get this long to finish. On Kubernetes the long
# polls have ended in preStop (35 s) and the pod has 10 s of its grace period (45 s) left.
GRACEFUL_SECONDS = 8


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m assemblyline.serve")
    parser.add_argument("-b", "--bind", default="127.0.0.1", help="address to listen on")
    parser.add_argument("-p", "--port", type=int, default=8000)
    parser.add_argument(
        "-v", "--verbosity", type=int, default=1, help="0: no access log (the app logs requests)"
    )
    parser.add_argument(
        "--proxy-headers",
        action="store_true",
        help="client address and scheme from X-Forwarded-For/-Proto (behind a proxy only)",
    )
    parser.add_argument(
        "--server", choices=SERVERS, default=os.environ.get("SERVER", "uvicorn") or "uvicorn"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    register_on_start()
    # After the application is imported: what start-up made is frozen out of the collector.
    tune_process()
    if args.server == "daphne":
        CommandLineInterface().run(
            [
                "-b",
                args.bind,
                "-p",
                str(args.port),
                "-v",
                str(args.verbosity),
                *(["--proxy-headers"] if args.proxy_headers else []),
                "assemblyline.asgi:application",
            ]
        )
        return
    uvicorn.run(
        "assemblyline.asgi:application",
        host=args.bind,
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws="websockets",
        # No per-message deflate: each viewer's copy of a frame would be compressed on its
        # own, CPU per frame per viewer (Daphne offers none either).
        ws_per_message_deflate=False,
        # Django and Channels have no lifespan events.
        lifespan="off",
        access_log=args.verbosity > 0,
        log_level="info" if args.verbosity > 0 else "warning",
        proxy_headers=args.proxy_headers,
        # As Daphne's --proxy-headers: the proxy in front overwrites X-Forwarded-For and the
        # app is reachable only through it (docs/security.md); FORWARDED_ALLOW_IPS narrows it.
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "*"),
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )


if __name__ == "__main__":
    main()

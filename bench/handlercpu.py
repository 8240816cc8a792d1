"""`python -m bench.handlercpu [N]`: this process's CPU per request of the ASGI handler and the
middleware chain around a bare `JsonResponse` view (bench/floor.py's), in-process, no server.

- `django`: Django's own ASGIHandler, no middleware (the bench's floor serves this);
- `ours, no middleware`: assemblyline/handlers.py's handler, no middleware;
- `ours, token chain`: ours with settings.TOKEN_API_MIDDLEWARE (an executor's bearer call);
- `ours, full chain`: ours with settings.MIDDLEWARE (the admin's, the dashboard's).

Rounds of N requests (2,000 by default) alternate between the four, 7 times; the best round of
each is printed (µs of CPU per request, JSON). No database or Redis is touched."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

ROUNDS = 7


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "assemblyline.settings",
            "SECRET_KEY": "bench",
            "ALLOWED_HOSTS": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
        }
    )
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    import django
    from django.conf import settings

    django.setup()
    from django.core.handlers.asgi import ASGIHandler

    from assemblyline.handlers import SyncChainASGIHandler
    from bench.appcpu import call

    settings.ROOT_URLCONF = "bench.floor"
    full = list(settings.MIDDLEWARE)
    handlers: dict[str, Any] = {}
    for name, chain in (
        ("ours, full chain", full),
        ("ours, token chain", settings.TOKEN_API_MIDDLEWARE),
        ("ours, no middleware", []),
    ):
        settings.MIDDLEWARE = chain
        # TOKEN_API_PREFIXES does not cover /floor: every request takes the chain built here.
        handlers[name] = SyncChainASGIHandler()
    handlers["django"] = ASGIHandler()  # no middleware: MIDDLEWARE is [] now
    settings.MIDDLEWARE = full
    loop = asyncio.new_event_loop()

    def round_of(app: Any) -> float:
        start = time.process_time()
        for _ in range(n):
            run, sent = call(app, "GET", "/floor", "bench")
            loop.run_until_complete(run())
            assert sent[0]["status"] == 200, sent
        return (time.process_time() - start) / n * 1e6

    best: dict[str, float] = {}
    for _ in range(ROUNDS):
        for name, app in handlers.items():
            us = round_of(app)
            best[name] = min(best.get(name, us), us)
    print(
        json.dumps(
            {
                "requests_per_round": n,
                "us_cpu_per_request": {name: round(us) for name, us in best.items()},
            }
        )
    )


if __name__ == "__main__":
    main()

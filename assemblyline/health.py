"""GET /health: open, the seed spec's shape, plus what each dependency says.

`status` is `ok` when PostgreSQL (or the embedded SQLite) and Redis answer; `degraded` (still
200: the line keeps working from the database) when Redis does not, with the reason; 503
`unavailable` when the database does not answer."""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from executors.live import live


def database_check() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return False, f"{type(exc).__name__}: {exc}".strip()
    return True, f"ok ({connection.vendor})"


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    db_ok, db_detail = database_check()
    redis_ok, redis_detail = live.ping()
    degraded = []
    if not redis_ok:
        degraded.append(f"redis unavailable ({redis_detail}); live status and events from "
                        "PostgreSQL only")
    if not db_ok:
        status = "unavailable"
    elif degraded:
        status = "degraded"
    else:
        status = "ok"
    return JsonResponse(
        {
            "status": status,
            "service": settings.SERVICE_NAME,
            "version": settings.SERVICE_VERSION,
            "timestamp": timezone.now().isoformat(),
            "checks": {
                "database": {"ok": db_ok, "detail": db_detail},
                "redis": {"ok": redis_ok, "detail": redis_detail},
            },
            "degraded": degraded,
        },
        status=200 if db_ok else 503,
    )

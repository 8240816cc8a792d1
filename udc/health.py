"""GET /health: open, the seed spec's shape, plus what each dependency says.

`status` is `ok` when PostgreSQL (or the embedded SQLite) and Redis answer; `degraded` (still
200: the line keeps working from the database) when Redis does not, with the reason; 503
`unavailable` when the database does not answer."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from executors.live import live


class HealthSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=["ok", "degraded", "unavailable"])
    service = serializers.CharField()
    version = serializers.CharField()
    timestamp = serializers.DateTimeField()
    checks = serializers.DictField()
    degraded = serializers.ListField(child=serializers.CharField())


def database_check() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return False, f"{type(exc).__name__}: {exc}".strip()
    return True, f"ok ({connection.vendor})"


class HealthApi(APIView):
    """GET /health: open; 200 with ok or degraded, 503 unavailable."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Health (UDC)",
        operation_id="health",
        tags=["udc"],
        responses={
            200: HealthSerializer,
            503: OpenApiResponse(HealthSerializer, description="database down"),
        },
    )
    def get(self, request: Request) -> Response:
        return health_answer()


def health_answer() -> Response:
    db_ok, db_detail = database_check()
    redis_ok, redis_detail = live.ping()
    degraded = []
    if not redis_ok:
        degraded.append(
            f"redis unavailable ({redis_detail}); live status and events from PostgreSQL only"
        )
    if not db_ok:
        status = "unavailable"
    elif degraded:
        status = "degraded"
    else:
        status = "ok"
    return Response(
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


health = HealthApi.as_view()

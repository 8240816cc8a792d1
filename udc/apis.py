"""The platform's six UDC endpoints on this service (DESIGN §8). `/health` lives in
udc/health.py. All six are open: the platform's compliance scanner calls them without
a token, and answers GET on every path, so /message and /send describe themselves on GET.
`/send` only delivers to services named in the registry, never to an arbitrary URL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import structlog
from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import registry
from core.api import validate_input
from core.openapi import errors
from core.requeststats import stats
from executors.live import live
from udc.health import database_check

log = structlog.get_logger("assemblyline.udc")

UDC_VERSION = "1.0"
FEATURES = [
    "intent_queue",
    "phase_machine",
    "verification_levels_1_6",
    "human_review",
    "websocket_events",
    "leases_and_reaper",
    "idempotent_submit",
    "long_poll",
    "separation_of_duties",
    "stall_detection",
    "spillover",
    "fair_share",
]


class CapabilitiesSerializer(serializers.Serializer[Any]):
    service = serializers.CharField()
    version = serializers.CharField()
    udc_version = serializers.CharField()
    features = serializers.ListField(child=serializers.CharField())
    dependencies = serializers.ListField(child=serializers.CharField())
    endpoints = serializers.ListField(child=serializers.CharField())


class UdcStateSerializer(serializers.Serializer[Any]):
    uptime_seconds = serializers.FloatField()
    requests_total = serializers.IntegerField()
    requests_per_minute = serializers.IntegerField()
    errors_last_hour = serializers.IntegerField()
    last_restart = serializers.DateTimeField()


class DependencySerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=["ok", "down", "not_configured"])
    detail = serializers.CharField()


class DependenciesSerializer(serializers.Serializer[Any]):
    # DRF's serializer metaclass moves declared fields off the class, so this name does not
    # clash with the base class's attribute of the same name, as the stubs think.
    required = DependencySerializer(many=True)  # type: ignore[assignment]
    optional = DependencySerializer(many=True)
    missing = serializers.ListField(child=serializers.CharField())


class MessageAnswerSerializer(serializers.Serializer[Any]):
    received = serializers.BooleanField()
    trace_id = serializers.CharField()
    processed_at = serializers.DateTimeField()


class SendAnswerSerializer(serializers.Serializer[Any]):
    sent = serializers.BooleanField()
    trace_id = serializers.CharField()
    target = serializers.CharField()
    status_code = serializers.IntegerField(required=False)
    error = serializers.CharField(required=False, help_text="why it was not sent")


class EndpointDescriptionSerializer(serializers.Serializer[Any]):
    endpoint = serializers.CharField()
    method = serializers.CharField()
    accepts = serializers.ListField(child=serializers.CharField())


class OpenUdcApi(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]


class CapabilitiesApi(OpenUdcApi):
    """GET /capabilities: what this service does and needs."""

    @extend_schema(
        operation_id="capabilities",
        summary="Capabilities (UDC)",
        tags=["udc"],
        responses={200: CapabilitiesSerializer},
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "service": settings.SERVICE_NAME,
                "version": settings.SERVICE_VERSION,
                "udc_version": UDC_VERSION,
                "features": FEATURES,
                "dependencies": ["postgresql", "redis"],
                "endpoints": [
                    "/health",
                    "/capabilities",
                    "/state",
                    "/dependencies",
                    "/message",
                    "/send",
                    "/assembly-line/",
                    "/api/schema/",
                    "/metrics",
                ],
            }
        )


class UdcStateApi(OpenUdcApi):
    """GET /state: this process's uptime and request counters (the line's own state is
    GET /assembly-line/state)."""

    @extend_schema(
        operation_id="udc_state",
        summary="Process state (UDC)",
        tags=["udc"],
        responses={200: UdcStateSerializer},
    )
    def get(self, request: Request) -> Response:
        return Response(stats.snapshot())


class DependenciesApi(OpenUdcApi):
    """GET /dependencies: PostgreSQL (required) and Redis (optional: without it the line runs
    from the database alone), each with its live status."""

    @extend_schema(
        operation_id="dependencies",
        tags=["udc"],
        summary="Dependencies and their live status (UDC)",
        responses={200: DependenciesSerializer},
    )
    def get(self, request: Request) -> Response:
        db_ok, db_detail = database_check()
        required = [
            {
                "name": "postgresql" if "postgres" in db_detail else "database",
                "status": "ok" if db_ok else "down",
                "detail": db_detail,
            }
        ]
        if settings.REDIS_URL:
            redis_ok, redis_detail = live.ping()
            optional = [
                {"name": "redis", "status": "ok" if redis_ok else "down", "detail": redis_detail}
            ]
        else:
            optional = [
                {
                    "name": "redis",
                    "status": "not_configured",
                    "detail": "REDIS_URL not set: in-memory channel layer",
                }
            ]
        missing = [d["name"] for d in required + optional if d["status"] == "down"]
        return Response({"required": required, "optional": optional, "missing": missing})


class MessageApi(OpenUdcApi):
    """POST /message: take a message from another service of the platform."""

    @extend_schema_serializer(component_name="UdcMessage")
    class InputSerializer(serializers.Serializer[Any]):
        trace_id = serializers.CharField(max_length=100, required=False)
        # DRF's serializer metaclass moves declared fields off the class, so this name does not
        # clash with the base class's attribute of the same name, as the stubs think.
        source = serializers.CharField(max_length=200)  # type: ignore[assignment]
        target = serializers.CharField(max_length=200, required=False)
        message_type = serializers.CharField(max_length=100)
        payload = serializers.JSONField(required=False, default=dict)
        timestamp = serializers.CharField(max_length=64, required=False)

    @extend_schema(
        summary="Describe POST /message (UDC scanners probe with GET)",
        tags=["udc"],
        responses={200: EndpointDescriptionSerializer},
        operation_id="message_describe",
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "endpoint": "/message",
                "method": "POST",
                "accepts": ["trace_id", "source", "target", "message_type", "payload", "timestamp"],
            }
        )

    @extend_schema(
        operation_id="message_receive",
        tags=["udc"],
        summary="Receive a message from another service (UDC)",
        request=InputSerializer,
        responses={200: MessageAnswerSerializer, **errors(400, 413)},
    )
    def post(self, request: Request) -> Response:
        data = validate_input(self.InputSerializer, request.data)
        trace_id = data.get("trace_id") or str(uuid.uuid4())
        log.info(
            "udc_message",
            trace_id=trace_id,
            source=data["source"],
            message_type=data["message_type"],
        )
        return Response(
            {"received": True, "trace_id": trace_id, "processed_at": timezone.now().isoformat()}
        )


class SendApi(OpenUdcApi):
    """POST /send: deliver a message to a registered service's /message."""

    @extend_schema_serializer(component_name="UdcSend")
    class InputSerializer(serializers.Serializer[Any]):
        target = serializers.CharField(max_length=200)
        message_type = serializers.CharField(max_length=100)
        payload = serializers.JSONField(required=False, default=dict)

    @extend_schema(
        summary="Describe POST /send (UDC scanners probe with GET)",
        tags=["udc"],
        responses={200: EndpointDescriptionSerializer},
        operation_id="send_describe",
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "endpoint": "/send",
                "method": "POST",
                "accepts": ["target", "message_type", "payload"],
            }
        )

    @extend_schema(
        operation_id="message_send",
        summary="Send a message to a registered service's /message (UDC)",
        tags=["udc"],
        request=InputSerializer,
        responses={200: SendAnswerSerializer, **errors(400, 413)},
    )
    def post(self, request: Request) -> Response:
        data = validate_input(self.InputSerializer, request.data)
        trace_id = str(uuid.uuid4())
        answer: dict[str, Any] = {"sent": False, "trace_id": trace_id, "target": data["target"]}
        try:
            entry = registry.find(data["target"])
        except (OSError, ValueError) as exc:
            return Response({**answer, "error": f"service registry unreadable: {exc}"})
        if entry is None or not registry.service_url(entry):
            return Response({**answer, "error": f"{data['target']!r} is not in the registry"})
        message = {
            "trace_id": trace_id,
            "source": settings.SERVICE_NAME,
            "target": data["target"],
            "message_type": data["message_type"],
            "payload": data["payload"],
            "timestamp": timezone.now().isoformat(),
        }
        try:
            response = httpx.post(
                registry.service_url(entry) + "/message",
                json=message,
                timeout=settings.LIVE_TIMEOUT,
            )
        except httpx.HTTPError as exc:
            return Response({**answer, "error": f"{type(exc).__name__}: {exc}"})
        log.info("udc_send", trace_id=trace_id, target=data["target"], status=response.status_code)
        return Response(
            {**answer, "sent": response.is_success, "status_code": response.status_code}
        )

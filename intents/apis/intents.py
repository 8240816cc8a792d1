"""Intent endpoints: submit, list, detail, and the line's state."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import FlatInputSerializer, validate_input
from core.errors import InvalidInput, NotFound
from core.openapi import AUTHED, errors
from executors.authentication import acting_principal
from executors.permissions import (
    CanSubmit,
    IsAuthenticatedPrincipal,
)
from intents import selectors, services
from intents.models import EnvironmentPreference, Intent, Phase, Status
from intents.serializers import (
    SUBMIT_EXAMPLE,
    EventSerializer,
    IntentDetailSerializer,
    IntentFullSerializer,
    IntentPageSerializer,
    IntentSerializer,
    LineStateSerializer,
    SubmitAnswerSerializer,
)


class IntentSubmitApi(APIView):
    """POST /assembly-line/intent: submit a build intent to the unified queue."""

    permission_classes = [CanSubmit]

    @extend_schema_serializer(component_name="SubmitIntent")
    class InputSerializer(FlatInputSerializer):
        title = serializers.CharField(max_length=200)
        spec_path = serializers.CharField(max_length=500, required=False, allow_blank=True)
        spec_text = serializers.CharField(
            max_length=200_000, required=False, allow_blank=True, trim_whitespace=False
        )
        priority = serializers.IntegerField(min_value=1, max_value=10, default=5)
        environment_preference = serializers.ChoiceField(
            choices=EnvironmentPreference.choices, default=EnvironmentPreference.EITHER
        )
        requires_human_review = serializers.BooleanField(default=False)
        required_capabilities = serializers.ListField(
            child=serializers.CharField(max_length=50), max_length=20, required=False
        )
        max_attempts = serializers.IntegerField(min_value=1, max_value=20, required=False)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if not attrs.get("spec_path") and not attrs.get("spec_text"):
                raise serializers.ValidationError(
                    {"spec_path": ["spec_path (or an inline spec_text) is required"]}
                )
            return attrs

    @extend_schema(
        summary="Submit a build intent",
        operation_id="submit_intent",
        tags=["intents"],
        request=InputSerializer,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="repeat-safe submit: the same key answers "
                "the first result (header Idempotent-Replayed: true)",
            )
        ],
        responses={201: SubmitAnswerSerializer, **errors(*AUTHED, 409, 413)},
        examples=[SUBMIT_EXAMPLE],
    )
    def post(self, request: Request) -> Response:
        data = validate_input(self.InputSerializer, request.data)
        principal = acting_principal(request)
        actor, label = principal.identity, principal.name
        key = request.headers.get("Idempotency-Key")
        if key is None:
            intent = services.intent_submit(actor=actor, actor_label=label, **data)
            return Response(self.answer(intent), status=status.HTTP_201_CREATED)
        if not key.strip() or len(key) > 200:
            raise InvalidInput("Idempotency-Key must be 1 to 200 characters")
        body_hash = hashlib.sha256(
            json.dumps(data, sort_keys=True, default=str).encode()
        ).hexdigest()
        answer, replayed = services.intent_submit_once(
            actor=actor,
            key=key,
            request_hash=body_hash,
            submit=data,
            answer=self.answer,
            actor_label=label,
        )
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return Response(answer, status=status.HTTP_201_CREATED, headers=headers)

    @staticmethod
    def answer(intent: Intent) -> dict[str, Any]:
        return {
            "intent_id": intent.id,
            "status": intent.status,
            "estimated_start": selectors.estimated_start(intent).isoformat(),
            "current_phase": intent.current_phase,
        }


class LineStateApi(APIView):
    """GET /assembly-line/state: the whole line at a glance, from aggregate queries."""

    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(
        summary="The whole line at a glance",
        operation_id="line_state",
        tags=["line"],
        responses={200: LineStateSerializer, **errors(401, 403)},
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.line_state())


class IntentPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


class IntentListApi(APIView):
    """GET /assembly-line/intents/?status=&phase=&executor=: intents, newest first."""

    permission_classes = [IsAuthenticatedPrincipal]

    class FilterSerializer(serializers.Serializer[Any]):
        status = serializers.ChoiceField(choices=Status.choices, required=False)
        phase = serializers.ChoiceField(choices=Phase.choices, required=False)
        executor = serializers.CharField(max_length=100, required=False)
        # A submitter's identity (`token:<id>`, `executor:<id>`, `user:<id>`), not a name.
        created_by = serializers.CharField(max_length=200, required=False)

    @extend_schema(
        summary="List intents, newest first",
        operation_id="list_intents",
        tags=["intents"],
        parameters=[
            FilterSerializer,
            OpenApiParameter("limit", int, description="page size (≤ 500)"),
            OpenApiParameter("offset", int),
        ],
        responses={200: IntentPageSerializer, **errors(*AUTHED)},
    )
    def get(self, request: Request) -> Response:
        query = {
            k: v for k, v in request.query_params.dict().items() if k not in ("limit", "offset")
        }
        filters = validate_input(self.FilterSerializer, query)
        intents = Intent.objects.all().order_by("-created_at", "id")
        if "status" in filters:
            intents = intents.filter(status=filters["status"])
        if "phase" in filters:
            intents = intents.filter(current_phase=filters["phase"])
        if "executor" in filters:
            intents = intents.filter(
                Q(assigned_to_id=filters["executor"]) | Q(previous_executor_id=filters["executor"])
            )
        if "created_by" in filters:
            intents = intents.filter(created_by=filters["created_by"])
        paginator = IntentPagination()
        page = paginator.paginate_queryset(intents, request, view=self)
        return paginator.get_paginated_response(IntentSerializer(page, many=True).data)


class IntentDetailApi(APIView):
    """GET /assembly-line/intents/<id>: one intent with its events."""

    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(
        summary="One intent with its events",
        operation_id="get_intent",
        tags=["intents"],
        responses={200: IntentDetailSerializer, **errors(401, 403, 404)},
    )
    def get(self, request: Request, intent_id: str) -> Response:
        intent = Intent.objects.filter(pk=intent_id).first()
        if intent is None:
            raise NotFound(f"intent {intent_id!r} not found")
        data = IntentFullSerializer(intent).data
        # DRF's stubs type a plain Serializer's instance as one object, even with many=True.
        events = intent.events.order_by("created_at", "id")
        data["events"] = EventSerializer(events, many=True).data  # type: ignore[arg-type]
        return Response(data)

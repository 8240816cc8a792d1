"""Endpoints that decide about an intent: cancel, approve, reject, requeue."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import validate_input
from core.openapi import AUTHED, errors
from executors.authentication import acting_principal
from executors.permissions import (
    CanSubmit,
    IsAdmin,
)
from intents import services
from intents.serializers import (
    IntentSerializer,
)


class ReasonSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class RequiredReasonSerializer(serializers.Serializer[Any]):
    """A rejection needs a reason: the next executor reads it."""

    reason = serializers.CharField(max_length=2000)


class IntentCancelApi(APIView):
    """POST /assembly-line/intents/<id>/cancel: the submitter or an admin stops an intent."""

    permission_classes = [CanSubmit]

    @extend_schema(
        summary="Cancel an intent (its submitter or an admin)",
        operation_id="cancel_intent",
        tags=["intents"],
        request=ReasonSerializer,
        responses={200: IntentSerializer, **errors(*AUTHED, 404, 409)},
    )
    def post(self, request: Request, intent_id: str) -> Response:
        data = validate_input(ReasonSerializer, request.data or {})
        principal = acting_principal(request)
        intent = services.intent_cancel(
            intent_id=intent_id,
            actor=principal.identity,
            is_admin=principal.is_admin,
            reason=data["reason"],
        )
        return Response(IntentSerializer(intent).data)


class IntentApproveApi(APIView):
    """POST /assembly-line/intents/<id>/approve (admin): a held intent moves on."""

    permission_classes = [IsAdmin]

    @extend_schema(
        summary="Approve an intent awaiting review (admin)",
        operation_id="approve_intent",
        tags=["review"],
        request=ReasonSerializer,
        responses={200: IntentSerializer, **errors(*AUTHED, 404, 409)},
    )
    def post(self, request: Request, intent_id: str) -> Response:
        data = validate_input(ReasonSerializer, request.data or {})
        principal = acting_principal(request)
        intent = services.intent_approve(
            intent_id=intent_id,
            reviewer=principal.identity,
            reviewer_label=principal.name,
            note=data["reason"],
        )
        return Response(IntentSerializer(intent).data)


class IntentRejectApi(APIView):
    """POST /assembly-line/intents/<id>/reject (admin): back to its phase with the reason."""

    permission_classes = [IsAdmin]

    @extend_schema(
        summary="Reject an intent awaiting review, with a reason (admin)",
        operation_id="reject_intent",
        tags=["review"],
        request=RequiredReasonSerializer,
        responses={200: IntentSerializer, **errors(*AUTHED, 404, 409)},
    )
    def post(self, request: Request, intent_id: str) -> Response:
        data = validate_input(RequiredReasonSerializer, request.data or {})
        principal = acting_principal(request)
        intent = services.intent_reject(
            intent_id=intent_id,
            reviewer=principal.identity,
            reviewer_label=principal.name,
            reason=data["reason"],
        )
        return Response(IntentSerializer(intent).data)


class IntentRequeueApi(APIView):
    """POST /assembly-line/intents/<id>/requeue (admin): back to its phase's queue (work in
    progress is taken from its executor; a failed intent gets fresh attempts)."""

    permission_classes = [IsAdmin]

    @extend_schema(
        summary="Put an intent back in its phase's queue (admin)",
        operation_id="requeue_intent",
        tags=["intents"],
        request=ReasonSerializer,
        responses={200: IntentSerializer, **errors(*AUTHED, 404, 409)},
    )
    def post(self, request: Request, intent_id: str) -> Response:
        data = validate_input(ReasonSerializer, request.data or {})
        intent = services.intent_requeue(
            intent_id=intent_id, actor=acting_principal(request).identity, reason=data["reason"]
        )
        return Response(IntentSerializer(intent).data)

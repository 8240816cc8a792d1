"""Executor endpoints for claimed work: next, progress, complete, release; and verify."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db.models import Field
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import FlatInputSerializer, validate_input
from core.inputs import FiniteFloatField
from core.openapi import AUTHED, errors
from executors.authentication import acting_principal
from executors.permissions import (
    CanVerify,
    CanWork,
)
from executors.services import acting_executor_id, executor_id_for
from intents import selectors, services
from intents.models import Intent, Phase, Status
from intents.serializers import (
    COMPLETE_EXAMPLE,
    CompleteAnswerSerializer,
    IntentFullSerializer,
    ProgressAnswerSerializer,
    VerifyAnswerSerializer,
    WorkAnswerSerializer,
)


def artifacts_within_limit(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, default=str).encode())
    if size > settings.MAX_ARTIFACTS_BYTES:
        raise serializers.ValidationError(
            f"artifacts are {size} bytes; the limit is {settings.MAX_ARTIFACTS_BYTES}"
        )
    # Artifacts copied into the intent's own text columns must fit them, checked before any
    # check runs (a 600-character deployment_url was a 500 after the gate had run).
    for key in ("build_output", "deployment_url"):
        field = Intent._meta.get_field(key)
        assert isinstance(field, Field)  # build_output and deployment_url are text columns
        text = value.get(key)
        if text is None:
            continue
        if not isinstance(text, str):
            raise serializers.ValidationError(f"{key} must be a string")
        if field.max_length is not None and len(text) > field.max_length:
            raise serializers.ValidationError(
                f"{key} is {len(text)} characters; at most {field.max_length}"
            )
    return value


class WorkNextApi(APIView):
    """GET /assembly-line/work/next?executor_id=: claim the next work item."""

    permission_classes = [CanWork]

    @extend_schema_serializer(component_name="ClaimWork")
    class InputSerializer(FlatInputSerializer):
        executor_id = serializers.CharField(max_length=100)
        # Long poll (intents/longpoll.py): hold up to this many seconds for work.
        wait = FiniteFloatField(
            min_value=0, max_value=settings.LONG_POLL_MAX_SECONDS, required=False, default=0
        )

    @extend_schema(
        summary="Claim the next work item",
        operation_id="claim_work",
        description="Pulls from the shared queue: exactly one executor gets each intent. "
        "`wait=N` (≤ 30) holds the request until work arrives or N seconds pass.",
        tags=["work"],
        parameters=[InputSerializer],
        responses={200: WorkAnswerSerializer, **errors(*AUTHED, 404)},
    )
    def get(self, request: Request) -> Response:
        data = validate_input(self.InputSerializer, request.query_params.dict())
        principal = acting_principal(request)
        executor_id = executor_id_for(principal=principal, executor_id=data["executor_id"])
        claim = services.work_claim(
            executor_id=executor_id, actor=principal.identity, look_first=data["wait"] > 0
        )
        if claim.intent is None:
            return Response({"assigned": False, "reason": claim.reason})
        return Response(
            {
                "intent": IntentFullSerializer(claim.intent).data,
                "assigned": True,
                # Beyond the spec: what the executor needs to resume, not start blind.
                "handoff": selectors.handoff(claim.intent, first_claim=claim.first_claim),
            }
        )


class WorkProgressApi(APIView):
    """POST /assembly-line/work/progress: report progress on assigned work."""

    permission_classes = [CanWork]

    @extend_schema_serializer(component_name="ReportProgress")
    class InputSerializer(FlatInputSerializer):
        intent_id = serializers.CharField(max_length=40)
        executor_id = serializers.CharField(max_length=100)
        phase = serializers.ChoiceField(choices=Phase.choices)
        progress = FiniteFloatField(min_value=0.0, max_value=1.0)
        message = serializers.CharField(
            max_length=500, required=False, allow_blank=True, default=""
        )

    @extend_schema(
        summary="Report progress on assigned work",
        operation_id="report_progress",
        tags=["work"],
        request=InputSerializer,
        responses={200: ProgressAnswerSerializer, **errors(*AUTHED, 404, 409)},
    )
    def post(self, request: Request) -> Response:
        data = validate_input(self.InputSerializer, request.data)
        principal = acting_principal(request)
        executor_id = acting_executor_id(principal=principal, executor_id=data.pop("executor_id"))
        intent = services.work_progress(executor_id=executor_id, actor=principal.identity, **data)
        return Response(
            {
                "updated": True,
                "current_state": intent.status,
                "phase": intent.current_phase,
                "lease_expires_at": intent.lease_expires_at,
            }
        )


class WorkCompleteApi(APIView):
    """POST /assembly-line/work/complete: hand in the phase; its gate decides what follows."""

    permission_classes = [CanWork]

    @extend_schema_serializer(component_name="CompleteWork")
    class InputSerializer(FlatInputSerializer):
        intent_id = serializers.CharField(max_length=40)
        executor_id = serializers.CharField(max_length=100)
        status = serializers.ChoiceField(
            choices=[Status.COMPLETED, Status.FAILED], default=Status.COMPLETED
        )
        artifacts = serializers.DictField(required=False, default=dict)
        phase = serializers.ChoiceField(choices=Phase.choices, required=False)

        def validate_artifacts(self, value: dict[str, Any]) -> dict[str, Any]:
            return artifacts_within_limit(value)

    @extend_schema(
        summary="Hand in a phase; its gate decides what follows",
        operation_id="complete_work",
        tags=["work"],
        request=InputSerializer,
        responses={200: CompleteAnswerSerializer, **errors(*AUTHED, 404, 409, 413)},
        examples=[COMPLETE_EXAMPLE],
    )
    def post(self, request: Request) -> Response:
        data = validate_input(self.InputSerializer, request.data)
        principal = acting_principal(request)
        executor_id = acting_executor_id(principal=principal, executor_id=data.pop("executor_id"))
        done = services.work_complete(executor_id=executor_id, actor=principal.identity, **data)
        gate = None
        if done.outcome is not None:
            gate = {
                "passed": done.outcome.passed,
                "level": done.outcome.level,
                "checks": done.outcome.checks,
            }
        return Response(
            {
                "completed": True,
                "auto_advanced": done.auto_advanced,
                "next_phase": done.next_phase,
                "status": done.intent.status,
                "current_phase": done.intent.current_phase,
                "attempts": done.intent.attempts,
                "gate": gate,
            }
        )


class WorkReleaseApi(APIView):
    """POST /assembly-line/work/release: the holder hands its work back unfinished (its session
    ends); the intent is re-queued at once with `why: released` instead of waiting out its
    lease."""

    permission_classes = [CanWork]

    @extend_schema_serializer(component_name="ReleaseWork")
    class InputSerializer(FlatInputSerializer):
        intent_id = serializers.CharField(max_length=40)
        executor_id = serializers.CharField(max_length=100)
        phase = serializers.ChoiceField(choices=Phase.choices, required=False)
        reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    @extend_schema_serializer(component_name="ReleaseAnswer")
    class OutputSerializer(serializers.Serializer[Any]):
        released = serializers.BooleanField()
        intent_id = serializers.CharField()
        status = serializers.CharField()
        current_phase = serializers.CharField()
        attempts = serializers.IntegerField()

    @extend_schema(
        summary="Hand claimed work back unfinished (holder only)",
        operation_id="release_work",
        description="Re-queues the intent in its phase at once, keeping its place and its "
        "attempts; the next claimer's handoff says `why: released`. 409 when the caller no "
        "longer holds it (lease lapsed, re-queued, finished).",
        tags=["work"],
        request=InputSerializer,
        responses={200: OutputSerializer, **errors(*AUTHED, 404, 409)},
    )
    def post(self, request: Request) -> Response:
        data = validate_input(self.InputSerializer, request.data)
        principal = acting_principal(request)
        executor_id = acting_executor_id(principal=principal, executor_id=data.pop("executor_id"))
        intent = services.work_release(executor_id=executor_id, actor=principal.identity, **data)
        return Response(
            self.OutputSerializer(
                {
                    "released": True,
                    "intent_id": intent.id,
                    "status": intent.status,
                    "current_phase": intent.current_phase,
                    "attempts": intent.attempts,
                }
            ).data
        )


class VerifyApi(APIView):
    """POST /assembly-line/verify: run the verification levels 1..N on demand for a phase.
    Records a VerificationRun; never moves the intent. The intent's submitter, the executor
    holding it and admins only."""

    permission_classes = [CanVerify]

    @extend_schema_serializer(component_name="Verify")
    class InputSerializer(FlatInputSerializer):
        intent_id = serializers.CharField(max_length=64)
        verification_level = serializers.IntegerField(min_value=1, max_value=6)
        phase = serializers.ChoiceField(choices=Phase.choices)
        # Optional: artifacts to judge on top of what the intent has (a dry run before
        # /work/complete); they are not stored.
        artifacts = serializers.DictField(required=False, default=dict)

        def validate_artifacts(self, value: dict[str, Any]) -> dict[str, Any]:
            return artifacts_within_limit(value)

    @extend_schema(
        summary="Run verification levels 1..N on demand",
        operation_id="verify",
        description="Records a VerificationRun; never moves the intent. Only the "
        "intent's submitter, the executor holding it and admins may (403 otherwise).",
        tags=["verification"],
        request=InputSerializer,
        responses={200: VerifyAnswerSerializer, **errors(*AUTHED, 404, 413, 429)},
    )
    def post(self, request: Request) -> Response:
        data = validate_input(self.InputSerializer, request.data)
        principal = acting_principal(request)
        result = services.intent_verify(
            intent_id=data["intent_id"],
            level=data["verification_level"],
            phase=data["phase"],
            artifacts=data["artifacts"],
            actor=principal.identity,
            is_admin=principal.is_admin,
            executor_id=principal.executor_id,
        )
        return Response(
            {
                "passed": result.passed,
                "level": data["verification_level"],
                "checks": result.outcome.checks,
                "can_advance": result.can_advance,
                "verified_level": result.verified_level,
                "verification_id": result.run.pk,
            }
        )

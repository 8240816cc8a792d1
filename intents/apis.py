"""The line's REST endpoints. Thin: validate, call one service or selector, shape the answer."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assemblyline.errors import InvalidInput, NotFound
from assemblyline.inputs import FiniteFloatField
from assemblyline.schema import (
    AUTHED,
    COMPLETE_EXAMPLE,
    SUBMIT_EXAMPLE,
    CompleteAnswerSerializer,
    IntentDetailSerializer,
    IntentPageSerializer,
    LineStateSerializer,
    ProgressAnswerSerializer,
    SubmitAnswerSerializer,
    VerifyAnswerSerializer,
    WorkAnswerSerializer,
    errors,
)
from executors.authentication import Principal, principal_of
from executors.permissions import (
    CanSubmit,
    CanVerify,
    CanWork,
    IsAdmin,
    IsAuthenticatedPrincipal,
)
from executors.services import acting_executor_id, executor_id_for
from intents import selectors, services
from intents.models import EnvironmentPreference, Intent, Phase, Status
from intents.serializers import EventSerializer, IntentFullSerializer, IntentSerializer


def _principal(request: Request) -> Principal:
    principal = principal_of(request)
    assert principal is not None  # the permission classes ran
    return principal


def _valid(serializer_class: type[serializers.Serializer[Any]], data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise serializers.ValidationError({"non_field_errors": ["the body must be a JSON object"]})
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    valid = dict(serializer.validated_data)
    # A serializer and its bound fields point at each other: let them go now, not at the
    # next garbage collection (the fields are made again if asked for).
    serializer.__dict__.pop("fields", None)
    return valid


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


class IntentSubmitApi(APIView):
    """POST /assembly-line/intent: submit a build intent to the unified queue."""

    permission_classes = [CanSubmit]

    @extend_schema_serializer(component_name="SubmitIntent")
    class InputSerializer(serializers.Serializer[Any]):
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
            parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER,
                                         description="repeat-safe submit: the same key answers "
                                         "the first result (header Idempotent-Replayed: true)")],
            responses={201: SubmitAnswerSerializer, **errors(*AUTHED, 409, 413)},
            examples=[SUBMIT_EXAMPLE],
        )
    def post(self, request: Request) -> Response:
        data = _valid(self.InputSerializer, request.data)
        principal = _principal(request)
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
            actor=actor, key=key, request_hash=body_hash, submit=data, answer=self.answer,
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


class WorkNextApi(APIView):
    """GET /assembly-line/work/next?executor_id=: claim the next work item."""

    permission_classes = [CanWork]

    @extend_schema_serializer(component_name="ClaimWork")
    class InputSerializer(serializers.Serializer[Any]):
        executor_id = serializers.CharField(max_length=100)
        # Long poll (intents/longpoll.py): hold up to this many seconds for work.
        wait = FiniteFloatField(min_value=0, max_value=settings.LONG_POLL_MAX_SECONDS,
                                      required=False, default=0)

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
        data = _valid(self.InputSerializer, request.query_params.dict())
        principal = _principal(request)
        executor_id = executor_id_for(principal=principal, executor_id=data["executor_id"])
        claim = services.work_claim(executor_id=executor_id, actor=principal.identity,
                                    look_first=data["wait"] > 0)
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
    class InputSerializer(serializers.Serializer[Any]):
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
        data = _valid(self.InputSerializer, request.data)
        principal = _principal(request)
        executor_id = acting_executor_id(principal=principal, executor_id=data.pop("executor_id"))
        intent = services.work_progress(executor_id=executor_id, actor=principal.identity,
                                        **data)
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
    class InputSerializer(serializers.Serializer[Any]):
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
        data = _valid(self.InputSerializer, request.data)
        principal = _principal(request)
        executor_id = acting_executor_id(principal=principal, executor_id=data.pop("executor_id"))
        done = services.work_complete(executor_id=executor_id, actor=principal.identity,
                                      **data)
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
            parameters=[FilterSerializer,
                        OpenApiParameter("limit", int, description="page size (≤ 500)"),
                        OpenApiParameter("offset", int)],
            responses={200: IntentPageSerializer, **errors(*AUTHED)},
        )
    def get(self, request: Request) -> Response:
        query = {
            k: v for k, v in request.query_params.dict().items() if k not in ("limit", "offset")
        }
        filters = _valid(self.FilterSerializer, query)
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
        data["events"] = EventSerializer(intent.events.order_by("created_at", "id"), many=True).data
        return Response(data)


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
        data = _valid(ReasonSerializer, request.data or {})
        principal = _principal(request)
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
        data = _valid(ReasonSerializer, request.data or {})
        principal = _principal(request)
        intent = services.intent_approve(
            intent_id=intent_id, reviewer=principal.identity, reviewer_label=principal.name,
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
        data = _valid(RequiredReasonSerializer, request.data or {})
        principal = _principal(request)
        intent = services.intent_reject(
            intent_id=intent_id, reviewer=principal.identity, reviewer_label=principal.name,
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
        data = _valid(ReasonSerializer, request.data or {})
        intent = services.intent_requeue(
            intent_id=intent_id, actor=_principal(request).identity, reason=data["reason"]
        )
        return Response(IntentSerializer(intent).data)


class VerifyApi(APIView):
    """POST /assembly-line/verify: run the verification levels 1..N on demand for a phase.
    Records a VerificationRun; never moves the intent. The intent's submitter, the executor
    holding it and admins only."""

    permission_classes = [CanVerify]

    @extend_schema_serializer(component_name="Verify")
    class InputSerializer(serializers.Serializer[Any]):
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
        data = _valid(self.InputSerializer, request.data)
        principal = _principal(request)
        result = services.intent_verify(
            intent_id=data["intent_id"],
            level=data["verification_level"],
            phase=data["phase"],
            artifacts=data["artifacts"],
            actor=principal.identity,
            is_admin=principal.is_admin,
            executor_id=principal.executor_id,
        )
        return Response({
            "passed": result.passed,
            "level": data["verification_level"],
            "checks": result.outcome.checks,
            "can_advance": result.can_advance,
            "verified_level": result.verified_level,
            "verification_id": result.run.pk,
        })


class WorkReleaseApi(APIView):
    """POST /assembly-line/work/release: the holder hands its work back unfinished (its session
    ends); the intent is re-queued at once with `why: released` instead of waiting out its
    lease."""

    permission_classes = [CanWork]

    @extend_schema_serializer(component_name="ReleaseWork")
    class InputSerializer(serializers.Serializer[Any]):
        intent_id = serializers.CharField(max_length=40)
        executor_id = serializers.CharField(max_length=100)
        phase = serializers.ChoiceField(choices=Phase.choices, required=False)
        reason = serializers.CharField(max_length=500, required=False, allow_blank=True,
                                       default="")

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
        data = _valid(self.InputSerializer, request.data)
        principal = _principal(request)
        executor_id = acting_executor_id(principal=principal, executor_id=data.pop("executor_id"))
        intent = services.work_release(executor_id=executor_id, actor=principal.name, **data)
        return Response(self.OutputSerializer({
            "released": True,
            "intent_id": intent.id,
            "status": intent.status,
            "current_phase": intent.current_phase,
            "attempts": intent.attempts,
        }).data)

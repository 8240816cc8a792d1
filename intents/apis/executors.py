"""Executor registration and heartbeats (above intents: the answers show held work, and a
heartbeat extends its leases)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import FlatInputSerializer, validate_input
from core.openapi import AUTHED, errors
from executors.authentication import acting_principal
from executors.models import Availability, ExecutorEnvironment, ExecutorType
from executors.permissions import CanWork
from executors.selectors import executor_data
from executors.serializers import ExecutorStatusSerializer, RegisteredExecutorSerializer
from executors.services import executor_for
from intents.selectors import held_by
from intents.services import executor_heartbeat, executor_join


class ExecutorRegisterApi(APIView):
    """POST /assembly-line/executors/register: an executor says who it is and what it can do.
    An admin token registers any executor and receives its executor token (once)."""

    permission_classes = [CanWork]

    @extend_schema_serializer(component_name="RegisterExecutor")
    class InputSerializer(FlatInputSerializer):
        executor_id = serializers.RegexField(r"^[A-Za-z0-9_.:@-]{1,100}$", max_length=100)
        executor_type = serializers.ChoiceField(choices=ExecutorType.choices, required=False)
        environment = serializers.ChoiceField(choices=ExecutorEnvironment.choices, required=False)
        capabilities = serializers.ListField(
            child=serializers.CharField(max_length=50), max_length=50, required=False
        )
        availability = serializers.ChoiceField(choices=Availability.choices, required=False)
        max_concurrent = serializers.IntegerField(min_value=1, max_value=50, required=False)

    @extend_schema(
        summary="Register an executor (or update its details)",
        operation_id="register_executor",
        tags=["executors"],
        request=InputSerializer,
        responses={
            200: RegisteredExecutorSerializer,
            201: RegisteredExecutorSerializer,
            **errors(*AUTHED),
        },
    )
    def post(self, request: Request) -> Response:
        data = validate_input(self.InputSerializer, request.data)
        principal = acting_principal(request)
        executor_id = data.pop("executor_id")
        if "capabilities" in data:
            data["capabilities"] = sorted(set(data["capabilities"]))
        executor, created, token = executor_join(
            principal=principal, executor_id=executor_id, fields=data
        )
        body = executor_data(executor, held=held_by(executor_id), now=timezone.now())
        if token is not None:
            body["token"] = token
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ExecutorHeartbeatApi(APIView):
    """POST /assembly-line/executors/heartbeat: alive; extends the leases of held work."""

    permission_classes = [CanWork]

    @extend_schema_serializer(component_name="Heartbeat")
    class InputSerializer(FlatInputSerializer):
        executor_id = serializers.CharField(max_length=100)

    @extend_schema(
        summary="Heartbeat: alive; extends the leases of held work",
        operation_id="heartbeat",
        tags=["executors"],
        request=InputSerializer,
        responses={200: ExecutorStatusSerializer, **errors(*AUTHED, 404)},
    )
    def post(self, request: Request) -> Response:
        data = validate_input(self.InputSerializer, request.data)
        principal = acting_principal(request)
        executor = executor_for(principal=principal, executor_id=data["executor_id"])
        executor = executor_heartbeat(executor=executor, actor=principal.identity)
        return Response(executor_data(executor, held=held_by(executor.pk), now=timezone.now()))

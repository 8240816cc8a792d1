"""Answer shapes of the executor endpoints (OpenAPI); the views build plain dicts."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class ExecutorStatusSerializer(serializers.Serializer[Any]):
    executor_id = serializers.CharField()
    executor_type = serializers.CharField()
    environment = serializers.CharField()
    status = serializers.ChoiceField(choices=["offline", "idle", "busy"])
    current_work = serializers.CharField(allow_null=True)
    capabilities = serializers.ListField(child=serializers.CharField())
    availability = serializers.CharField()
    builds_completed = serializers.IntegerField()
    avg_build_time = serializers.FloatField()
    success_rate = serializers.FloatField()
    last_heartbeat = serializers.DateTimeField(allow_null=True)
    is_healthy = serializers.BooleanField()
    max_concurrent = serializers.IntegerField()
    current_work_all = serializers.ListField(child=serializers.CharField())


class RegisteredExecutorSerializer(ExecutorStatusSerializer):
    token = serializers.CharField(
        required=False,
        help_text="only when an admin registers a new executor: its token, shown once",
    )

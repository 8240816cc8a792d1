"""Output shapes shared by several endpoints. Inputs are nested in their views."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from core.api import FieldsBuiltOnce
from executors.serializers import ExecutorStatusSerializer
from intents.models import Intent, IntentEvent
from intents.selectors.events import event_data

# The spec's BuildIntent fields, in its order, then what this service adds.
BUILD_INTENT_FIELDS = [
    "id",
    "title",
    "spec_path",
    "priority",
    "created_by",
    "created_at",
    "assigned_to",
    "assigned_at",
    "environment_preference",
    "requires_human_review",
    "status",
    "current_phase",
    "phase_progress",
    "build_output",
    "test_results",
    "deployment_url",
    "verification_level",
    "quality_score",
]
EXTRA_FIELDS = [
    "required_capabilities",
    "progress",
    "progress_message",
    "attempts",
    "max_attempts",
    "queued_at",
    "not_before",
    "lease_expires_at",
    "previous_executor",
    "built_by",
    "avoid_executor",
    "spilled",
    "last_progress_at",
    "stalled_at",
    "review_requested_at",
    "review_overdue_at",
    "reviewed_by",
    "reviewed_at",
    # Who, as a name to show; created_by and reviewed_by are identities (`token:<id>`, ...).
    "created_by_label",
    "reviewed_by_label",
    "finished_at",
    "updated_at",
]


class IntentSerializer(FieldsBuiltOnce, serializers.ModelSerializer[Intent]):
    """An intent as lists show it (no spec text, no artifacts). Its fields are read-only:
    built once (FieldsBuiltOnce), a third of a claim's CPU when built per answer."""

    assigned_to = serializers.CharField(source="assigned_to_id", allow_null=True)
    previous_executor = serializers.CharField(source="previous_executor_id", allow_null=True)
    built_by = serializers.CharField(source="built_by_id", allow_null=True)
    avoid_executor = serializers.CharField(source="avoid_executor_id", allow_null=True)
    progress = serializers.FloatField()
    phase_progress = serializers.DictField(child=serializers.FloatField())
    test_results = serializers.JSONField(allow_null=True)

    class Meta:
        model = Intent
        fields = BUILD_INTENT_FIELDS + EXTRA_FIELDS
        read_only_fields = fields


class IntentFullSerializer(IntentSerializer):
    """An intent with everything an executor needs to work on it."""

    artifacts = serializers.JSONField()

    class Meta(IntentSerializer.Meta):
        fields = [*IntentSerializer.Meta.fields, "spec_text", "artifacts"]
        read_only_fields = fields


class EventSerializer(serializers.Serializer[IntentEvent]):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    intent_id = serializers.CharField(allow_null=True)
    intent_title = serializers.CharField(allow_null=True)
    executor_id = serializers.CharField(allow_null=True)
    actor = serializers.CharField()
    from_status = serializers.CharField(allow_null=True)
    to_status = serializers.CharField(allow_null=True)
    from_phase = serializers.CharField(allow_null=True)
    to_phase = serializers.CharField(allow_null=True)
    payload = serializers.JSONField()
    timestamp = serializers.DateTimeField()

    def to_representation(self, instance: IntentEvent) -> dict[str, object]:
        return event_data(instance)


# --- answer shapes of the endpoints whose views build plain dicts (OpenAPI) ----------------
class SubmitAnswerSerializer(serializers.Serializer[Any]):
    intent_id = serializers.CharField()
    status = serializers.CharField()
    estimated_start = serializers.DateTimeField()
    current_phase = serializers.CharField()


class HandoffSerializer(serializers.Serializer[Any]):
    phase = serializers.CharField()
    attempt = serializers.IntegerField()
    resumed = serializers.BooleanField()
    returned = serializers.DictField(
        allow_null=True, help_text="why it came back: why, reason, failed_by, by, at"
    )
    previous_executor = serializers.CharField(allow_null=True)
    built_by = serializers.CharField(allow_null=True)
    artifacts = serializers.DictField()
    recent_progress = serializers.ListField(child=serializers.DictField())


class WorkAnswerSerializer(serializers.Serializer[Any]):
    assigned = serializers.BooleanField()
    intent = IntentFullSerializer(required=False)
    handoff = HandoffSerializer(required=False)
    reason = serializers.CharField(required=False, help_text="when nothing was assigned: why")


class ProgressAnswerSerializer(serializers.Serializer[Any]):
    updated = serializers.BooleanField()
    current_state = serializers.CharField()
    phase = serializers.CharField()
    lease_expires_at = serializers.DateTimeField(allow_null=True)


class CheckSerializer(serializers.Serializer[Any]):
    passed = serializers.BooleanField()
    detail = serializers.CharField()
    level = serializers.JSONField(help_text='"spec" or 1..6')
    blocking = serializers.BooleanField()


class GateSerializer(serializers.Serializer[Any]):
    passed = serializers.BooleanField()
    level = serializers.IntegerField()
    checks = serializers.DictField(child=CheckSerializer())


class CompleteAnswerSerializer(serializers.Serializer[Any]):
    completed = serializers.BooleanField()
    auto_advanced = serializers.BooleanField()
    next_phase = serializers.CharField()
    status = serializers.CharField()
    current_phase = serializers.CharField()
    attempts = serializers.IntegerField()
    gate = GateSerializer(allow_null=True)


class VerifyAnswerSerializer(serializers.Serializer[Any]):
    passed = serializers.BooleanField()
    level = serializers.IntegerField()
    checks = serializers.DictField(child=CheckSerializer())
    can_advance = serializers.BooleanField()
    verified_level = serializers.IntegerField()
    verification_id = serializers.IntegerField()


class LineStateSerializer(serializers.Serializer[Any]):
    queue_depth = serializers.IntegerField()
    in_progress = serializers.IntegerField()
    executors = serializers.DictField(child=ExecutorStatusSerializer())
    metrics = serializers.DictField(
        help_text="by_phase, by_status, success_rate, throughput_last_hour, queue_wait, ..."
    )
    last_sync = serializers.DateTimeField()
    queue_by_priority = serializers.DictField()
    work_in_progress = serializers.ListField(child=serializers.DictField())
    recent_events = serializers.ListField(child=serializers.DictField())
    waiting = serializers.ListField(
        child=serializers.DictField(), help_text="queued intents no executor may take now, why"
    )
    stalled = serializers.ListField(child=serializers.DictField())
    review_inbox = serializers.ListField(child=serializers.DictField())


class IntentPageSerializer(serializers.Serializer[Any]):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = IntentSerializer(many=True)


class IntentDetailSerializer(IntentFullSerializer):
    events = EventSerializer(many=True)

    class Meta(IntentFullSerializer.Meta):
        fields = [*IntentFullSerializer.Meta.fields, "events"]
        read_only_fields = fields


SUBMIT_EXAMPLE = OpenApiExample(
    "submit",
    request_only=True,
    value={
        "title": "billing-service",
        "spec_path": "billing-service.md",
        "priority": 7,
        "environment_preference": "either",
        "requires_human_review": True,
    },
)
COMPLETE_EXAMPLE = OpenApiExample(
    "hand in the test phase",
    request_only=True,
    value={
        "intent_id": "int_3f2c...",
        "executor_id": "laptop-1",
        "status": "completed",
        "artifacts": {
            "test_results": {"passed": 42, "failed": 0, "skipped": 1, "coverage": 91.5},
            "quality": {"lint_errors": 0, "type_errors": 0, "warnings": []},
            "security": {"high": 0, "medium": 1, "low": 3, "secrets": 0},
        },
    },
)

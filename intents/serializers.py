"""Output shapes shared by several endpoints. Inputs are nested in their views."""

from __future__ import annotations

import copy
from typing import Any

from rest_framework import serializers

from intents.events import event_data
from intents.models import Intent, IntentEvent

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


class IntentSerializer(serializers.ModelSerializer[Intent]):
    """An intent as lists show it (no spec text, no artifacts)."""

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

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        """ModelSerializer builds every field from the model again for each instance (about
        40 here, a third of a claim's CPU in the benchmark's profile): build them once per
        class, and give each instance copies, as DRF does with declared fields."""
        built = type(self).__dict__.get("_built_fields")
        if built is None:
            built = super().get_fields()
            type(self)._built_fields = built
        return copy.deepcopy(built)


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

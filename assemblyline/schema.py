"""OpenAPI (drf-spectacular): the bearer scheme, the one error shape, and the answer shapes
of the endpoints whose views build plain dicts. `/api/schema/` and `/api/docs/` serve it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers

from intents.serializers import EventSerializer, IntentFullSerializer, IntentSerializer


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "executors.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer",
                "description": "An API token: `Authorization: Bearer <token>` "
                               "(`manage.py createtoken`)."}


class ErrorDetailSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(help_text="machine-readable, e.g. invalid, not_found, "
                                           "transition_not_allowed")
    message = serializers.CharField()
    status = serializers.IntegerField()
    # DRF's serializer metaclass moves declared fields off the class, so this name does not
    # clash with the base class's attribute of the same name, as the stubs think.
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="validation problems by field")
    current = serializers.DictField(required=False,
                                    help_text="on 409: the intent's state now")


class ErrorSerializer(serializers.Serializer[Any]):
    error = ErrorDetailSerializer()


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The documented error answers of an endpoint, all in the one error shape."""
    meaning = {
        400: "invalid input (fields says which)",
        401: "no or unknown token",
        403: "the role or executor may not do this",
        404: "no such intent or executor",
        409: "not allowed in the intent's current state (current says what it is)",
        413: "request body too large",
        429: "too many requests (Retry-After says in how many seconds to retry)",
        503: "the database is unavailable",
    }
    if 401 in codes and 429 not in codes:  # where a token is checked, so is the bad-token limit
        meaning[429] = "too many bad tokens from this address; Retry-After says when to retry"
        codes = (*codes, 429)
    return {code: OpenApiResponse(ErrorSerializer, description=meaning[code]) for code in codes}


AUTHED = (400, 401, 403)


# --- answers -----------------------------------------------------------------------------
class SubmitAnswerSerializer(serializers.Serializer[Any]):
    intent_id = serializers.CharField()
    status = serializers.CharField()
    estimated_start = serializers.DateTimeField()
    current_phase = serializers.CharField()


class HandoffSerializer(serializers.Serializer[Any]):
    phase = serializers.CharField()
    attempt = serializers.IntegerField()
    resumed = serializers.BooleanField()
    returned = serializers.DictField(allow_null=True, help_text="why it came back: why, "
                                     "reason, failed_by, by, at")
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
    token = serializers.CharField(required=False, help_text="only when an admin registers a "
                                  "new executor: its token, shown once")


class LineStateSerializer(serializers.Serializer[Any]):
    queue_depth = serializers.IntegerField()
    in_progress = serializers.IntegerField()
    executors = serializers.DictField(child=ExecutorStatusSerializer())
    metrics = serializers.DictField(help_text="by_phase, by_status, success_rate, "
                                    "throughput_last_hour, queue_wait, ...")
    last_sync = serializers.DateTimeField()
    queue_by_priority = serializers.DictField()
    work_in_progress = serializers.ListField(child=serializers.DictField())
    recent_events = serializers.ListField(child=serializers.DictField())
    waiting = serializers.ListField(child=serializers.DictField(),
                                    help_text="queued intents no executor may take now, why")
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


class HealthSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=["ok", "degraded", "unavailable"])
    service = serializers.CharField()
    version = serializers.CharField()
    timestamp = serializers.DateTimeField()
    checks = serializers.DictField()
    degraded = serializers.ListField(child=serializers.CharField())


SUBMIT_EXAMPLE = OpenApiExample(
    "submit",
    request_only=True,
    value={"title": "billing-service", "spec_path": "billing-service.md", "priority": 7,
           "environment_preference": "either", "requires_human_review": True},
)
COMPLETE_EXAMPLE = OpenApiExample(
    "hand in the test phase",
    request_only=True,
    value={"intent_id": "int_3f2c...", "executor_id": "laptop-1", "status": "completed",
           "artifacts": {"test_results": {"passed": 42, "failed": 0, "skipped": 1,
                                          "coverage": 91.5},
                         "quality": {"lint_errors": 0, "type_errors": 0, "warnings": []},
                         "security": {"high": 0, "medium": 1, "low": 3, "secrets": 0}}},
)


def nullable_answer_fields_optional(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Answer fields that may be null are listed as not required (they are always sent).
    OpenAPI 3.0 generators read `nullable` on a required field differently: with default
    options datamodel-code-generator types it as never null and then rejects a real answer
    (`current_work: null` in /state); optional-and-nullable every generator reads as
    "may be null". Request bodies keep their required fields."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") or "required" not in component:
            continue
        nullable = {field for field, prop in component.get("properties", {}).items()
                    if prop.get("nullable")}
        required = [field for field in component["required"] if field not in nullable]
        if required:
            component["required"] = required
        else:
            del component["required"]
    return result

"""Intents in Django admin: read-only records (every change goes through the services),
with their events inline and actions that call the same service functions as the API."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django_fsm.admin import FSMAdminMixin

from assemblyline.errors import LineError
from executors.authentication import principal_identity
from intents import services
from intents.models import Intent, IntentEvent, ReviewRequest, Status
from verification.checks.spec import read_spec
from verification.models import VerificationRun


class ApproveForm(forms.Form):
    reason = forms.CharField(
        label="Note", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        label="Reason", required=True, max_length=2000, widget=forms.Textarea(attrs={"rows": 4}),
        help_text="The executor that takes the intent again sees this reason.",
    )


def _pre(value: Any) -> SafeString:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, default=str)
    return format_html('<pre style="white-space: pre-wrap; max-height: 30em; overflow: auto">'
                       "{}</pre>", text)


class IntentEventInline(admin.TabularInline):
    model = IntentEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "actor", "executor_id", "from_status", "to_status",
              "from_phase", "to_phase", "payload"]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Intent)
class IntentAdmin(FSMAdminMixin, admin.ModelAdmin):
    """Read-only records; the only changes are the review buttons (django-fsm-2's transition
    buttons with a reason form) and the cancel action, all through intents.services."""

    list_display = ["id", "title", "current_phase", "status", "priority", "assigned_to",
                    "attempts", "verification_level", "created_by_label", "created_at"]
    list_filter = ["status", "current_phase", "environment_preference", "requires_human_review"]
    search_fields = ["id", "title", "created_by", "created_by_label"]
    ordering = ["-created_at"]
    inlines = [IntentEventInline]
    actions = ["cancel_intents"]
    list_select_related = ["assigned_to"]
    fsm_fields = ["status"]
    # Only transitions marked custom={"admin": True} (approve, reject) get a button.
    fsm_default_disallow_transition = False
    review_fields = ["spec", "test_results_report", "last_checks", "artifacts_report"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Intent._meta.fields] + self.review_fields

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = [f.name for f in Intent._meta.fields if f.name not in ("artifacts",
                                                                          "spec_text")]
        return [
            ("For the reviewer", {"fields": self.review_fields}),
            ("Intent", {"fields": fields, "classes": ["collapse"]}),
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # intents come in through the API, where the submit rules run

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the line never loses an intent

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # Read-only: no Save buttons; the review buttons are the only actions on the page.
        context = {**(extra_context or {}), "show_save": False,
                   "show_save_and_continue": False, "show_save_and_add_another": False}
        return super().change_view(request, object_id, form_url, extra_context=context)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Every change goes through the services; saving the loaded row could overwrite what
        # an executor changed meanwhile.
        pass

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass

    # --- what the reviewer reads --------------------------------------------------------
    @admin.display(description="Spec")
    def spec(self, obj: Intent) -> SafeString:
        text, source = read_spec(obj, obj.artifacts or {})
        return format_html("<p>{}</p>{}", source, _pre(text or ""))

    @admin.display(description="Test results")
    def test_results_report(self, obj: Intent) -> SafeString:
        artifacts = obj.artifacts or {}
        reports = {key: artifacts[key] for key in ("test_results", "quality", "security")
                   if key in artifacts}
        return _pre(reports) if reports else format_html("<p>{}</p>", "none reported yet")

    @admin.display(description="Last verification checks")
    def last_checks(self, obj: Intent) -> SafeString:
        run = VerificationRun.objects.filter(intent=obj).first()
        if run is None:
            return format_html("<p>{}</p>", "no verification run yet")
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((name, check.get("level"), "pass" if check.get("passed") else "FAIL",
              check.get("detail", "")) for name, check in run.checks.items()),
        )
        return format_html(
            "<p>{} gate, level {}: {} ({})</p><table><tr><th>check</th><th>level</th>"
            "<th>result</th><th>detail</th></tr>{}</table>",
            run.phase, run.level, "passed" if run.passed else "failed",
            timezone.localtime(run.created_at).strftime("%Y-%m-%d %H:%M:%S"), rows,
        )

    @admin.display(description="Artifacts")
    def artifacts_report(self, obj: Intent) -> SafeString:
        return _pre(obj.artifacts or {})

    # --- review: the mixin's buttons and forms, carried out by the services -------------
    def _apply_fsm_transition(
        self,
        *,
        obj: Any,
        transition_name: str,
        request: HttpRequest,
        kwargs: Mapping[str, Any] | None = None,
    ) -> bool:
        reason = str((kwargs or {}).get("reason", ""))
        reviewer, label = principal_identity(request.user), request.user.get_username()
        if not self.has_change_permission(request, obj):
            self.message_user(request, "you may not review intents", messages.ERROR)
            return False
        try:
            if transition_name == "approve":
                services.intent_approve(intent_id=obj.pk, reviewer=reviewer, note=reason,
                                        reviewer_label=label)
            elif transition_name == "reject":
                services.intent_reject(intent_id=obj.pk, reviewer=reviewer, reason=reason,
                                       reviewer_label=label)
            else:
                self.message_user(request, f"{transition_name} is not done in admin",
                                  messages.ERROR)
                return False
        except LineError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return False
        verb = "approved" if transition_name == "approve" else "rejected"
        self.message_user(request, f"Intent {obj.pk} {verb}", messages.SUCCESS)
        return True

    @admin.action(description="Cancel the selected intents")
    def cancel_intents(self, request: HttpRequest, queryset: QuerySet[Intent]) -> None:
        done = 0
        for intent_id in queryset.values_list("id", flat=True):
            try:
                services.intent_cancel(
                    intent_id=intent_id,
                    actor=principal_identity(request.user),
                    is_admin=True,
                    reason="cancelled in admin",
                )
                done += 1
            except LineError as exc:
                self.message_user(request, exc.message, messages.WARNING)
        self.message_user(request, f"{done} intent(s) cancelled")


@admin.register(ReviewRequest)
class ReviewQueueAdmin(IntentAdmin):
    """The review queue: intents awaiting a human, longest waiting first."""

    list_display = ["id", "title", "current_phase", "priority", "created_by_label",
                    "verification_level", "quality_score", "waiting", "review_overdue_at"]
    list_filter = ["current_phase", "environment_preference"]
    ordering = ["review_requested_at"]
    actions: list[str] = []

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).filter(status=Status.AWAITING_REVIEW)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # The review happens on the intent's own page, which stays valid after the decision.
        return redirect("admin:intents_intent_change", object_id)

    @admin.display(description="waiting", ordering="review_requested_at")
    def waiting(self, obj: Intent) -> str:
        if obj.review_requested_at is None:
            return "-"
        minutes = int((timezone.now() - obj.review_requested_at).total_seconds() // 60)
        return f"{minutes // 60} h {minutes % 60} min"


@admin.register(IntentEvent)
class IntentEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "intent", "executor_id", "actor", "from_status",
                    "to_status", "from_phase", "to_phase"]
    list_filter = ["kind"]
    search_fields = ["intent__id", "executor_id", "actor"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in IntentEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # append-only audit log

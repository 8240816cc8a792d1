"""Intents and their events in Django admin: read-only records (every change goes through the
services). An intent's page opens with what a reviewer needs and the Approve / Reject forms."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.urls import path, reverse
from django.utils import timezone

from core.errors import LineError
from executors.authentication import principal_identity
from intents import services
from intents.admin.decisions import (
    HISTORY_SHOWN,
    ApproveForm,
    RejectForm,
    decide,
    may_review,
    review_age,
)
from intents.models import Intent, IntentEvent, Status
from verification.checks.spec import read_spec
from verification.models import VerificationRun


@admin.register(Intent)
class IntentAdmin(admin.ModelAdmin[Intent]):
    """Read-only records. The page of an intent opens with the review: the facts, the latest
    checks, the artifacts and, while it awaits review, Approve / Reject (our own view, which
    calls intents.services); then the history, collapsed, and every field."""

    list_display = [
        "id",
        "title",
        "current_phase",
        "status",
        "priority",
        "assigned_to",
        "attempts",
        "verification_level",
        "created_by_label",
        "created_at",
    ]
    list_filter = ["status", "current_phase", "environment_preference", "requires_human_review"]
    search_fields = ["id", "title", "created_by", "created_by_label"]
    ordering = ["-created_at"]
    actions = ["cancel_intents"]
    list_select_related = ["assigned_to"]
    change_form_template = "admin/intents/intent/review.html"
    fieldsets = [
        ("All fields", {"fields": [f.name for f in Intent._meta.fields], "classes": ["collapse"]})
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Intent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # intents come in through the API, where the submit rules run

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the line never loses an intent

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # Every change goes through the services; saving the loaded row could overwrite what
        # an executor changed meanwhile.
        pass

    def get_urls(self) -> list[Any]:
        review = self.admin_site.admin_view(self.review_view)
        return [
            path("<path:object_id>/review/", review, name="intents_intent_review"),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "POST":
            # The page has nothing to save; decisions post to review_view.
            return HttpResponseRedirect(request.path)
        intent = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if intent is not None:
            context.update(self.review_context(request, intent))
        context.update(
            show_save=False, show_save_and_continue=False, show_save_and_add_another=False
        )
        return super().change_view(request, object_id, form_url, extra_context=context)

    def review_context(self, request: HttpRequest, intent: Intent) -> dict[str, Any]:
        now = timezone.now()
        run = VerificationRun.objects.filter(intent=intent).first()
        events = list(
            IntentEvent.objects.filter(intent=intent).order_by("-created_at", "-id")[:HISTORY_SHOWN]
        )
        spec_text, spec_source = read_spec(intent, intent.artifacts or {})
        artifacts = intent.artifacts or {}
        tests = intent.test_results or artifacts.get("test_results")
        awaiting = intent.status == Status.AWAITING_REVIEW
        return {
            "title": intent.title,
            "subtitle": intent.id,
            "intent": intent,
            "age": review_age(intent, now),
            "run": run,
            "checks": sorted(
                (run.checks if run else {}).items(),
                key=lambda item: (bool(item[1].get("passed")), item[0]),
            ),
            "tests": tests if isinstance(tests, dict) else None,
            "quality": artifacts.get("quality"),
            "security": artifacts.get("security"),
            "deployment_url": intent.deployment_url or artifacts.get("deployment_url"),
            "other_artifacts": sorted(
                set(artifacts) - {"test_results", "quality", "security", "deployment_url"}
            ),
            "spec_text": spec_text or "",
            "spec_source": spec_source,
            "events": events,
            "events_more": len(events) == HISTORY_SHOWN,
            "can_decide": awaiting and may_review(request),
            "approve_form": ApproveForm(),
            "reject_form": RejectForm(),
            "review_url": reverse("admin:intents_intent_review", args=[quote(intent.pk)]),
        }

    def review_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST Approve (an optional note) or Reject (a reason) from the intent's page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        intent = self.get_object(request, unquote(object_id))
        if intent is None:
            raise Http404(f"no intent {unquote(object_id)}")
        page = reverse("admin:intents_intent_change", args=[quote(intent.pk)])
        if not may_review(request):
            messages.error(
                request, "You may not review intents (it needs the permission to change intents)."
            )
            return HttpResponseRedirect(page)
        decision = request.POST.get("decision")
        if decision not in ("approve", "reject"):
            messages.error(request, "Choose Approve or Reject.")
            return HttpResponseRedirect(page)
        form: ApproveForm | RejectForm
        form = ApproveForm(request.POST) if decision == "approve" else RejectForm(request.POST)
        if not form.is_valid():
            errors = [str(error) for field in form.errors.values() for error in field]
            messages.error(request, f"Not {decision}d: {' '.join(errors)}")
            return HttpResponseRedirect(page)
        text = form.cleaned_data["note" if decision == "approve" else "reason"]
        if decide(request, intent.pk, decision, text):
            verb = "approved" if decision == "approve" else "rejected"
            messages.success(request, f"“{intent.title}” ({intent.pk}) {verb}.")
        return HttpResponseRedirect(page)

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


@admin.register(IntentEvent)
class IntentEventAdmin(admin.ModelAdmin[IntentEvent]):
    list_display = [
        "created_at",
        "kind",
        "intent",
        "executor_id",
        "actor",
        "from_status",
        "to_status",
        "from_phase",
        "to_phase",
    ]
    list_filter = ["kind"]
    search_fields = ["intent__id", "executor_id", "actor"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in IntentEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # append-only audit log

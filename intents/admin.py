"""Intents in Django admin: read-only records (every change goes through the services). An
intent's page opens with what a reviewer needs and the Approve / Reject forms; the review
queue lists the intents awaiting a human, with approve and reject as admin actions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import quote, unquote
from django.db.models import JSONField, OuterRef, QuerySet, Subquery
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from assemblyline.errors import LineError
from executors.authentication import principal_identity
from intents import services
from intents.models import Intent, IntentEvent, ReviewRequest, Status
from verification.checks.spec import read_spec
from verification.models import VerificationRun

# The review page shows this many of an intent's latest events; the rest are a link away.
HISTORY_SHOWN = 200


def _reviewer(request: HttpRequest) -> tuple[str, str]:
    """Who the services record as the reviewer (its identity, compared with the submitter's)
    and the name shown for it."""
    return principal_identity(request.user), request.user.get_username()


def _may_review(request: HttpRequest) -> bool:
    return request.user.has_perm("intents.change_intent")


class ApproveForm(forms.Form):
    note = forms.CharField(
        label="Note", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


NEEDS_A_REASON = "A rejection needs a reason: say what has to change."


class RejectForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The executor that takes the intent again reads this reason.",
        error_messages={"required": NEEDS_A_REASON},
    )


@dataclass
class ReviewAge:
    waited: timedelta
    sla: timedelta

    @property
    def overdue(self) -> bool:
        return self.waited > self.sla

    def __str__(self) -> str:
        if self.overdue:
            return f"{_span(self.waited)}, overdue by {_span(self.waited - self.sla)}"
        return f"{_span(self.waited)} of {_span(self.sla)}"


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _review_age(intent: Intent, now: datetime) -> ReviewAge | None:
    if intent.status != Status.AWAITING_REVIEW or intent.review_requested_at is None:
        return None
    return ReviewAge(
        now - intent.review_requested_at, timedelta(seconds=settings.REVIEW_SLA_SECONDS)
    )


def _decide(request: HttpRequest, intent_id: str, decision: str, text: str) -> bool:
    """Carry out one decision through the services; the rules' refusals become messages."""
    try:
        reviewer, label = _reviewer(request)
        if decision == "approve":
            services.intent_approve(
                intent_id=intent_id, reviewer=reviewer, note=text, reviewer_label=label
            )
        else:
            services.intent_reject(
                intent_id=intent_id, reviewer=reviewer, reason=text, reviewer_label=label
            )
    except LineError as exc:
        messages.error(request, exc.message)
        return False
    return True


@admin.register(Intent)
class IntentAdmin(admin.ModelAdmin):
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
            "age": _review_age(intent, now),
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
            "can_decide": awaiting and _may_review(request),
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
        if not _may_review(request):
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
        if _decide(request, intent.pk, decision, text):
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


class OverdueFilter(admin.SimpleListFilter):
    title = "review SLA"
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "overdue"), ("no", "within the SLA")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        due = timezone.now() - timedelta(seconds=settings.REVIEW_SLA_SECONDS)
        if self.value() == "yes":
            return queryset.filter(review_requested_at__lt=due)
        if self.value() == "no":
            return queryset.filter(review_requested_at__gte=due)
        return queryset


class RejectSelectedForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="One reason for every selected intent; the executors that take them again "
        "read it.",
        error_messages={"required": NEEDS_A_REASON},
    )


@admin.register(ReviewRequest)
class ReviewQueueAdmin(admin.ModelAdmin):
    """The review queue: intents awaiting a human, longest waiting first; each title opens the
    intent's page, where the review happens."""

    # Three columns, so the table fits beside admin's sidebar and the filters.
    list_display = ["intent_title", "sla_age", "latest_gate"]
    list_display_links = None
    list_filter = [OverdueFilter, "current_phase"]
    search_fields = ["id", "title", "created_by", "created_by_label"]
    ordering = ["review_requested_at"]
    actions = ["approve_selected", "reject_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        latest = VerificationRun.objects.filter(intent=OuterRef("pk")).order_by(
            "-created_at", "-id"
        )
        return (
            super()
            .get_queryset(request)
            .filter(status=Status.AWAITING_REVIEW)
            .annotate(
                gate_phase=Subquery(latest.values("phase")[:1]),
                gate_level=Subquery(latest.values("level")[:1]),
                gate_passed=Subquery(latest.values("passed")[:1]),
                gate_checks=Subquery(latest.values("checks")[:1], output_field=JSONField()),
            )
        )

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The queue is a view of intents: it follows the intent permissions.
        return request.user.has_perm("intents.view_intent") or _may_review(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_review_permission(self, request: HttpRequest) -> bool:
        return _may_review(request)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # The review happens on the intent's own page, which stays valid after the decision.
        return HttpResponseRedirect(reverse("admin:intents_intent_change", args=[object_id]))

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {
            "title": "Review queue: intents awaiting a human, longest waiting first",
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    @admin.display(description="intent", ordering="title")
    def intent_title(self, obj: Intent) -> str:
        url = reverse("admin:intents_intent_change", args=[quote(obj.pk)])
        return format_html(
            '<a href="{}" title="{}">{}</a><br><small>after {} · by {} · priority {}</small>',
            url,
            obj.pk,
            obj.title,
            obj.current_phase,
            obj.created_by_label,
            obj.priority,
        )

    @admin.display(description="waiting (SLA)", ordering="review_requested_at")
    def sla_age(self, obj: Intent) -> str:
        age = _review_age(obj, timezone.now())
        if age is None:
            return "-"
        if age.overdue:
            return format_html('<strong class="overdue">{}</strong>', str(age))
        return str(age)

    @admin.display(description="latest gate")
    def latest_gate(self, obj: Any) -> str:
        if obj.gate_passed is None:
            return "no gate yet"
        verdict = "passed" if obj.gate_passed else "failed"
        failed = [
            name for name, check in (obj.gate_checks or {}).items() if not check.get("passed")
        ]
        text = f"{obj.gate_phase} L{obj.gate_level} {verdict}"
        return f"{text}: {', '.join(failed)} failed" if failed else text

    @admin.action(description="Approve the selected intents", permissions=["review"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Intent]) -> None:
        done = [
            pk
            for pk in queryset.values_list("id", flat=True)
            if _decide(request, pk, "approve", "approved in the review queue")
        ]
        if done:
            self.message_user(
                request, f"Approved {len(done)}: {', '.join(done)}.", messages.SUCCESS
            )

    @admin.action(
        description="Reject the selected intents (asks for a reason)", permissions=["review"]
    )
    def reject_selected(
        self, request: HttpRequest, queryset: QuerySet[Intent]
    ) -> HttpResponse | None:
        form = RejectSelectedForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            done = [
                pk
                for pk in queryset.values_list("id", flat=True)
                if _decide(request, pk, "reject", form.cleaned_data["reason"])
            ]
            if done:
                self.message_user(
                    request, f"Rejected {len(done)}: {', '.join(done)}.", messages.SUCCESS
                )
            return None
        return TemplateResponse(
            request,
            "admin/intents/reviewrequest/reject_selected.html",
            {
                **self.admin_site.each_context(request),
                "title": "Reject the selected intents",
                "opts": self.opts,
                "intents": list(queryset),
                "form": form,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            },
        )


@admin.register(IntentEvent)
class IntentEventAdmin(admin.ModelAdmin):
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

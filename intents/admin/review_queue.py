"""The review queue in Django admin: the intents awaiting a human, with approve and reject as
admin actions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import quote
from django.db.models import JSONField, OuterRef, QuerySet, Subquery
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from intents.admin.decisions import (
    NEEDS_A_REASON,
    decide,
    may_review,
    review_age,
)
from intents.models import Intent, ReviewRequest, Status
from verification.models import VerificationRun


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
class ReviewQueueAdmin(admin.ModelAdmin[ReviewRequest]):
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
        return request.user.has_perm("intents.view_intent") or may_review(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_review_permission(self, request: HttpRequest) -> bool:
        return may_review(request)

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
        age = review_age(obj, timezone.now())
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
            if decide(request, pk, "approve", "approved in the review queue")
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
                if decide(request, pk, "reject", form.cleaned_data["reason"])
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

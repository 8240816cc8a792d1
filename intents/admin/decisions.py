"""What the review pages share: the forms, the review's age against its SLA, and a decision
carried out through the services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import (
    HttpRequest,
)

from core.errors import LineError
from executors.authentication import principal_identity
from intents import services
from intents.models import Intent, Status

# The review page shows this many of an intent's latest events; the rest are a link away.
HISTORY_SHOWN = 200


def reviewer_of(request: HttpRequest) -> tuple[str, str]:
    """Who the services record as the reviewer (its identity, compared with the submitter's)
    and the name shown for it."""
    return principal_identity(request.user), request.user.get_username()


def may_review(request: HttpRequest) -> bool:
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
            return f"{span(self.waited)}, overdue by {span(self.waited - self.sla)}"
        return f"{span(self.waited)} of {span(self.sla)}"


def span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def review_age(intent: Intent, now: datetime) -> ReviewAge | None:
    if intent.status != Status.AWAITING_REVIEW or intent.review_requested_at is None:
        return None
    return ReviewAge(
        now - intent.review_requested_at, timedelta(seconds=settings.REVIEW_SLA_SECONDS)
    )


def decide(request: HttpRequest, intent_id: str, decision: str, text: str) -> bool:
    """Carry out one decision through the services; the rules' refusals become messages."""
    try:
        reviewer, label = reviewer_of(request)
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

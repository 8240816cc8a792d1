"""Human review in the real Django admin (test client logged in as staff): the review queue,
the reviewer's page, approve and reject with a reason through django-fsm-2's transition
buttons, and the API's approve/reject refused to executor and submitter tokens."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from intents.models import Intent, IntentEvent
from tests.conftest import Actor, claim, complete, phase_artifacts, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db: Any) -> Client:
    user = get_user_model().objects.create_superuser("rita", "rita@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def to_review(submitter: Actor, executor: Actor) -> str:
    """An intent that passed its test gate and now waits for a human before production."""
    intent_id = submit(submitter, requires_human_review=True)["intent_id"]
    for phase in ("build", "test"):
        work = claim(executor)
        assert work["intent"]["id"] == intent_id
        assert complete(executor, intent_id, phase_artifacts(phase)).status_code == 200
    assert Intent.objects.get(pk=intent_id).status == "awaiting_review"
    return intent_id


def transition(staff: Client, intent_id: str, name: str, reason: str) -> Any:
    url = f"/admin/intents/intent/{intent_id}/transition/{name}/"
    form = staff.get(url)
    assert form.status_code == 200
    assert b'name="reason"' in form.content
    return staff.post(url, {"reason": reason})


def test_review_queue_and_the_reviewers_page(
    staff: Client, submitter: Actor, executor: Actor
) -> None:
    waiting = to_review(submitter, executor)
    other = submit(submitter)["intent_id"]  # queued, not waiting for review
    queue = staff.get("/admin/intents/reviewrequest/")
    assert queue.status_code == 200
    assert waiting.encode() in queue.content and other.encode() not in queue.content
    assert staff.get(f"/admin/intents/reviewrequest/{waiting}/change/").url == (
        f"/admin/intents/intent/{waiting}/change/")

    page = staff.get(f"/admin/intents/intent/{waiting}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Say hello." in html  # the spec
    assert "&quot;coverage&quot;: 91.5" in html  # the test results
    assert "test_coverage" in html and "42 passed, 0 failed" in html  # the last checks
    assert "&quot;commit&quot;: &quot;abc123&quot;" in html  # the artifacts so far
    assert 'name="_fsm_transition_to"' in html
    assert 'value="approve"' in html and 'value="reject"' in html
    assert 'name="_save"' not in html  # read-only: the review buttons are the only actions
    # An intent not awaiting review shows no review buttons.
    assert b'value="approve"' not in staff.get(f"/admin/intents/intent/{other}/change/").content


def test_approve_in_admin_advances_to_production(
    staff: Client, submitter: Actor, executor: Actor
) -> None:
    intent_id = to_review(submitter, executor)
    response = transition(staff, intent_id, "approve", "looks right")
    assert response.status_code == 302
    intent = Intent.objects.get(pk=intent_id)
    assert (intent.current_phase, intent.status) == ("production", "queued")
    rita = get_user_model().objects.get(username="rita")
    assert (intent.reviewed_by, intent.reviewed_by_label) == (f"user:{rita.pk}", "rita")
    approved = IntentEvent.objects.get(intent=intent, kind="approved")
    assert (approved.actor, approved.payload) == (f"user:{rita.pk}", {"note": "looks right"})


def test_reject_in_admin_needs_a_reason_and_returns_the_intent(
    staff: Client, submitter: Actor, executor: Actor
) -> None:
    intent_id = to_review(submitter, executor)
    empty = transition(staff, intent_id, "reject", "")
    assert empty.status_code == 200 and b"This field is required" in empty.content
    assert Intent.objects.get(pk=intent_id).status == "awaiting_review"

    response = transition(staff, intent_id, "reject", "the error messages leak paths")
    assert response.status_code == 302
    intent = Intent.objects.get(pk=intent_id)
    assert (intent.current_phase, intent.status, intent.attempts) == ("test", "queued", 1)
    rejected = IntentEvent.objects.get(intent=intent, kind="rejected")
    assert rejected.payload == {"reason": "the error messages leak paths"}
    requeued = IntentEvent.objects.filter(intent=intent, kind="requeued").latest("id")
    assert requeued.payload["reason"] == {"review": "the error messages leak paths"}
    # The next executor learns why in its handoff.
    work = claim(executor)
    assert "the error messages leak paths" in str(work["handoff"])


def test_a_reviewer_cannot_review_what_they_submitted(staff: Client, executor: Actor) -> None:
    # rita submits through the API with her admin session, then reviews in admin: the same
    # principal (a token that only shares her name is another one: tests/security).
    response = staff.post(
        "/assembly-line/intent",
        {"title": "mine", "spec_path": "demo.md", "requires_human_review": True},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    intent_id = response.json()["intent_id"]
    for phase in ("build", "test"):
        claim(executor)
        assert complete(executor, intent_id, phase_artifacts(phase)).status_code == 200
    response = transition(staff, intent_id, "approve", "mine")
    assert response.status_code == 200  # back on the form, with the rule's message
    assert b"submitted intent" in response.content
    assert b"cannot review it" in response.content
    assert Intent.objects.get(pk=intent_id).status == "awaiting_review"


def test_executor_and_submitter_tokens_cannot_approve_or_reject(
    submitter: Actor, executor: Actor, admin: Actor
) -> None:
    intent_id = to_review(submitter, executor)
    for actor in (executor, submitter):
        for action in ("approve", "reject"):
            response = actor.client.post(f"/assembly-line/intents/{intent_id}/{action}",
                                         {"reason": "x"}, format="json")
            assert response.status_code == 403, response.content
            assert response.json()["error"]["code"] == "permission_denied"
    assert Intent.objects.get(pk=intent_id).status == "awaiting_review"
    approved = admin.client.post(f"/assembly-line/intents/{intent_id}/approve",
                                 {"reason": "ok"}, format="json")
    assert approved.status_code == 200
    assert Intent.objects.get(pk=intent_id).current_phase == "production"

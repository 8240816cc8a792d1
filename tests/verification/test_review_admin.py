"""Human review in the real Django admin (test client logged in as staff): the review queue,
the reviewer's page (reached through admin's own links, which quote the id), approve and reject
with a reason through the page's forms and the queue's actions, and the API's approve/reject
refused to executor and submitter tokens. tests/verification/test_review_in_browser.py clicks
the same flows in a real browser."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

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


def page_url(intent_id: str) -> str:
    """The intent's page as admin links to it: the id quoted ("_" becomes "_5F")."""
    return f"/admin/intents/intent/{quote(intent_id)}/change/"


def transition(staff: Client, intent_id: str, name: str, reason: str) -> Any:
    """Press Approve or Reject on the intent's page, with the page's own form."""
    page = staff.get(page_url(intent_id))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="reason"' in html and 'name="note"' in html
    url = f"/admin/intents/intent/{quote(intent_id)}/review/"
    assert f'action="{url}"' in html
    field = "note" if name == "approve" else "reason"
    return staff.post(url, {"decision": name, field: reason}, follow=True)


def test_review_queue_and_the_reviewers_page(
    staff: Client, submitter: Actor, executor: Actor
) -> None:
    waiting = to_review(submitter, executor)
    other = submit(submitter)["intent_id"]  # queued, not waiting for review
    queue = staff.get("/admin/intents/reviewrequest/")
    assert queue.status_code == 200
    html = queue.content.decode()
    assert waiting in html and other not in html
    assert "1 intent awaiting review" in html  # not "1 review queue"
    assert f'href="{page_url(waiting)}"' in html  # the title opens the intent's page
    assert "test L5 passed" in html  # the latest gate
    assert "min of 4 h 00 min" in html  # the age against the SLA
    assert staff.get(f"/admin/intents/reviewrequest/{quote(waiting)}/change/").url == (
        page_url(waiting)
    )

    page = staff.get(page_url(waiting))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Say hello." in html  # the spec
    assert "42 passed, 0 failed, 1 skipped" in html and "91.5 %" in html  # the test results
    assert "high 0" in html and "medium 1" in html  # the security report
    assert 'href="http://127.0.0.1:9/"' in html  # the deployment URL, as a link
    assert 'data-check="test_coverage"' in html  # the last checks
    assert html.index('id="approve-form"') < html.index('id="history"')  # buttons first
    assert '<details id="history">' in html and 'data-kind="review_requested"' in html
    assert 'name="_save"' not in html  # read-only: the review forms are the only actions
    # An intent not awaiting review shows no review forms.
    assert b'id="approve-form"' not in staff.get(page_url(other)).content


def test_queue_shows_and_filters_overdue_reviews(
    staff: Client, submitter: Actor, executor: Actor
) -> None:
    late, fresh = to_review(submitter, executor), to_review(submitter, executor)
    Intent.objects.filter(pk=late).update(review_requested_at=timezone.now() - timedelta(hours=5))
    overdue = staff.get("/admin/intents/reviewrequest/?overdue=yes").content.decode()
    assert late in overdue and fresh not in overdue
    assert "5 h 00 min, overdue by 1 h 00 min" in overdue
    within = staff.get("/admin/intents/reviewrequest/?overdue=no").content.decode()
    assert fresh in within and late not in within
    everything = staff.get("/admin/intents/reviewrequest/").content.decode()
    assert everything.index(late) < everything.index(fresh)  # longest waiting first
    assert "(overdue)" in staff.get(page_url(late)).content.decode()


def test_approve_in_admin_advances_to_production(
    staff: Client, submitter: Actor, executor: Actor
) -> None:
    intent_id = to_review(submitter, executor)
    response = transition(staff, intent_id, "approve", "looks right")
    assert response.redirect_chain == [(page_url(intent_id), 302)]
    assert "approved" in response.content.decode()
    intent = Intent.objects.get(pk=intent_id)
    assert (intent.current_phase, intent.status) == ("production", "queued")
    rita = get_user_model().objects.get(username="rita")
    assert (intent.reviewed_by, intent.reviewed_by_label) == (f"user:{rita.pk}", "rita")
    approved = IntentEvent.objects.get(intent=intent, kind="approved")
    assert (approved.actor, approved.payload) == (f"user:{rita.pk}", {"note": "looks right"})
    # Deciding twice is refused with a message, not a 500.
    again = transition_post(staff, intent_id, "approve")
    assert again.status_code == 200 and "not awaiting review" in again.content.decode()


def transition_post(staff: Client, intent_id: str, name: str, **data: str) -> Any:
    return staff.post(
        f"/admin/intents/intent/{quote(intent_id)}/review/", {"decision": name, **data}, follow=True
    )


def test_reject_in_admin_needs_a_reason_and_returns_the_intent(
    staff: Client, submitter: Actor, executor: Actor
) -> None:
    intent_id = to_review(submitter, executor)
    for blank in ("", "   \n "):
        empty = transition(staff, intent_id, "reject", blank)
        assert empty.status_code == 200 and b"A rejection needs a reason" in empty.content
    assert Intent.objects.get(pk=intent_id).status == "awaiting_review"

    response = transition(staff, intent_id, "reject", "the error messages leak paths")
    assert response.redirect_chain == [(page_url(intent_id), 302)]
    intent = Intent.objects.get(pk=intent_id)
    assert (intent.current_phase, intent.status, intent.attempts) == ("test", "queued", 1)
    rejected = IntentEvent.objects.get(intent=intent, kind="rejected")
    assert rejected.payload == {"reason": "the error messages leak paths"}
    requeued = IntentEvent.objects.filter(intent=intent, kind="requeued").latest("id")
    assert requeued.payload["reason"] == {"review": "the error messages leak paths"}
    # The next executor learns why in its handoff.
    work = claim(executor)
    assert "the error messages leak paths" in str(work["handoff"])


def test_review_page_refuses_bad_posts(staff: Client, submitter: Actor, executor: Actor) -> None:
    intent_id = to_review(submitter, executor)
    url = f"/admin/intents/intent/{quote(intent_id)}/review/"
    assert staff.get(url).status_code == 405
    # What the old page's Approve button posted to the change page: a 500 ('IntentEventFormSet'
    # object has no attribute 'new_objects'). The page saves nothing now.
    old_button = {
        "_fsm_transition_to": "approve",
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        "events-MIN_NUM_FORMS": "0",
        "events-MAX_NUM_FORMS": "1000",
    }
    assert staff.post(page_url(intent_id), old_button).status_code == 302
    huge = transition_post(staff, intent_id, "reject", reason="x" * 5000)
    assert b"at most 2000 characters" in huge.content
    nul = transition_post(staff, intent_id, "approve", note="a\x00b")
    assert nul.status_code == 200 and b"Null characters are not allowed" in nul.content
    unknown = transition_post(staff, intent_id, "cancel")
    assert b"Choose Approve or Reject" in unknown.content
    assert (
        staff.post("/admin/intents/intent/int_5Fnope/review/", {"decision": "approve"}).status_code
        == 404
    )
    assert Intent.objects.get(pk=intent_id).status == "awaiting_review"
    # Staff without the permission to change intents may look but not decide.
    viewer = get_user_model().objects.create_user("vic", password="pw", is_staff=True)
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_intent"))
    client = Client()
    client.force_login(viewer)
    page = client.get(page_url(intent_id))
    assert page.status_code == 200 and b'id="approve-form"' not in page.content
    refused = client.post(url, {"decision": "approve"}, follow=True)
    assert b"You may not review intents" in refused.content
    assert Intent.objects.get(pk=intent_id).status == "awaiting_review"


def test_queue_actions_approve_and_reject_the_selection(
    staff: Client, submitter: Actor, executor: Actor
) -> None:
    first, second = to_review(submitter, executor), to_review(submitter, executor)
    third, fourth = to_review(submitter, executor), to_review(submitter, executor)
    queue = "/admin/intents/reviewrequest/"
    approved = staff.post(
        queue,
        {"action": "approve_selected", "index": "0", "_selected_action": [first, second]},
        follow=True,
    )
    assert f"Approved 2: {first}, {second}" in approved.content.decode()
    for intent_id in (first, second):
        assert Intent.objects.get(pk=intent_id).current_phase == "production"

    ask = staff.post(
        queue, {"action": "reject_selected", "index": "0", "_selected_action": [third, fourth]}
    )
    assert ask.status_code == 200 and b'name="reason"' in ask.content
    blank = staff.post(
        queue,
        {
            "action": "reject_selected",
            "apply": "Reject",
            "_selected_action": [third, fourth],
            "reason": " ",
        },
    )
    assert blank.status_code == 200 and b"A rejection needs a reason" in blank.content
    assert Intent.objects.get(pk=third).status == "awaiting_review"
    rejected = staff.post(
        queue,
        {
            "action": "reject_selected",
            "apply": "Reject",
            "_selected_action": [third, fourth],
            "reason": "no docs",
        },
        follow=True,
    )
    assert f"Rejected 2: {third}, {fourth}" in rejected.content.decode()
    for intent_id in (third, fourth):
        event = IntentEvent.objects.get(intent_id=intent_id, kind="rejected")
        assert event.payload == {"reason": "no docs"}


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
    assert response.status_code == 200  # back on the intent's page, with the rule's message
    assert b"submitted intent" in response.content
    assert b"cannot review it" in response.content
    assert Intent.objects.get(pk=intent_id).status == "awaiting_review"


def test_executor_and_submitter_tokens_cannot_approve_or_reject(
    submitter: Actor, executor: Actor, admin: Actor
) -> None:
    intent_id = to_review(submitter, executor)
    for actor in (executor, submitter):
        for action in ("approve", "reject"):
            response = actor.client.post(
                f"/assembly-line/intents/{intent_id}/{action}", {"reason": "x"}, format="json"
            )
            assert response.status_code == 403, response.content
            assert response.json()["error"]["code"] == "permission_denied"
    assert Intent.objects.get(pk=intent_id).status == "awaiting_review"
    approved = admin.client.post(
        f"/assembly-line/intents/{intent_id}/approve", {"reason": "ok"}, format="json"
    )
    assert approved.status_code == 200
    assert Intent.objects.get(pk=intent_id).current_phase == "production"

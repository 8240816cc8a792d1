"""POST /assembly-line/work/release: the holder hands its work back unfinished; the intent is
re-queued at once with `why: released`. Nobody else may release it; work no longer held is a
409 that says so."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from executors.models import ApiToken
from intents import services
from intents.models import EventKind, Intent, IntentEvent
from tests.conftest import Actor, claim, complete, phase_artifacts, progress, submit
from tests.intents.test_errors import assert_error

pytestmark = pytest.mark.django_db

RELEASE = "/assembly-line/work/release"


def release(actor: Actor, intent_id: Any, executor_id: Any = None, **extra: Any) -> Any:
    body = {"intent_id": intent_id, "executor_id": executor_id or actor.executor_id, **extra}
    return actor.client.post(RELEASE, body, format="json")


def test_the_holder_releases_and_the_intent_is_requeued_with_why_released(
    submitter: Actor, executor: Actor, outsider: Actor
) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    assert progress(executor, intent_id, "build", 0.4, "half way").status_code == 200

    response = release(executor, intent_id, reason="session ended")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "released": True,
        "intent_id": intent_id,
        "status": "queued",
        "current_phase": "build",
        "attempts": 0,
    }
    intent = Intent.objects.get(pk=intent_id)
    assert (intent.status, intent.current_phase, intent.attempts) == ("queued", "build", 0)
    assert intent.assigned_to_id is None and intent.lease_expires_at is None
    assert intent.not_before is None  # no backoff: giving work back is not a failure
    event = intent.events.filter(kind=EventKind.REQUEUED).get()
    assert (event.from_status, event.to_status, event.executor_id) == (
        "in_progress",
        "queued",
        "laptop-1",
    )
    assert event.payload["why"] == "released"
    assert event.payload["reason"] == {"executor": "laptop-1", "message": "session ended"}

    # Another executor takes it at once, and its handoff says why it came back.
    work = claim(outsider)
    assert work["assigned"] is True and work["intent"]["id"] == intent_id
    assert work["handoff"]["resumed"] is True
    assert work["handoff"]["returned"]["why"] == "released"
    # `by` is the releasing caller's identity, as for every other event (names are labels).
    assert work["handoff"]["returned"]["by"] == "executor:laptop-1"
    assert event.actor == "executor:laptop-1"
    assert work["handoff"]["recent_progress"][-1]["message"] == "half way"


def test_released_test_phase_work_and_an_admin_releasing_for_its_holder(
    submitter: Actor, executor: Actor, admin: Actor
) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    assert complete(executor, intent_id, phase_artifacts("build")).status_code == 200
    claim(executor)
    progress(executor, intent_id, "test", 0.2)
    assert Intent.objects.get(pk=intent_id).status == "testing"
    response = release(admin, intent_id, executor_id="laptop-1", phase="test")
    assert response.status_code == 200, response.content
    intent = Intent.objects.get(pk=intent_id)
    assert (intent.status, intent.current_phase) == ("queued", "test")
    # The admin's identity, not its token's name (another token may be called "root").
    root = ApiToken.objects.get(name="root")
    assert intent.events.filter(kind=EventKind.REQUEUED).get().actor == f"token:{root.pk}"


def test_nobody_but_the_holder_may_release(
    submitter: Actor, executor: Actor, outsider: Actor, viewer: Actor, anonymous: Any
) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    events = IntentEvent.objects.count()
    # Another executor, as itself: the work was never its own.
    assert_error(release(outsider, intent_id), 403, "forbidden")
    # Another executor's token naming the holder.
    assert_error(release(outsider, intent_id, executor_id="laptop-1"), 403, "forbidden")
    # Roles that do not work.
    assert_error(release(viewer, intent_id, executor_id="laptop-1"), 403)
    assert_error(release(submitter, intent_id, executor_id="laptop-1"), 403)
    response = anonymous.post(
        RELEASE, {"intent_id": intent_id, "executor_id": "laptop-1"}, format="json"
    )
    assert_error(response, 401)
    intent = Intent.objects.get(pk=intent_id)
    assert (intent.status, intent.assigned_to_id) == ("assigned", "laptop-1")
    assert IntentEvent.objects.count() == events


def test_releasing_work_you_do_not_hold_is_409_and_says_so(
    submitter: Actor, executor: Actor, outsider: Actor
) -> None:
    intent_id = submit(submitter)["intent_id"]
    # Queued, never claimed.
    error = assert_error(release(executor, intent_id), 409, "transition_not_allowed")
    assert error["message"].startswith("nothing to release")
    assert error["current"]["status"] == "queued"

    claim(executor)
    assert release(executor, intent_id).status_code == 200
    # A second release (a retry after a lost answer) changes nothing.
    events = IntentEvent.objects.count()
    error = assert_error(release(executor, intent_id), 409, "transition_not_allowed")
    assert "nothing to release" in error["message"] and "queued" in error["message"]
    assert IntentEvent.objects.count() == events

    # Taken by another after the release: the first holder gets 409 (it held it before).
    claim(outsider)
    error = assert_error(release(executor, intent_id), 409)
    assert "reassigned" in error["message"]
    assert Intent.objects.get(pk=intent_id).assigned_to_id == "laptop-2"


def test_releasing_after_the_lease_lapsed_is_409(submitter: Actor, executor: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    assert services.lease_reap(intent_id=intent_id, now=timezone.now() + timedelta(hours=1))
    error = assert_error(release(executor, intent_id), 409)
    assert error["current"] == {**error["current"], "status": "queued", "attempts": 1}
    why = Intent.objects.get(pk=intent_id).events.filter(kind=EventKind.REQUEUED).get()
    assert why.payload["why"] == "lease_expired"


def test_release_refuses_a_phase_it_is_not_in(submitter: Actor, executor: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    assert_error(release(executor, intent_id, phase="production"), 409)
    assert Intent.objects.get(pk=intent_id).status == "assigned"


@pytest.mark.parametrize(
    "body",
    [
        {"intent_id": "int_" + "a" * 500, "executor_id": "laptop-1"},
        {"intent_id": "int_\x00nul", "executor_id": "laptop-1"},
        {"intent_id": ["int_x"], "executor_id": "laptop-1"},
        {"intent_id": {"$ne": ""}, "executor_id": "laptop-1"},
        {"executor_id": "laptop-1"},
        {"intent_id": "int_x"},
        {"intent_id": "int_x", "executor_id": "laptop-1", "phase": "moon"},
        {"intent_id": "int_x", "executor_id": "laptop-1", "reason": "x" * 5000},
        {"intent_id": "int_x", "executor_id": "x" * 5000},
    ],
)
def test_hostile_bodies_are_400(executor: Actor, body: dict[str, Any]) -> None:
    assert_error(executor.client.post(RELEASE, body, format="json"), 400)


def test_unknown_ids_and_non_object_bodies(executor: Actor, admin: Actor) -> None:
    assert_error(release(executor, "int_does_not_exist"), 404, "not_found")
    assert_error(release(executor, "../../etc/passwd"), 404)
    # NaN is not JSON; sent raw, as a hostile client would, the parser refuses it.
    assert_error(
        executor.client.generic(
            "POST",
            RELEASE,
            '{"intent_id": NaN, "executor_id": "laptop-1"}',
            content_type="application/json",
        ),
        400,
        "parse_error",
    )
    assert_error(release(admin, "int_x", executor_id="nobody"), 404)
    assert_error(executor.client.post(RELEASE, [1, 2], format="json"), 400)
    assert_error(
        executor.client.generic("POST", RELEASE, "{not json", content_type="application/json"), 400
    )

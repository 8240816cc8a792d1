"""/verify only by the intent's submitter, the executor holding it and admins (issue 16,
finding 9): anyone else gets 403, and a refused call runs no check and stores nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from executors.models import Role
from executors.services import token_create
from tests.conftest import Actor, _client, claim, complete, phase_artifacts, submit
from verification.models import VerificationRun

pytestmark = pytest.mark.django_db
VERIFY = "/assembly-line/verify"


def verify(client: Any, intent_id: str, **extra: Any) -> Any:
    body = {"intent_id": intent_id, "verification_level": 3, "phase": "build", **extra}
    return client.post(VERIFY, json.dumps(body), content_type="application/json")


def runs() -> int:
    return VerificationRun.objects.filter(gate=False).count()


def assert_refused(client: Any, intent_id: str) -> None:
    before = runs()
    response = verify(client, intent_id)
    assert response.status_code == 403, response.content
    assert response.json()["error"]["status"] == 403
    assert runs() == before


def test_the_submitter_the_holder_and_an_admin_may_verify(
    submitter: Actor, executor: Actor, admin: Actor
) -> None:
    intent_id = submit(submitter)["intent_id"]
    assert verify(submitter.client, intent_id).status_code == 200  # queued: its submitter
    assert claim(executor)["intent"]["id"] == intent_id
    for actor in (submitter, executor, admin):
        response = verify(actor.client, intent_id)
        assert response.status_code == 200, (actor.name, response.content)
    assert runs() == 4


def test_other_submitters_viewers_and_other_executors_are_refused(
    submitter: Actor, executor: Actor, outsider: Actor, viewer: Actor
) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    # A second token with the same name is another principal.
    _, twin = token_create(name="alice", role=Role.SUBMITTER)
    for other in (_client(twin), viewer.client, outsider.client):
        assert_refused(other, intent_id)


def test_an_executor_that_no_longer_holds_the_intent_is_refused(
    submitter: Actor, executor: Actor
) -> None:
    intent_id = submit(submitter)["intent_id"]
    claim(executor)
    assert complete(executor, intent_id, phase_artifacts("build")).status_code == 200
    assert_refused(executor.client, intent_id)  # queued for test now, held by nobody


def test_an_executor_may_verify_what_it_submitted(executor: Actor) -> None:
    intent_id = submit(executor)["intent_id"]
    assert verify(executor.client, intent_id).status_code == 200


def test_admin_sessions_may_and_other_sessions_may_not(submitter: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    staff, plain = Client(), Client()
    staff.force_login(get_user_model().objects.create_superuser("rita", "r@example.com", "pw"))
    plain.force_login(get_user_model().objects.create_user("paul", "p@example.com", "pw"))
    assert verify(staff, intent_id).status_code == 200
    assert_refused(plain, intent_id)


def test_hostile_ids_and_bodies_store_nothing(submitter: Actor, outsider: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    before = runs()
    for bad in ("int_nope", "token:1", "executor:laptop-2", intent_id + "x"):
        assert verify(outsider.client, bad).status_code == 404
    for body in ({"verification_level": 0}, {"phase": "moon"}, {"artifacts": [1]}):
        assert verify(outsider.client, intent_id, **body).status_code == 400
    assert verify(Client(), intent_id).status_code == 401
    assert runs() == before

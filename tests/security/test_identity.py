"""Ownership is decided by a principal's identity, never by a name (issue 16, finding 2).

Tokens made with `createtoken` and no `--name` all share a default name ("submitter-token",
"admin-token"); names are labels only."""

from __future__ import annotations

import importlib
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import RequestFactory

from executors.authentication import principal_identity
from executors.models import ApiToken, Executor, Role
from executors.services import token_create
from intents import services
from intents.models import IdempotencyKey, Intent
from tests.conftest import Actor, _client, claim, complete, make_executor, phase_artifacts, submit

pytestmark = pytest.mark.django_db


def default_named(role: str) -> Actor:
    """A token made the way an operator makes one: `createtoken --role ROLE`, no name."""
    out = StringIO()
    call_command("createtoken", "--role", role, stdout=out)
    token = out.getvalue().strip()
    return Actor(_client(token), token, f"{role}-token")


def identity(actor: Actor) -> str:
    return principal_identity(ApiToken.objects.get(prefix=actor.token.split(".", 1)[0]))


def to_review(submitter: Actor, executor: Actor) -> str:
    intent_id = submit(submitter, requires_human_review=True)["intent_id"]
    for phase in ("build", "test"):
        assert claim(executor)["intent"]["id"] == intent_id
        assert complete(executor, intent_id, phase_artifacts(phase)).status_code == 200
    assert Intent.objects.get(pk=intent_id).status == "awaiting_review"
    return intent_id


# --- the identity of each kind of principal ---------------------------------------------


def test_each_principal_has_its_own_identity(executor: Actor) -> None:
    a, b = default_named(Role.SUBMITTER), default_named(Role.SUBMITTER)
    assert identity(a) != identity(b)
    assert identity(a) == f"token:{ApiToken.objects.get(prefix=a.token[:12]).pk}"
    # Every token of an executor is that executor.
    _, second = token_create(
        name="spare", role=Role.EXECUTOR, executor=Executor.objects.get(pk="laptop-1")
    )
    spare = Actor(_client(second), second, "spare", "laptop-1")
    assert identity(executor) == identity(spare) == "executor:laptop-1"
    user = get_user_model().objects.create_user("submitter-token", password="pw")
    assert principal_identity(user) == f"user:{user.pk}"
    request = RequestFactory().get("/")
    request.user = user
    assert principal_identity(request) == f"user:{user.pk}"


def test_submit_records_the_identity_and_shows_the_name(submitter: Actor) -> None:
    intent_id = submit(submitter)["intent_id"]
    body = submitter.client.get(f"/assembly-line/intents/{intent_id}").json()
    assert (body["created_by"], body["created_by_label"]) == (identity(submitter), "alice")


# --- cancel-own -----------------------------------------------------------------------------


def test_a_token_with_the_same_default_name_cannot_cancel_anothers_intent() -> None:
    a, b = default_named(Role.SUBMITTER), default_named(Role.SUBMITTER)
    intent_id = submit(a)["intent_id"]
    response = b.client.post(f"/assembly-line/intents/{intent_id}/cancel", {}, format="json")
    assert response.status_code == 403, response.content
    assert response.json()["error"]["status"] == 403
    assert Intent.objects.get(pk=intent_id).status == "queued"
    assert (
        a.client.post(f"/assembly-line/intents/{intent_id}/cancel", {}, format="json").status_code
        == 200
    )


def test_another_token_of_the_same_executor_may_cancel_what_it_submitted(
    executor: Actor,
) -> None:
    intent_id = submit(executor)["intent_id"]
    _, second = token_create(
        name="spare", role=Role.EXECUTOR, executor=Executor.objects.get(pk="laptop-1")
    )
    response = _client(second).post(f"/assembly-line/intents/{intent_id}/cancel", {}, format="json")
    assert response.status_code == 200, response.content


def test_cancelling_someone_elses_or_an_unknown_id(
    submitter: Actor, outsider: Actor, viewer: Actor
) -> None:
    intent_id = submit(submitter)["intent_id"]
    for actor in (outsider, viewer):
        response = actor.client.post(
            f"/assembly-line/intents/{intent_id}/cancel", {}, format="json"
        )
        assert response.status_code == 403, response.content
    for bad in ("int_missing", "token:1", "../" + intent_id):
        response = submitter.client.post(f"/assembly-line/intents/{bad}/cancel", {}, format="json")
        assert response.status_code == 404, (bad, response.content)
    assert Intent.objects.get(pk=intent_id).status == "queued"


# --- idempotency scope ----------------------------------------------------------------------


def test_the_same_idempotency_key_from_a_same_named_token_is_not_replayed() -> None:
    a, b = default_named(Role.SUBMITTER), default_named(Role.SUBMITTER)
    body = {"title": "demo", "spec_path": "demo.md"}
    first = a.client.post(
        "/assembly-line/intent", body, format="json", HTTP_IDEMPOTENCY_KEY="deploy-42"
    )
    other = b.client.post(
        "/assembly-line/intent", body, format="json", HTTP_IDEMPOTENCY_KEY="deploy-42"
    )
    assert (first.status_code, other.status_code) == (201, 201)
    assert other.json()["intent_id"] != first.json()["intent_id"]
    assert "Idempotent-Replayed" not in other.headers
    mine = Intent.objects.get(pk=other.json()["intent_id"])
    assert mine.created_by == identity(b)
    # Each caller's own repeat still replays its own answer.
    again = a.client.post(
        "/assembly-line/intent", body, format="json", HTTP_IDEMPOTENCY_KEY="deploy-42"
    )
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert set(IdempotencyKey.objects.values_list("actor", flat=True)) == {identity(a), identity(b)}


# --- separation of duties in review -----------------------------------------------------


def test_a_reviewer_is_told_apart_from_the_submitter_by_identity(executor: Actor) -> None:
    twin, submitting = default_named(Role.ADMIN), default_named(Role.ADMIN)
    intent_id = to_review(submitting, executor)
    # Renaming the token (Django admin allows it) does not make it another reviewer.
    ApiToken.objects.filter(prefix=submitting.token[:12]).update(name="someone-else")
    response = submitting.client.post(
        f"/assembly-line/intents/{intent_id}/approve", {}, format="json"
    )
    assert response.status_code == 403, response.content
    assert "cannot review it" in response.json()["error"]["message"]
    assert Intent.objects.get(pk=intent_id).status == "awaiting_review"
    # Another admin token that only shares the submitter's first name is another reviewer.
    response = twin.client.post(f"/assembly-line/intents/{intent_id}/approve", {}, format="json")
    assert response.status_code == 200, response.content
    intent = Intent.objects.get(pk=intent_id)
    assert (intent.reviewed_by, intent.reviewed_by_label) == (identity(twin), "admin-token")


def test_a_django_user_and_a_token_with_the_same_name_are_two_principals(
    executor: Actor,
) -> None:
    _, token = token_create(name="rita", role=Role.SUBMITTER)
    intent_id = to_review(Actor(_client(token), token, "rita"), executor)
    rita = get_user_model().objects.create_superuser("rita", "rita@example.com", "pw")
    services.intent_approve(
        intent_id=intent_id, reviewer=principal_identity(rita), reviewer_label="rita"
    )
    assert Intent.objects.get(pk=intent_id).reviewed_by == f"user:{rita.pk}"


# --- fair share and the created_by filter -------------------------------------------------


def test_fair_share_tells_same_named_submitters_apart() -> None:
    a, b = default_named(Role.SUBMITTER), default_named(Role.SUBMITTER)
    for actor in (a, a, a, b, b, b):
        submit(actor, priority=5)
    worker = make_executor("many", "local", max_concurrent=10)
    owners = [Intent.objects.get(pk=claim(worker)["intent"]["id"]).created_by for _ in range(4)]
    assert owners == [identity(a), identity(b)] * 2


def test_the_created_by_filter_takes_an_identity(viewer: Actor) -> None:
    a, b = default_named(Role.SUBMITTER), default_named(Role.SUBMITTER)
    mine = submit(a)["intent_id"]
    submit(b)
    page = viewer.client.get("/assembly-line/intents/", {"created_by": identity(a)}).json()
    assert [i["id"] for i in page["results"]] == [mine]
    for other in ("submitter-token", "token:999999", "legacy:" + "x" * 150, "x" * 201):
        response = viewer.client.get("/assembly-line/intents/", {"created_by": other})
        if len(other) > 200:
            assert response.status_code == 400
        else:
            assert response.status_code == 200 and response.json()["results"] == []


# --- the data migration ---------------------------------------------------------------------


def test_the_migration_maps_unique_names_to_identities_and_others_to_legacy(
    executor: Actor,
) -> None:
    migration: Any = importlib.import_module("intents.migrations.0006_identity_data")
    alice, _ = token_create(name="alice", role=Role.SUBMITTER)
    token_create(name="submitter-token", role=Role.SUBMITTER)
    token_create(name="submitter-token", role=Role.SUBMITTER)
    token_create(name="rita", role=Role.ADMIN)
    get_user_model().objects.create_superuser("rita", "rita@example.com", "pw")
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    old = {
        "alice": "alice",
        "twins": "submitter-token",
        "exec": "laptop-1",
        "rita": "rita",
        "ghost": "ghost",
    }
    ids = {}
    for key, name in old.items():
        intent = services.intent_submit(actor=name, title=key, spec_text="-")
        Intent.objects.filter(pk=intent.pk).update(created_by_label="", reviewed_by="root")
        ids[key] = intent.pk
    IdempotencyKey.objects.create(
        actor="alice", key="k", request_hash="h", intent_id=ids["alice"], response={}
    )
    IdempotencyKey.objects.create(
        actor="submitter-token", key="k", request_hash="h", intent_id=ids["twins"], response={}
    )

    migration.forwards(apps, None)

    got = {
        key: Intent.objects.values_list("created_by", "created_by_label").get(pk=pk)
        for key, pk in ids.items()
    }
    assert got == {
        "alice": (f"token:{alice.pk}", "alice"),
        "twins": ("legacy:submitter-token", "submitter-token"),
        "exec": ("executor:laptop-1", "laptop-1"),
        "rita": ("legacy:rita", "rita"),  # a token and a user: ambiguous
        "ghost": ("legacy:ghost", "ghost"),
    }
    assert set(Intent.objects.values_list("reviewed_by", "reviewed_by_label")) == {
        (f"user:{root.pk}", "root")
    }
    assert set(IdempotencyKey.objects.values_list("actor", flat=True)) == {
        f"token:{alice.pk}",
        "legacy:submitter-token",
    }

"""Deleting executors and tokens in Django admin, as a person does (the delete page's
confirmation and the "delete selected" action), goes through executors' services: tokens stop
at once, live status is dropped, and intents that named the executor keep their place."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from executors.live import live
from executors.models import ApiToken, Executor
from executors.services import token_create
from intents.models import Intent
from tests.conftest import Actor, claim, make_executor, need, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db: Any) -> Client:
    user = get_user_model().objects.create_superuser("ada", "ada@example.com", "pw")
    person = Client()
    person.force_login(user)
    return person


def alive(*executor_ids: str) -> dict[str, bool]:
    need(live.configured, "Redis (REDIS_URL)")
    answer = live.alive(list(executor_ids))
    assert answer is not None
    return answer


def test_deleting_an_executor_on_its_page_drops_its_tokens_and_live_status_and_keeps_its_work(
    staff: Client, submitter: Actor, executor: Actor, settings: Any
) -> None:
    settings.TOKEN_CACHE_SECONDS = 10
    intent_id = submit(submitter)["intent_id"]
    assert claim(executor)["intent"]["id"] == intent_id  # its token is verified and cached
    assert alive("laptop-1") == {"laptop-1": True}

    page = "/admin/executors/executor/laptop-1/delete/"
    assert b"Are you sure" in staff.get(page).content
    assert staff.post(page, {"post": "yes"}).status_code == 302

    assert not Executor.objects.filter(pk="laptop-1").exists()
    assert not ApiToken.objects.filter(executor_id="laptop-1").exists()
    assert alive("laptop-1") == {"laptop-1": False}
    # Its token stops at once, though this process had it verified a moment ago.
    assert executor.client.get("/assembly-line/state").status_code == 401
    # The work it held stays where it was, holder cleared, until its lease lapses.
    intent = Intent.objects.get(pk=intent_id)
    assert (intent.status, intent.current_phase, intent.assigned_to_id) == (
        "assigned",
        "build",
        None,
    )


def test_deleting_selected_executors_runs_the_service_for_each(staff: Client) -> None:
    for name in ("lap-1", "lap-2", "lap-3"):
        make_executor(name)
        live.beat(name)
    assert alive("lap-1", "lap-2", "lap-3") == {"lap-1": True, "lap-2": True, "lap-3": True}

    answer = staff.post(
        "/admin/executors/executor/",
        {"action": "delete_selected", "_selected_action": ["lap-1", "lap-2"], "post": "yes"},
    )
    assert answer.status_code == 302

    assert list(Executor.objects.values_list("pk", flat=True)) == ["lap-3"]
    assert alive("lap-1", "lap-2", "lap-3") == {"lap-1": False, "lap-2": False, "lap-3": True}


def test_a_token_deleted_on_its_page_or_by_the_action_stops_at_once(
    staff: Client, settings: Any
) -> None:
    settings.TOKEN_CACHE_SECONDS = 10
    made = [token_create(name=f"ops-{n}", role="viewer") for n in range(3)]
    callers = []
    for _, token in made:
        caller = Client(headers={"Authorization": f"Bearer {token}"})
        assert caller.get("/assembly-line/state").status_code == 200  # verified and cached
        callers.append(caller)

    page = f"/admin/executors/apitoken/{made[0][0].pk}/delete/"
    assert staff.post(page, {"post": "yes"}).status_code == 302
    assert callers[0].get("/assembly-line/state").status_code == 401
    assert callers[1].get("/assembly-line/state").status_code == 200

    answer = staff.post(
        "/admin/executors/apitoken/",
        {"action": "delete_selected", "_selected_action": [made[1][0].pk], "post": "yes"},
    )
    assert answer.status_code == 302
    assert callers[1].get("/assembly-line/state").status_code == 401
    assert callers[2].get("/assembly-line/state").status_code == 200
    assert list(ApiToken.objects.values_list("name", flat=True)) == ["ops-2"]

"""An executor token may not change its own routing (issue 16, finding 8): environment,
capabilities and max_concurrent are an admin's to set; an executor updates only what
describes it (executor_type, availability), and never creates an executor."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from executors.authentication import forget_verified_tokens
from executors.models import Executor, Role
from executors.services import token_create
from intents.models import IntentEvent
from tests.conftest import Actor
from tests.servers import ROOT, Server

REGISTER = "/assembly-line/executors/register"


def register(actor: Actor, **body: Any) -> Any:
    return actor.client.post(REGISTER, {"executor_id": "laptop-1", **body}, format="json")


def routing(executor_id: str = "laptop-1") -> tuple[str, list[str], int]:
    executor = Executor.objects.get(pk=executor_id)
    return executor.environment, executor.capabilities, executor.max_concurrent


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"environment": "server"}, "environment"),
        ({"capabilities": ["gpu"]}, "capabilities"),
        ({"capabilities": []}, "capabilities"),
        ({"max_concurrent": 50}, "max_concurrent"),
        ({"executor_type": "server_ai", "max_concurrent": 2}, "max_concurrent"),
    ],
)
def test_an_executor_token_cannot_change_its_own_routing(
    change: dict[str, Any], named: str
) -> None:
    from tests.conftest import make_executor

    executor = make_executor("laptop-1", "local", ["python"])
    events = IntentEvent.objects.count()
    response = register(executor, **change)
    assert response.status_code == 403, response.content
    message = response.json()["error"]["message"]
    assert named in message and "admin" in message
    assert routing() == ("local", ["python"], 1)
    assert Executor.objects.get(pk="laptop-1").executor_type == "claude_code"  # all or nothing
    assert IntentEvent.objects.count() == events


@pytest.mark.django_db
def test_the_403_names_every_field_it_refuses() -> None:
    from tests.conftest import make_executor

    executor = make_executor("laptop-1", "local")
    response = register(executor, environment="server", capabilities=["gpu"], max_concurrent=9)
    assert response.status_code == 403
    message = response.json()["error"]["message"]
    assert "environment, capabilities, max_concurrent" in message


@pytest.mark.django_db
def test_an_executor_restates_its_routing_and_updates_what_describes_it() -> None:
    from tests.conftest import make_executor

    executor = make_executor("laptop-1", "local", ["python", "docker"], max_concurrent=2)
    response = register(
        executor,
        environment="local",
        capabilities=["python", "docker", "python"],
        max_concurrent=2,
        executor_type="server_ai",
        availability="always",
    )
    assert response.status_code == 200, response.content
    stored = Executor.objects.get(pk="laptop-1")
    assert (stored.executor_type, stored.availability) == ("server_ai", "always")
    assert routing() == ("local", ["docker", "python"], 2)


@pytest.mark.django_db
def test_an_admin_sets_an_executors_routing(admin: Actor, executor: Actor) -> None:
    response = register(admin, environment="server", capabilities=["gpu"], max_concurrent=4)
    assert response.status_code == 200, response.content
    assert routing() == ("server", ["gpu"], 4)


@pytest.mark.django_db
def test_an_executor_token_never_creates_an_executor(
    settings: Any, executor: Actor, submitter: Actor, viewer: Actor
) -> None:
    for other in ("laptop-9", "LAPTOP-1", "laptop-1\u0000", "x" * 101, ""):
        response = executor.client.post(REGISTER, {"executor_id": other}, format="json")
        assert response.status_code in (400, 403), (other, response.content)
    for actor in (submitter, viewer):
        assert register(actor).status_code == 403
        assert (
            actor.client.post(REGISTER, {"executor_id": "fresh"}, format="json").status_code == 403
        )
    # Its executor deleted while the token is still remembered (TOKEN_CACHE_SECONDS): the
    # token does not bring it back.
    settings.TOKEN_CACHE_SECONDS = 60
    try:
        assert register(executor, availability="always").status_code == 200
        Executor.objects.filter(pk="laptop-1").delete()
        response = register(executor, availability="always")
        assert response.status_code == 403, response.content
    finally:
        forget_verified_tokens()
    assert set(Executor.objects.values_list("pk", flat=True)) == set()


# --- the CLI's `work`, which registers first when given --environment/--capability --------


@pytest.mark.django_db(transaction=True)
def test_cli_work_says_clearly_when_its_registration_is_refused(server: Server) -> None:
    executor = Executor.objects.create(executor_id="cli-laptop", environment="local")
    token = token_create(name="cli-laptop", role=Role.EXECUTOR, executor=executor)[1]
    env = {**os.environ, "ASSEMBLY_LINE_URL": server.url, "ASSEMBLY_LINE_TOKEN": token}
    cli = [
        sys.executable,
        "-m",
        "assembly_line_client.cli",
        "work",
        "--executor-id",
        "cli-laptop",
        "--max-items",
        "1",
        "--wait",
        "0",
    ]
    refused = subprocess.run(
        [*cli, "--environment", "server", "--", "true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert refused.returncode == 1, (refused.stdout, refused.stderr)
    assert "registration refused" in refused.stdout
    assert "environment" in refused.stdout and "admin" in refused.stdout
    assert Executor.objects.get(pk="cli-laptop").environment == "local"

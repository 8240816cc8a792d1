"""Fixtures: an admin, a submitter, an executor (local), a second executor (the outsider),
a server executor and a viewer, each with its own token and API client.

Real servers: tests marked `postgres` or `redis` need DATABASE_URL / REDIS_URL. Without them
they are skipped on a laptop, but under CI=true a missing server is a failure, never a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from executors.live import KEY_PREFIX, WRITTEN_PREFIX, live
from executors.models import Executor, Role
from executors.services import token_create
from tests.servers import Server

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

SPEC_OK = """# demo-service - SPEC

## Purpose
Say hello.

## Requirements
- [ ] Answers hello

## API Specs
**GET /health**
**GET /hello**

## Dependencies
None

## Success Criteria
- [ ] Health returns 200
"""

GOOD_TESTS = {"passed": 42, "failed": 0, "skipped": 1, "coverage": 91.5}
GOOD_QUALITY = {"lint_errors": 0, "type_errors": 0, "warnings": []}
GOOD_SECURITY = {"high": 0, "medium": 1, "low": 3, "secrets": 0}


def need(condition: bool, what: str) -> None:
    """Skip when a real server is missing, unless in CI, where that is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but not available")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> None:
    """The test process talks to its test database without the psycopg pool (Django's test
    database set-up and a per-process pool do not mix); server processes started by tests
    run with the pool, as in production. Under pytest-xdist each worker's test database
    has its own suffix (`_gw0`, ...), as pytest-django's own fixture gives it."""
    from django.conf import settings

    settings.DATABASES["default"].get("OPTIONS", {}).pop("pool", None)


@pytest.fixture
def postgres(db: Any) -> None:
    need(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL)")


@pytest.fixture(scope="module")
def server_env(request: pytest.FixtureRequest) -> dict[str, str] | None:
    """The environment of the module's server: its SERVER_ENV."""
    return getattr(request.module, "SERVER_ENV", None)


@pytest.fixture(scope="module")
def module_server(server_env: dict[str, str] | None, django_db_setup: None) -> Iterator[Server]:
    """One server process (tests/servers.py) for the tests of a module: a start costs seconds
    of CPU, and between tests the database is emptied (the tests are `transaction=True`) and
    the live keys in Redis cleared, as for a new one."""
    need(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL)")
    running = Server(server_env)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def server(module_server: Server, postgres: None) -> Server:
    """The module's server, started again if a test stopped it."""
    if module_server.process is None or module_server.process.poll() is not None:
        module_server.start()
    return module_server


@dataclass
class Actor:
    client: APIClient
    token: str
    name: str
    executor_id: str | None = None


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def make_executor(
    executor_id: str, environment: str = "local", capabilities: list[str] | None = None, **kw: Any
) -> Actor:
    executor = Executor.objects.create(
        executor_id=executor_id,
        environment=environment,
        executor_type="server_ai" if environment == "server" else "claude_code",
        capabilities=capabilities or [],
        **kw,
    )
    _, token = token_create(name=executor_id, role=Role.EXECUTOR, executor=executor)
    return Actor(_client(token), token, executor_id, executor_id)


@pytest.fixture
def admin(db: Any) -> Actor:
    _, token = token_create(name="root", role=Role.ADMIN)
    return Actor(_client(token), token, "root")


@pytest.fixture
def submitter(db: Any) -> Actor:
    _, token = token_create(name="alice", role=Role.SUBMITTER)
    return Actor(_client(token), token, "alice")


@pytest.fixture
def viewer(db: Any) -> Actor:
    _, token = token_create(name="watcher", role=Role.VIEWER)
    return Actor(_client(token), token, "watcher")


@pytest.fixture
def executor(db: Any) -> Actor:
    return make_executor("laptop-1", "local")


@pytest.fixture
def outsider(db: Any) -> Actor:
    return make_executor("laptop-2", "local")


@pytest.fixture
def server_executor(db: Any) -> Actor:
    return make_executor("server-ai", "server")


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture(autouse=True)
def _specs_root(settings: Any, tmp_path: Any) -> None:
    settings.SPECS_ROOT = tmp_path / "specs"
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "demo.md").write_text(SPEC_OK)
    settings.RETRY_BACKOFF_SECONDS = 0
    # Checks that call a live service over HTTP live in verification/checks/live.py; tests
    # of the line itself judge reported data only (the live checks have their own tests).
    settings.ASSEMBLY_LINE_VERIFIERS = [
        v for v in settings.ASSEMBLY_LINE_VERIFIERS if "live" not in str(v["NAME"])
    ]
    # Most tests drive a whole intent with one executor; separation of duties (on by default)
    # has its own tests in tests/intents/test_ai_rules.py, which switch it back on.
    settings.SEPARATE_DUTIES_PHASES = []
    # Server processes run a reaper loop; in-process tests call the reaper themselves.
    settings.REAPER_ENABLED = False
    # The live checks' tests probe services on loopback, which the egress policy refuses
    # unless allowed (docs/security.md).
    settings.LIVE_CHECK_ALLOW = ["127.0.0.1", "::1"]
    # Token revocation takes effect at once in tests (no per-process token cache).
    settings.TOKEN_CACHE_SECONDS = 0
    # Live status keys in Redis outlive a test: start each test with no executor alive (and
    # no heartbeat written to the database lately).
    for prefix in (KEY_PREFIX, WRITTEN_PREFIX):
        live.call(lambda r, prefix=prefix: [r.delete(key) for key in r.scan_iter(prefix + "*")])


def submit(actor: Actor, **body: Any) -> dict[str, Any]:
    payload = {
        "title": "demo",
        "spec_path": "demo.md",
        "priority": 5,
        "environment_preference": "either",
        **body,
    }
    response = actor.client.post("/assembly-line/intent", payload, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def claim(actor: Actor) -> dict[str, Any]:
    response = actor.client.get("/assembly-line/work/next", {"executor_id": actor.executor_id})
    assert response.status_code == 200, response.content
    return response.json()


def progress(actor: Actor, intent_id: str, phase: str, value: float, message: str = "") -> Any:
    return actor.client.post(
        "/assembly-line/work/progress",
        {
            "intent_id": intent_id,
            "executor_id": actor.executor_id,
            "phase": phase,
            "progress": value,
            "message": message,
        },
        format="json",
    )


def complete(
    actor: Actor,
    intent_id: str,
    artifacts: dict[str, Any] | None = None,
    status: str = "completed",
    **extra: Any,
) -> Any:
    return actor.client.post(
        "/assembly-line/work/complete",
        {
            "intent_id": intent_id,
            "executor_id": actor.executor_id,
            "status": status,
            "artifacts": artifacts or {},
            **extra,
        },
        format="json",
    )


def phase_artifacts(phase: str) -> dict[str, Any]:
    """Artifacts that pass each phase's gate (reported-data checks)."""
    return {
        "spec": {"spec_text": SPEC_OK},
        "build": {
            "build_output": "built",
            "commit": "abc123",
            "files": ["app.py"],
            "deployment_url": "http://127.0.0.1:9/",
        },
        "test": {"test_results": GOOD_TESTS, "quality": GOOD_QUALITY, "security": GOOD_SECURITY},
        "production": {
            "rollback_plan": "redeploy the previous image",
            "files": ["README.md", "SPEC.md", "docs/api.md", "Dockerfile"],
        },
    }[phase]

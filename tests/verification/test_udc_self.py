"""This service's own six UDC endpoints, on a live server process, pass this service's own
level 1, 2, 5 and 6 checkers; /send delivers through the registry to a real service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings as django_settings

from core import registry
from intents.models import Intent
from tests.conftest import need
from tests.servers import Server
from tests.verification.fakeservice import FakeService
from verification.checks import live, live_production

pytestmark = pytest.mark.django_db(transaction=True)

OUR_SPEC = """# unified-assembly-line
## Purpose
x
## Requirements
- [ ] y
## API Specs
GET /health
GET /capabilities
POST /message
POST /send
## Dependencies
PostgreSQL
## Success Criteria
- [ ] UDC
"""


@pytest.fixture(scope="module")
def registry_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("registry") / "SERVICE_REGISTRY.json"
    path.write_text(json.dumps({"registry_version": "1.0", "services": []}))
    return path


@pytest.fixture(scope="module")
def server_env(registry_path: Path) -> dict[str, str]:
    """The module's one server (tests/conftest.py) reads the registry file of these tests."""
    return {"SERVICE_REGISTRY_PATH": str(registry_path)}


@pytest.fixture
def registry_file(registry_path: Path, settings: Any) -> Path:
    """An empty registry for each test."""
    need(bool(django_settings.REDIS_URL), "Redis (REDIS_URL)")
    registry_path.write_text(json.dumps({"registry_version": "1.0", "services": []}))
    settings.SERVICE_REGISTRY_PATH = str(registry_path)
    return registry_path


def test_our_udc_endpoints_pass_our_own_checkers(server: Server, registry_file: Path) -> None:
    registry.register(registry_file, {**registry.our_entry(), "url_local": server.url})
    intent = Intent(id="self", spec_text=OUR_SPEC)
    artifacts = {
        "deployment_url": server.url,
        "files": ["README.md", "SPEC.md", "docs/verification.md", "Dockerfile"],
        "rollback_plan": "previous image",
    }
    results = {}
    for check in (
        live.HealthCheck(level=1),
        live.EndpointsCheck(level=1),
        live.MalformedBodyCheck(level=1),
        live.UdcComplianceCheck(level=2),
        live.RegistryCheck(level=2, registry_path=str(registry_file)),
        live_production.NoTracebackCheck(level=5),
        live_production.ProductionProbeCheck(level=6),
        live_production.ReadinessArtifactsCheck(level=6),
    ):
        results[check.name] = check.run(intent, artifacts)
    failed = {name: r.detail for name, r in results.items() if not r.passed}
    assert failed == {}
    assert "all 6 UDC endpoints" in results["udc_compliance"].detail
    assert "registered in SERVICE_REGISTRY.json as 'unified-assembly-line'" in (
        results["udc_registry"].detail
    )


def test_udc_shapes_and_get_on_every_path(server: Server) -> None:
    for path in ("/health", "/capabilities", "/state", "/dependencies", "/message", "/send"):
        assert httpx.get(server.url + path).status_code == 200, path
    health = httpx.get(server.url + "/health").json()
    assert health["status"] == "ok" and health["service"] == "unified-assembly-line"
    capabilities = httpx.get(server.url + "/capabilities").json()
    assert capabilities["udc_version"] and "verification_levels_1_6" in capabilities["features"]
    dependencies = httpx.get(server.url + "/dependencies").json()
    assert dependencies["missing"] == []
    assert {d["name"]: d["status"] for d in dependencies["required"]} == {"postgresql": "ok"}
    assert {d["name"]: d["status"] for d in dependencies["optional"]} == {"redis": "ok"}
    before = httpx.get(server.url + "/state").json()
    httpx.get(server.url + "/no-such-page")
    after = httpx.get(server.url + "/state").json()
    assert after["requests_total"] >= before["requests_total"] + 2
    assert after["requests_per_minute"] >= 2 and after["uptime_seconds"] > 0
    message = httpx.post(
        server.url + "/message",
        json={
            "trace_id": "t-1",
            "source": "other",
            "target": "unified-assembly-line",
            "message_type": "ping",
            "payload": {"a": 1},
            "timestamp": "2026-11-25T00:00:00Z",
        },
    )
    assert message.status_code == 200
    assert message.json()["received"] is True and message.json()["trace_id"] == "t-1"
    bad = httpx.post(server.url + "/message", json={"payload": {}})
    assert bad.status_code == 400 and "source" in bad.json()["error"]["fields"]


def test_send_delivers_through_the_registry(server: Server, registry_file: Path) -> None:
    with FakeService() as target:
        registry.register(
            registry_file,
            {
                **registry.our_entry(),
                "name": "fake-target",
                "url_local": target.url,
                "url_production": "",
            },
        )
        sent = httpx.post(
            server.url + "/send",
            json={"target": "fake-target", "message_type": "build_done", "payload": {"id": 7}},
        )
        assert sent.status_code == 200
        body = sent.json()
        assert body["sent"] is True and body["trace_id"]
        (delivered,) = target.received
        assert delivered["source"] == "unified-assembly-line"
        assert delivered["trace_id"] == body["trace_id"]
        assert (delivered["message_type"], delivered["payload"]) == ("build_done", {"id": 7})
    unknown = httpx.post(server.url + "/send", json={"target": "nobody", "message_type": "x"})
    assert unknown.status_code == 200
    assert unknown.json()["sent"] is False and "not in the registry" in unknown.json()["error"]

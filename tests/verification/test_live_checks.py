"""The live checks (levels 1, 2, 5, 6) against a real HTTP server started by the test."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from intents.models import Intent
from tests.conftest import SPEC_OK
from tests.verification.fakeservice import FakeService
from verification.checks import live, live_production

PROD_FILES = ["README.md", "SPEC.md", "docs/api.md", "Dockerfile"]


@pytest.fixture
def service() -> Iterator[FakeService]:
    with FakeService() as svc:
        yield svc


def run(check_class: type[live.Checker], service_url: str, level: Any = 1, **options: Any):
    intent = Intent(id="i-1", title="demo", spec_text=SPEC_OK)
    artifacts = {
        "deployment_url": service_url,
        "files": PROD_FILES,
        "rollback_plan": "redeploy the previous image",
    }
    # Unsafe methods on: these tests judge what the probes find (the policy that turns them
    # off by default has its own tests in tests/security/test_egress.py).
    options = {"timeout": 2.0, "unsafe_methods": True, **options}
    return check_class(level=level, **options).run(intent, artifacts)


def refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # closed again: nothing listens there


LIVE = [
    live.HealthCheck,
    live.EndpointsCheck,
    live.MalformedBodyCheck,
    live.UdcComplianceCheck,
    live_production.NoTracebackCheck,
    live_production.ProductionProbeCheck,
]


@pytest.mark.parametrize("check", LIVE)
def test_every_live_check_passes_against_a_good_service(service: FakeService, check: Any) -> None:
    result = run(check, service.url)
    assert result.passed, result.detail


@pytest.mark.parametrize("check", LIVE)
def test_refused_says_refused(check: Any) -> None:
    result = run(check, refused_url())
    assert not result.passed
    assert "refused" in result.detail


@pytest.mark.parametrize("check", [live.HealthCheck, live.UdcComplianceCheck])
def test_timeout_says_timeout(service: FakeService, check: Any) -> None:
    service.mode = "timeout"
    result = run(check, service.url, timeout=0.3)
    assert not result.passed
    assert "timeout" in result.detail


def test_no_deployment_url_fails_with_the_reason() -> None:
    result = live.HealthCheck(level=1).run(Intent(id="i"), {})
    assert not result.passed
    assert "no deployment_url" in result.detail


def test_health_500_says_status(service: FakeService) -> None:
    service.mode = "health_500"
    result = run(live.HealthCheck, service.url)
    assert not result.passed
    assert "status 500" in result.detail


def test_health_status_must_be_healthy_and_is_configurable(service: FakeService) -> None:
    service.mode = "health_degraded"
    result = run(live.HealthCheck, service.url)
    assert not result.passed and "'degraded'" in result.detail
    assert run(live.HealthCheck, service.url, healthy_statuses=["ok", "degraded"]).passed


def test_documented_endpoint_answering_5xx_fails(service: FakeService) -> None:
    service.mode = "endpoint_500"
    result = run(live.EndpointsCheck, service.url)
    assert not result.passed
    assert "GET /hello: status 500" in result.detail


def test_malformed_body_answered_with_5xx_fails(service: FakeService) -> None:
    service.mode = "malformed_500"
    result = run(live.MalformedBodyCheck, service.url)
    assert not result.passed
    assert "status 500, expected a 4xx" in result.detail


def test_udc_wrong_shape_names_the_missing_fields(service: FakeService) -> None:
    service.mode = "wrong_shape"
    result = run(live.UdcComplianceCheck, service.url, level=2)
    assert not result.passed
    assert "1 of 6" in result.detail
    assert "GET /capabilities: missing field(s) features, dependencies, udc_version" in (
        result.detail
    )


def test_udc_probe_sends_a_full_message(service: FakeService) -> None:
    assert run(live.UdcComplianceCheck, service.url, level=2).passed
    message = next(m for m in service.received if "source" in m)
    assert set(message) == {"trace_id", "source", "target", "message_type", "payload", "timestamp"}


def test_traceback_in_an_error_response_fails_level_5(service: FakeService) -> None:
    service.mode = "traceback"
    result = run(live_production.NoTracebackCheck, service.url, level=5)
    assert not result.passed
    assert "stack trace in error response" in result.detail


def test_slow_service_fails_the_latency_probe(service: FakeService) -> None:
    service.delay = 0.06
    result = run(live_production.ProductionProbeCheck, service.url, level=6, requests=10, p95_ms=50)
    assert not result.passed
    assert "p95" in result.detail and "not under 50 ms" in result.detail
    # The same service within a looser bound passes.
    assert run(
        live_production.ProductionProbeCheck, service.url, level=6, requests=10, p95_ms=500
    ).passed


def test_production_probe_prefers_production_url(service: FakeService) -> None:
    intent = Intent(id="i")
    check = live_production.ProductionProbeCheck(level=6, timeout=2.0, requests=5)
    result = check.run(intent, {"deployment_url": refused_url(), "production_url": service.url})
    assert result.passed, result.detail


def test_registry_check(service: FakeService, tmp_path: Any) -> None:
    registry = tmp_path / "SERVICE_REGISTRY.json"
    check = live.RegistryCheck
    assert run(check, service.url, level=2).passed  # no registry configured: nothing to check
    registry.write_text(json.dumps({"services": [{"name": "other", "url_local": "x"}]}))
    result = run(check, service.url, level=2, registry_path=str(registry))
    assert not result.passed and "not in the service registry" in result.detail
    registry.write_text(json.dumps({"services": [{"name": "fake", "url_local": "x"}]}))
    assert run(check, service.url, level=2, registry_path=str(registry)).passed
    registry.write_text("{not json")
    result = run(check, service.url, level=2, registry_path=str(registry))
    assert not result.passed and "unreadable" in result.detail


@pytest.mark.parametrize(
    ("files", "plan", "expected"),
    [
        (PROD_FILES, "roll back", None),
        (["SPEC.md", "docs/api.md", "Dockerfile"], "roll back", "missing README"),
        (["README.md", "docs/api.md", "Dockerfile"], "roll back", "missing SPEC"),
        (["README.md", "SPEC.md", "Dockerfile"], "roll back", "missing API docs"),
        (
            ["README.md", "SPEC.md", "openapi.yaml"],
            "roll back",
            "missing Dockerfile or deploy script",
        ),
        (["README.md", "SPEC.md", "openapi.yaml", "deploy/app.service"], "roll back", None),
        (PROD_FILES, "", "no rollback_plan"),
        ("README.md", "roll back", "no files list"),
    ],
)
def test_production_artifacts(files: Any, plan: str, expected: str | None) -> None:
    result = live_production.ReadinessArtifactsCheck(level=6).run(
        Intent(id="i"), {"files": files, "rollback_plan": plan}
    )
    assert result.passed is (expected is None), result.detail
    if expected:
        assert expected in result.detail


@pytest.mark.django_db(transaction=False)
def test_live_checks_refuse_to_run_inside_a_transaction(service: FakeService) -> None:
    # pytest-django's `db` wraps this test in a transaction, as a request with a lock would be.
    with pytest.raises(RuntimeError, match="inside a database transaction"):
        run(live.HealthCheck, service.url)

"""The OpenAPI schema: generated without a warning, valid, every API endpoint documented with
its errors and the bearer scheme; Swagger UI served from our own static files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver

NOT_API = ("admin/", "api/schema/", "api/docs/", "assembly-line/dashboard", "metrics")


def api_paths() -> set[str]:
    found = set()

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                if not route.startswith(NOT_API):
                    walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and not route.startswith(NOT_API):
                found.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))

    walk(get_resolver().url_patterns, "")
    return found


@pytest.fixture(scope="module")
def schema(tmp_path_factory: Any) -> dict[str, Any]:
    path = Path(tmp_path_factory.mktemp("schema")) / "schema.yaml"
    # --fail-on-warn: any warning (an undocumented body, a name collision) fails the test.
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(path))
    return yaml.safe_load(path.read_text())


def test_every_endpoint_is_in_the_schema(schema: dict[str, Any]) -> None:
    assert api_paths() - set(schema["paths"]) == set()
    assert len(schema["paths"]) >= 20


def test_every_operation_documents_answers_errors_and_auth(schema: dict[str, Any]) -> None:
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        **schema["components"]["securitySchemes"]["bearerAuth"],
        "type": "http",
        "scheme": "bearer",
    }
    open_paths = {"/health", "/capabilities", "/state", "/dependencies", "/message", "/send"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation.get("operationId"), (path, method)
            assert operation.get("summary"), (path, method)
            ok = [code for code in operation["responses"] if code.startswith("2")]
            assert ok and "content" in operation["responses"][ok[0]], (path, method)
            if path in open_paths:
                continue
            assert {"bearerAuth": []} in operation["security"], (path, method)
            for code in ("401", "403"):
                error = operation["responses"][code]["content"]["application/json"]["schema"]
                assert error == {"$ref": "#/components/schemas/Error"}, (path, method, code)
            if method == "post":
                assert "400" in operation["responses"], path


def test_the_spec_contract_shapes_are_documented(schema: dict[str, Any]) -> None:
    parts = schema["components"]["schemas"]
    assert {"intent_id", "status", "estimated_start"} <= set(parts["SubmitAnswer"]["properties"])
    assert {"intent", "assigned"} <= set(parts["WorkAnswer"]["properties"])
    assert {"updated", "current_state"} <= set(parts["ProgressAnswer"]["properties"])
    assert {"completed", "auto_advanced", "next_phase"} <= set(
        parts["CompleteAnswer"]["properties"]
    )
    assert {"passed", "level", "checks", "can_advance"} <= set(parts["VerifyAnswer"]["properties"])
    assert {"queue_depth", "in_progress", "executors", "metrics"} <= set(
        parts["LineState"]["properties"]
    )
    wait = next(
        p
        for p in schema["paths"]["/assembly-line/work/next"]["get"]["parameters"]
        if p["name"] == "wait"
    )
    assert wait["schema"]["maximum"] == 30


@pytest.mark.django_db
def test_swagger_ui_is_served_from_our_static_files(client: Any) -> None:
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.")

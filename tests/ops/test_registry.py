"""Registering in the platform's SERVICE_REGISTRY.json: create, update in place, every other
entry untouched, atomic replace; by command and as a server process starts."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from tests.servers import Server

OTHERS = [
    {
        "name": "billing",
        "description": "bills",
        "status": "active",
        "port": 8001,
        "url_local": "http://127.0.0.1:8001",
        "url_production": "https://billing.example",
        "tech_stack": ["go"],
        "dependencies": [],
        "created_at": "2025-01-01T00:00:00Z",
        "last_deployed": "2025-06-01T00:00:00Z",
        "owner": "team-a",
    },
    {"name": "search", "status": "maintenance", "port": 8002, "custom": {"keep": [1, 2]}},
]


@pytest.fixture
def registry_file(tmp_path: Path) -> Path:
    path = tmp_path / "platform" / "SERVICE_REGISTRY.json"
    path.parent.mkdir()
    path.write_text(
        json.dumps(
            {
                "registry_version": "2.1",
                "last_updated": "2025-06-01",
                "total_services": 2,
                "services": OTHERS,
                "platform": "droplets",
            },
            indent=2,
        )
    )
    return path


def register(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("register", "--path", str(path), *args, stdout=out)
    return out.getvalue()


def test_register_creates_then_updates_in_place(registry_file: Path, settings: Any) -> None:
    assert "created unified-assembly-line" in register(
        registry_file, "--url-local", "http://127.0.0.1:8950"
    )
    data = json.loads(registry_file.read_text())
    assert data["services"][:2] == OTHERS  # untouched, in their places
    ours = data["services"][2]
    assert {k: ours[k] for k in ("name", "status", "port", "url_local")} == {
        "name": "unified-assembly-line",
        "status": "active",
        "port": settings.SERVICE_PORT,
        "url_local": "http://127.0.0.1:8950",
    }
    assert set(ours) >= {
        "name",
        "description",
        "status",
        "port",
        "url_local",
        "url_production",
        "tech_stack",
        "dependencies",
        "created_at",
        "last_deployed",
    }
    assert data["total_services"] == 3 and data["registry_version"] == "2.1"
    assert data["platform"] == "droplets" and data["last_updated"] != "2025-06-01"

    # Someone adds a field to our entry and a service after it; we update in place.
    ours["notes"] = "kept"
    data["services"].append({"name": "later", "status": "active"})
    registry_file.write_text(json.dumps(data))
    reader = registry_file.open()  # a reader holding the old file while we write
    assert "updated unified-assembly-line" in register(
        registry_file, "--status", "maintenance", "--url-production", "https://line.example"
    )
    again = json.loads(registry_file.read_text())
    assert [s["name"] for s in again["services"]] == [
        "billing",
        "search",
        "unified-assembly-line",
        "later",
    ]
    updated = again["services"][2]
    assert updated["created_at"] == ours["created_at"]  # kept from the first registration
    assert updated["last_deployed"] >= ours["last_deployed"]
    assert (updated["status"], updated["url_production"], updated["notes"]) == (
        "maintenance",
        "https://line.example",
        "kept",
    )
    assert again["services"][:2] == OTHERS and again["total_services"] == 4
    # Atomic: the old file was replaced, not rewritten under the reader; no temp file left.
    assert json.loads(reader.read())["services"][2].get("status") == "active"
    reader.close()
    assert [p.name for p in registry_file.parent.iterdir()] == [registry_file.name]


def test_register_refuses_a_broken_registry_and_leaves_it(registry_file: Path) -> None:
    registry_file.write_text('{"services": "not a list"}')
    with pytest.raises(CommandError, match="not a service registry"):
        register(registry_file)
    assert registry_file.read_text() == '{"services": "not a list"}'
    with pytest.raises(CommandError, match="no registry"):
        call_command("register", "--path", "")


def test_a_missing_registry_is_created(tmp_path: Path) -> None:
    path = tmp_path / "new-platform" / "SERVICE_REGISTRY.json"
    register(path)
    data = json.loads(path.read_text())
    assert [s["name"] for s in data["services"]] == ["unified-assembly-line"]


@pytest.mark.django_db(transaction=True)
def test_a_server_process_registers_as_it_starts(registry_file: Path, postgres: None) -> None:
    server = Server(
        {
            "REGISTER_ON_START": "true",
            "SERVICE_REGISTRY_PATH": str(registry_file),
            "SERVICE_URL_LOCAL": "http://127.0.0.1:9999",
        }
    ).start()
    server.stop()
    data = json.loads(registry_file.read_text())
    assert data["services"][:2] == OTHERS
    assert data["services"][2]["url_local"] == "http://127.0.0.1:9999"
    assert '"event": "registered"' in server.output_all()

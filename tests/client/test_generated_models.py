"""Clients and models generated from /api/schema/ by two generators with their default
options (openapi-python-client, datamodel-code-generator) read real answers (issue 17, item
10): /state with an executor at work (current_work set) and one that never beat
(current_work and last_heartbeat null), and a claim."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.client.test_client import SPEC_OK, executor_token, submitter_token
from tests.servers import Server

pytestmark = pytest.mark.django_db(transaction=True)


def line_with_work(server: Server) -> tuple[str, dict[str, Any]]:
    """An intent claimed by one executor, a second executor idle and never seen; /state."""
    worker = executor_token("gen-worker")
    executor_token("gen-never-seen")
    with server.client(submitter_token()) as submitter:
        submitted = submitter.post(
            "/assembly-line/intent", json={"title": "generated", "spec_text": SPEC_OK}
        )
        assert submitted.status_code in (200, 201), submitted.text
    with server.client(worker) as api:
        claimed = api.get("/assembly-line/work/next", params={"executor_id": "gen-worker"})
        assert claimed.json()["assigned"] is True
        state = api.get("/assembly-line/state").json()
    assert state["executors"]["gen-never-seen"]["current_work"] is None
    assert state["executors"]["gen-never-seen"]["last_heartbeat"] is None
    assert state["executors"]["gen-worker"]["current_work"] is not None
    return worker, state


def schema_file(server: Server, tmp_path: Path) -> Path:
    schema = tmp_path / "schema.json"
    schema.write_bytes(httpx.get(server.url + "/api/schema/?format=json").content)
    return schema


def test_datamodel_code_generator_models_parse_a_real_state(server: Server, tmp_path: Path) -> None:
    _, state = line_with_work(server)
    generate = subprocess.run(
        [
            Path(sys.executable).with_name("datamodel-codegen"),
            "--input",
            str(schema_file(server, tmp_path)),
            "--output",
            str(tmp_path / "line_models.py"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert generate.returncode == 0, generate.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        models = importlib.import_module("line_models")
    finally:
        sys.path.remove(str(tmp_path))
    parsed = models.LineState.model_validate(state)
    assert parsed.executors["gen-never-seen"].current_work is None
    assert (
        parsed.executors["gen-worker"].current_work
        == state["executors"]["gen-worker"]["current_work"]
    )
    assert parsed.queue_depth == state["queue_depth"]


def test_openapi_python_client_parses_a_real_state(server: Server, tmp_path: Path) -> None:
    worker, state = line_with_work(server)
    config = tmp_path / "config.yaml"
    config.write_text("post_hooks: []\npackage_name_override: generated_state\n")
    generate = subprocess.run(
        [
            Path(sys.executable).with_name("openapi-python-client"),
            "generate",
            "--path",
            str(schema_file(server, tmp_path)),
            "--output-path",
            str(tmp_path / "generated_state"),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert generate.returncode == 0, generate.stdout + generate.stderr
    assert "Warning" not in generate.stdout, generate.stdout
    sys.path.insert(0, str(tmp_path))
    try:
        generated = importlib.import_module("generated_state")
        line_state = importlib.import_module("generated_state.api.line.line_state")
    finally:
        sys.path.remove(str(tmp_path))
    client = generated.AuthenticatedClient(base_url=server.url, token=worker)
    parsed = line_state.sync(client=client)
    assert parsed is not None and not isinstance(parsed, dict), parsed
    never_seen = parsed.executors["gen-never-seen"]
    assert never_seen.current_work is None and never_seen.last_heartbeat is None
    assert (
        parsed.executors["gen-worker"].current_work
        == state["executors"]["gen-worker"]["current_work"]
    )

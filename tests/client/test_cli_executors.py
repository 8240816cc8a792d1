"""The client distribution against a real server process (uvicorn on the test database):
a full life of an intent driven by two `assembly-line work` executors, one local and one
server, each taking the phases routed to it; `submit`, `status` and `watch` from the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from executors.models import Executor, Role
from executors.services import token_create
from intents.models import Intent, IntentEvent
from tests.reliability.test_faults import wait_until
from tests.servers import ROOT, Server

pytestmark = pytest.mark.django_db(transaction=True)
SCRIPT = Path(__file__).with_name("phase_script.py")
CLI = [sys.executable, "-m", "assembly_line_client.cli"]


# The `server` of these tests (tests/conftest.py, one process for the module). Spec and build
# on laptops, test and production on the server AI (for intents whose environment_preference
# is `either`); separation of duties as in production.
SERVER_ENV = {
    "PHASE_ROUTING": "spec:local,build:local,test:server,production:server",
    "SEPARATE_DUTIES_PHASES": "test,production",
    "RETRY_BACKOFF_SECONDS": "0",
}


def executor_token(executor_id: str, environment: str) -> str:
    executor = Executor.objects.create(
        executor_id=executor_id,
        environment=environment,
        executor_type="claude_code" if environment == "local" else "server_ai",
    )
    return token_create(name=executor_id, role=Role.EXECUTOR, executor=executor)[1]


def cli_env(server: Server, token: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "ASSEMBLY_LINE_URL": server.url, "ASSEMBLY_LINE_TOKEN": token, **extra}


def test_two_cli_executors_drive_an_intent_through_all_phases(
    server: Server, tmp_path: Path
) -> None:
    local_token = executor_token("cli-local", "local")
    server_token = executor_token("cli-server", "server")
    submitter = token_create(name="cli-user", role=Role.SUBMITTER)[1]
    record = tmp_path / "record"
    record.mkdir()

    submitted = subprocess.run(
        [
            *CLI,
            "submit",
            "--title",
            "cli-built",
            "--spec-path",
            "not-written-yet.md",
            "--priority",
            "8",
            "--json",
        ],
        env=cli_env(server, submitter),
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert submitted.returncode == 0, submitted.stderr
    intent_id = json.loads(submitted.stdout)["intent_id"]
    assert Intent.objects.get(pk=intent_id).current_phase == "spec"

    workers = []
    for executor_id, environment, token in [
        ("cli-local", "local", local_token),
        ("cli-server", "server", server_token),
    ]:
        workers.append(
            subprocess.Popen(
                [
                    *CLI,
                    "work",
                    "--executor-id",
                    executor_id,
                    "--environment",
                    environment,
                    "--wait",
                    "5",
                    "--heartbeat",
                    "2",
                    "--",
                    sys.executable,
                    str(SCRIPT),
                ],
                env=cli_env(server, token, RECORD_DIR=str(record), FAIL_PHASE="build"),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=ROOT,
            )
        )
    try:
        wait_until(
            lambda: Intent.objects.get(pk=intent_id).status == "completed",
            90,
            "the intent to complete",
        )
    finally:
        for worker in workers:
            worker.terminate()
        outputs = [worker.communicate(timeout=20)[0] for worker in workers]
    intent = Intent.objects.get(pk=intent_id)
    assert intent.verification_level == 6

    # Who took what: the routing, and separation of duties between build and test.
    claims = list(
        IntentEvent.objects.filter(intent=intent, kind="assigned")
        .order_by("id")
        .values_list("to_phase", "executor_id")
    )
    assert claims == [
        ("spec", "cli-local"),
        ("build", "cli-local"),
        ("build", "cli-local"),
        ("test", "cli-server"),
        ("production", "cli-server"),
    ], claims
    # The failed first build was reported (non-zero exit) with the command's output.
    failed = IntentEvent.objects.filter(intent=intent, kind="requeued").get()
    assert failed.payload["why"] == "gate_failed"
    completed = IntentEvent.objects.filter(intent=intent, kind="completed", from_phase="build")
    assert [e.payload["reported_status"] for e in completed.order_by("id")] == [
        "failed",
        "completed",
    ]
    assert "something broke" in intent.artifacts["error_output"]
    # PROGRESS lines became progress reports.
    messages = list(
        IntentEvent.objects.filter(intent=intent, kind="progress").values_list("payload", flat=True)
    )
    assert {"progress": 0.6, "message": "test step 0.6"}.items() <= next(
        m for m in messages if m.get("message") == "test step 0.6"
    ).items()
    assert len(messages) == 3 * 5  # 3 per run: spec, build twice, test, production
    # The command got the intent on stdin and in its environment; the retry its handoff.
    test_run = json.loads((record / "test-cli-server.json").read_text())
    assert test_run["stdin"]["intent"]["id"] == intent_id
    assert test_run["env"]["ASSEMBLY_LINE_PHASE"] == "test"
    assert test_run["stdin"]["intent"]["artifacts"]["commit"] == "c0ffee"
    build_retry = json.loads((record / "build-cli-local.json").read_text())
    assert build_retry["stdin"]["handoff"]["attempt"] == 2
    assert build_retry["stdin"]["handoff"]["returned"]["why"] == "gate_failed"
    assert f"claimed {intent_id}" in outputs[0] and f"claimed {intent_id}" in outputs[1]


def test_status_and_watch_commands(server: Server) -> None:
    viewer = token_create(name="cli-viewer", role=Role.VIEWER)[1]
    submitter = token_create(name="cli-user", role=Role.SUBMITTER)[1]
    executor_token("cli-local", "local")
    watcher = subprocess.Popen(
        [*CLI, "watch", "--count", "1", "--json"],
        env=cli_env(server, viewer),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        time.sleep(1.5)  # connected: the snapshot is its first line
        submitted = subprocess.run(
            [*CLI, "submit", "--title", "watched", "--spec-path", "x.md"],
            env=cli_env(server, submitter),
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
        )
        assert submitted.returncode == 0, submitted.stderr
        out, err = watcher.communicate(timeout=20)
    finally:
        watcher.kill()
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["type"] == "snapshot"
    assert lines[1]["type"] == "event" and lines[1]["event"]["type"] == "submitted"

    status = subprocess.run(
        [*CLI, "status"],
        env=cli_env(server, viewer),
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert status.returncode == 0, status.stderr
    assert "queue depth 1" in status.stdout
    assert "cli-local" in status.stdout and "offline" in status.stdout

    refused = subprocess.run(
        [*CLI, "submit", "--title", "x", "--spec-path", "x.md"],
        env=cli_env(server, viewer),
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert refused.returncode == 1
    assert "403 permission_denied" in refused.stderr

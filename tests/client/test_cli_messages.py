"""What the CLI tells a person: the `work` loop's words for each gate decision, the help
texts, and `watch` lines that name the intent (issue 17, items 6 and 7)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from executors.models import Role
from executors.services import token_create
from tests.client.test_cli_executors import CLI, SCRIPT, cli_env, executor_token
from tests.servers import ROOT, Server

SPEC = """# messages - SPEC
## Purpose
Says what happened.
## Requirements
- [ ] answers
## API Specs
GET /health
## Dependencies
None
## Success Criteria
- [ ] it works
"""


@pytest.fixture
def server(postgres: None) -> Iterator[Server]:
    # One executor takes every phase of its intents: no separation of duties here.
    running = Server({"SEPARATE_DUTIES_PHASES": "none", "RETRY_BACKOFF_SECONDS": "0"}).start()
    try:
        yield running
    finally:
        running.stop()


def submit(server: Server, token: str, title: str, *extra: str) -> str:
    done = subprocess.run(
        [*CLI, "submit", "--title", title, "--json", *extra],
        env=cli_env(server, token),
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["intent_id"])


def work(server: Server, token: str, items: int, tmp_path: Path, **env: str) -> str:
    done = subprocess.run(
        [
            *CLI,
            "work",
            "--executor-id",
            "msg-exec",
            "--wait",
            "5",
            "--max-items",
            str(items),
            "--",
            sys.executable,
            str(SCRIPT),
        ],
        env=cli_env(server, token, RECORD_DIR=str(tmp_path), **env),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.django_db(transaction=True)
def test_work_says_what_each_gate_decided(server: Server, tmp_path: Path) -> None:
    token = executor_token("msg-exec", "local")
    submitter = token_create(name="msg-user", role=Role.SUBMITTER)[1]
    spec = tmp_path / "spec.md"
    spec.write_text(SPEC)

    reviewed = submit(server, submitter, "reviewed", "--spec-file", str(spec), "--review")
    out = work(server, token, 2, tmp_path)
    assert f"handed in {reviewed} build (completed); gate passed; next phase test" in out
    assert f"handed in {reviewed} test (completed); gate passed; awaiting review" in out
    assert "did not pass" not in out

    plain = submit(server, submitter, "plain", "--spec-file", str(spec))
    out = work(server, token, 4, tmp_path, GATE_FAIL_PHASE="test")
    assert (
        f"handed in {plain} test (completed); gate failed: test_coverage (level 3): "
        f"2 test(s) failed; back in the queue for test"
    ) in out
    assert f"handed in {plain} test (completed); gate passed; next phase production" in out
    assert f"handed in {plain} production (completed); gate passed; intent completed" in out

    broken = submit(server, submitter, "broken", "--spec-file", str(spec))
    out = work(server, token, 1, tmp_path, FAIL_PHASE="build")
    assert (
        f"handed in {broken} build (failed); reported failed, no gate ran; "
        f"back in the queue for build"
    ) in out

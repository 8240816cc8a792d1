"""What the CLI tells a person: the `work` loop's words for each gate decision, the help
texts, and `watch` lines that name the intent (issue 17, items 6 and 7)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
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


# The `server` of these tests (tests/conftest.py, one process for the module). One executor
# takes every phase of its intents: no separation of duties here.
SERVER_ENV = {"SEPARATE_DUTIES_PHASES": "none", "RETRY_BACKOFF_SECONDS": "0"}


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


def run_help(*args: str) -> str:
    done = subprocess.run(
        [*args, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_global_options_name_their_env_vars() -> None:
    lines = run_help(*CLI).splitlines()
    for option, env in [
        ("--url", "ASSEMBLY_LINE_URL"),
        ("--token", "ASSEMBLY_LINE_TOKEN"),
        ("--retries", "ASSEMBLY_LINE_RETRIES"),
    ]:
        assert any(line.lstrip().startswith(option) and env in line for line in lines), option


def test_retries_come_from_the_environment_and_a_bad_value_is_one_clear_line() -> None:
    bad = subprocess.run(
        [*CLI, "status"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "ASSEMBLY_LINE_RETRIES": "many"},
    )
    assert bad.returncode != 0
    assert (
        bad.stderr.strip() == "assembly-line: ASSEMBLY_LINE_RETRIES must be a whole "
        "number, not 'many'"
    )


def test_assemblyline_help_describes_its_commands() -> None:
    out = run_help(sys.executable, "-m", "assemblyline")
    assert re.search(r"^\s+serve\s+run the service", out, re.M), out
    assert re.search(r"^\s+demo\s+run the service with demo data", out, re.M), out
    assert "{serve,demo}" not in out


def test_submit_help_says_a_spec_is_required() -> None:
    out = run_help(*CLI, "submit")
    assert "(--spec-path SPEC_PATH | --spec-file SPEC_FILE)" in out
    assert "A spec is required" in out
    missing = subprocess.run(
        [*CLI, "submit", "--title", "x"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert missing.returncode == 2
    assert "one of the arguments --spec-path --spec-file is required" in missing.stderr


@pytest.mark.django_db(transaction=True)
def test_watch_prints_title_phase_status_change_progress_and_message(
    server: Server, tmp_path: Path
) -> None:
    token = executor_token("msg-exec", "local")
    submitter = token_create(name="msg-user", role=Role.SUBMITTER)[1]
    viewer = token_create(name="msg-viewer", role=Role.VIEWER)[1]
    spec = tmp_path / "spec.md"
    spec.write_text(SPEC)
    # submitted, verified, advanced (spec), executor_online, assigned, 3 progress, completed,
    # verified, advanced (build): eleven events.
    watcher = subprocess.Popen(
        [*CLI, "watch", "--count", "11"],
        env=cli_env(server, viewer),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        time.sleep(1.5)  # connected
        intent_id = submit(server, submitter, "watched-one", "--spec-file", str(spec))
        work(server, token, 1, tmp_path)
        out, err = watcher.communicate(timeout=30)
    finally:
        watcher.kill()
    lines = out.splitlines()[1:]  # after the snapshot line
    assert len(lines) == 11, out + err
    about_intent = [line for line in lines if " executor_online " not in line]
    assert len(about_intent) == 10
    assert all("'watched-one'" in line and intent_id not in line for line in about_intent), out
    expected = [
        r"assigned 'watched-one' build queued -> assigned by msg-exec",
        r"progress 'watched-one' build assigned -> in_progress 30% \"build step 0.3\" by msg-exec",
        r"progress 'watched-one' build in_progress 60% \"build step 0.6\" by msg-exec",
        r"advanced 'watched-one' build -> test in_progress -> queued by (executor:)?msg-exec",
    ]
    for pattern in expected:
        assert any(re.fullmatch(r"\d\d:\d\d:\d\d " + pattern, line) for line in lines), (
            pattern,
            out,
        )
    # Never the same phase/status on both sides of an arrow.
    assert not re.search(r"(\S+) -> \1(\s|$)", out), out

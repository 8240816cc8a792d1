"""`assembly-line mcp` against a real server (uvicorn on the test database), driven through the
official MCP SDK's clients as an AI session's host drives it: over stdio (the host starts the
command) and over streamable HTTP (`--http PORT`).

MCP_TRANSCRIPT=<file> writes the stdio session's calls and answers there (the transcript in
client/README.md comes from it)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from assembly_line_client import Client
from django.db import connection
from django.utils import timezone
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from executors.models import Executor, Role
from executors.services import token_create
from intents import services
from intents.models import EventKind, Intent
from tests.conftest import GOOD_QUALITY, GOOD_SECURITY, GOOD_TESTS, SPEC_OK
from tests.reliability.test_faults import wait_until
from tests.servers import ROOT, Server, free_port

pytestmark = pytest.mark.django_db(transaction=True)

TOOLS = {"claim_work", "report_progress", "hand_in", "verify", "line_state", "submit_intent"}
FAILING_TESTS = {
    "test_results": {"passed": 40, "failed": 2, "skipped": 0, "coverage": 91.0},
    "quality": GOOD_QUALITY,
    "security": GOOD_SECURITY,
}
PASSING_TESTS = {"test_results": GOOD_TESTS, "quality": GOOD_QUALITY, "security": GOOD_SECURITY}


def command() -> list[str]:
    """The `assembly-line` console script of this environment."""
    script = Path(sys.executable).with_name("assembly-line")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "assembly_line_client.cli"]


# The `server` of these tests (tests/conftest.py, one process for the module). A short lease
# and a fast reaper: work survives only through the MCP server's heartbeats.
SERVER_ENV = {
    "RETRY_BACKOFF_SECONDS": "0",
    "LEASE_SECONDS": "4",
    "REAPER": "true",
    "REAPER_INTERVAL_SECONDS": "0.5",
}


def executor_token(executor_id: str) -> str:
    executor = Executor.objects.create(executor_id=executor_id, environment="local")
    return token_create(name=executor_id, role=Role.EXECUTOR, executor=executor)[1]


def built_intent(server: Server) -> str:
    """An intent whose build phase another executor did: the next phase is TEST (which its
    builder may not take: separation of duties)."""
    submitter = token_create(name="mcp-user", role=Role.SUBMITTER)[1]
    with Client(server.url, submitter) as line:
        intent_id = line.submit("mcp-built", spec_text=SPEC_OK, priority=7).intent_id
    with Client(server.url, executor_token("builder")) as line:
        work = line.next_work("builder")
        assert work.intent is not None and work.intent.id == intent_id
        done = line.complete(
            intent_id,
            "builder",
            {
                "build_output": "ok",
                "commit": "c0ffee",
                "files": ["app.py"],
                "deployment_url": "http://127.0.0.1:9/",
            },
        )
        assert done.next_phase == "test"
    return intent_id


def env(server: Server, token: str, executor_id: str) -> dict[str, str]:
    return {
        "ASSEMBLY_LINE_URL": server.url,
        "ASSEMBLY_LINE_TOKEN": token,
        "ASSEMBLY_LINE_EXECUTOR_ID": executor_id,
        "ASSEMBLY_LINE_HEARTBEAT_SECONDS": "1",
        "PATH": os.environ.get("PATH", ""),
    }


class Session:
    """Calls tools and keeps the transcript."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session
        self.transcript: list[dict[str, Any]] = []

    async def call(self, tool: str, **arguments: Any) -> tuple[bool, Any]:
        result = await self.session.call_tool(tool, arguments)
        answer = result.structured_content
        if answer is None:
            answer = " ".join(getattr(block, "text", "") for block in result.content)
        self.transcript.append(
            {"tool": tool, "arguments": arguments, "is_error": result.is_error, "result": answer}
        )
        return result.is_error, answer


def reap_lease(intent_id: str) -> None:
    """The reaper, run as if the lease had lapsed an hour ago (from a worker thread: the
    test's event loop runs in this one)."""
    try:
        assert services.lease_reap(
            intent_id=intent_id, now=timezone.now() + timedelta(hours=1), actor="test-clock"
        )
    finally:
        connection.close()


def test_an_ai_session_works_a_phase_through_the_mcp_tools_over_stdio(server: Server) -> None:
    intent_id = built_intent(server)
    token = executor_token("mcp-session")
    params = StdioServerParameters(
        command=command()[0],
        args=[*command()[1:], "mcp"],
        env=env(server, token, "mcp-session"),
        cwd=ROOT,
    )

    async def scenario() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        with open(os.devnull, "w") as quiet:
            async with (
                stdio_client(params, errlog=quiet) as (read, write),
                ClientSession(read, write) as mcp,
            ):
                await mcp.initialize()
                tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
                seen["tools"] = tools
                prompts = [
                    (await mcp.get_prompt("work_next_phase", args)).messages[0]
                    for args in (None, {"phase": "test"})
                ]
                seen["prompts"] = [m.content.text for m in prompts]  # type: ignore[union-attr]
                s = Session(mcp)
                seen["claim"] = await s.call("claim_work", wait_seconds=5)
                seen["progress"] = await s.call(
                    "report_progress",
                    intent_id=intent_id,
                    progress=0.5,
                    message="running the tests",
                )
                await asyncio.sleep(6)  # longer than the lease: the heartbeats keep it
                seen["dry_run"] = await s.call(
                    "verify", intent_id=intent_id, level=3, artifacts=FAILING_TESTS
                )
                seen["failed"] = await s.call(
                    "hand_in", intent_id=intent_id, artifacts=FAILING_TESTS
                )
                seen["not_yours"] = await s.call(
                    "report_progress", intent_id=intent_id, progress=0.9, message="still at it"
                )
                seen["again"] = await s.call("claim_work", wait_seconds=5)
                seen["passed"] = await s.call(
                    "hand_in", intent_id=intent_id, artifacts=PASSING_TESTS
                )
                seen["production"] = await s.call("claim_work", wait_seconds=5)
                await asyncio.to_thread(reap_lease, intent_id)
                seen["lapsed"] = await s.call(
                    "report_progress", intent_id=intent_id, progress=0.1, message="deploying"
                )
                seen["production_again"] = await s.call("claim_work", wait_seconds=5)
                seen["state"] = await s.call("line_state")
                resource = await mcp.read_resource(f"intent://{intent_id}")
                seen["resource"] = json.loads(resource.contents[0].text)  # type: ignore[union-attr]
                spec = await mcp.read_resource(f"spec://{intent_id}")
                seen["spec"] = spec.contents[0].text  # type: ignore[union-attr]
                seen["hostile"] = await s.call("report_progress", intent_id=intent_id, progress=2.0)
                seen["traversal"] = await s.call(
                    "report_progress", intent_id="../state", progress=0.5
                )
                seen["bad_id"] = await s.call("hand_in", intent_id="int_" + "0" * 32, artifacts={})
                seen["submitted"] = await s.call(
                    "submit_intent", title="from the session", spec_text=SPEC_OK, priority=3
                )
                seen["no_spec"] = await s.call("submit_intent", title="no spec")
                with pytest.raises(MCPError) as missing:
                    await mcp.read_resource("intent://int_missing")
                seen["missing_resource"] = str(missing.value)
                seen["transcript"] = s.transcript
        # The session has ended here: the held production phase was handed back.
        return seen

    seen = asyncio.run(scenario())
    if os.environ.get("MCP_TRANSCRIPT"):
        Path(os.environ["MCP_TRANSCRIPT"]).write_text(json.dumps(seen["transcript"], indent=1))

    tools = seen["tools"]
    assert set(tools) == TOOLS
    assert all(len(tool.description or "") > 80 for tool in tools.values())
    assert tools["claim_work"].input_schema["properties"]["wait_seconds"]["maximum"] == 30
    assert tools["hand_in"].input_schema["properties"]["status"]["enum"] == ["completed", "failed"]
    every_phase, test_phase = seen["prompts"]
    for key in ("spec_text", "deployment_url", "test_results", "security", "rollback_plan"):
        assert key in every_phase
    assert "test_results" in test_phase and "rollback_plan" not in test_phase

    error, claim = seen["claim"]
    assert not error and claim["assigned"] and claim["intent_id"] == intent_id
    assert claim["phase"] == "test" and claim["handoff"]["attempt"] == 1
    assert claim["spec"] == SPEC_OK
    assert "test_results" in claim["must_hand_in"]["artifacts"]
    assert claim["handoff"]["artifacts_so_far"]["commit"] == "c0ffee"
    assert seen["progress"] == (False, {**seen["progress"][1], "status": "testing"})

    error, dry_run = seen["dry_run"]
    assert not error and dry_run["can_advance"] is False
    assert [c["check"] for c in dry_run["failed_checks"]] == ["test_coverage"]

    error, failed = seen["failed"]
    assert not error and failed["verdict"] == "failed"
    assert failed["failed_checks"] == [
        {"check": "test_coverage", "level": 3, "detail": "2 test(s) failed"}
    ]
    assert "test_coverage (level 3): 2 test(s) failed" in failed["summary"]
    assert failed["next_phase"] == "test" and failed["attempts"] == 1

    error, not_yours = seen["not_yours"]
    assert error and "you no longer hold intent" in not_yours
    assert "its gate failed" in not_yours and "Traceback" not in not_yours

    error, again = seen["again"]
    assert not error and again["intent_id"] == intent_id and again["phase"] == "test"
    assert again["handoff"]["attempt"] == 2 and again["handoff"]["why"] == "gate_failed"
    assert again["handoff"]["failed_checks"] == failed["failed_checks"]
    assert again["handoff"]["recent_progress"][-1]["message"] == "running the tests"

    error, passed = seen["passed"]
    assert not error and passed["verdict"] == "passed" and passed["failed_checks"] == []
    assert passed["next_phase"] == "production"
    assert "queued for the production phase" in passed["summary"]

    assert seen["production"][1]["phase"] == "production"
    error, lapsed = seen["lapsed"]
    assert (
        error
        and (f"you no longer hold intent {intent_id}: it was re-queued after your lease lapsed")
        in lapsed
    )
    assert seen["production_again"][1]["handoff"]["why"] == "lease_expired"

    state = seen["state"][1]
    assert state["you"] == {"executor_id": "mcp-session", "status": "busy", "holding": [intent_id]}
    assert state["in_progress"] == 1
    kinds = [event["kind"] for event in seen["resource"]["events"]]
    assert kinds.count("verified") >= 3 and "progress" in kinds
    assert seen["spec"] == SPEC_OK

    error, hostile = seen["hostile"]
    assert error and "less than or equal to 1" in hostile and "Traceback" not in hostile
    error, traversal = seen["traversal"]
    # One path segment, quoted: it names no other endpoint of the line.
    assert error and "intents/../state" in traversal and "check the id" in traversal
    error, bad_id = seen["bad_id"]
    assert error and "not found" in bad_id

    error, submitted = seen["submitted"]
    assert not error and submitted["current_phase"] == "build"
    assert Intent.objects.get(pk=submitted["intent_id"]).created_by == "executor:mcp-session"
    error, no_spec = seen["no_spec"]
    assert error and "give spec_text" in no_spec
    assert "int_missing" in seen["missing_resource"]

    # Released at the session's end: back in the production queue, why released.
    intent = Intent.objects.get(pk=intent_id)
    assert (intent.status, intent.current_phase, intent.assigned_to_id) == (
        "queued",
        "production",
        None,
    )
    last = intent.events.filter(kind=EventKind.REQUEUED).order_by("created_at", "id").last()
    assert last is not None and last.payload["why"] == "released"
    assert last.executor_id == "mcp-session"
    # The lease (4 s) outlived 6 s of silence from the agent: the heartbeats kept it.
    assert not intent.events.filter(
        kind=EventKind.REQUEUED, payload__why="lease_expired", actor="reaper"
    ).exists()


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "assembly-line mcp --http exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("assembly-line mcp --http did not listen")


def test_streamable_http_transport_claims_and_releases_on_shutdown(server: Server) -> None:
    intent_id = built_intent(server)
    token = executor_token("mcp-http")
    port = free_port()
    process = subprocess.Popen(
        [*command(), "mcp", "--http", str(port)],
        env={**os.environ, **env(server, token, "mcp-http")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)

        async def scenario() -> Any:
            async with (
                streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write),
                ClientSession(read, write) as mcp,
            ):
                await mcp.initialize()
                names = {tool.name for tool in (await mcp.list_tools()).tools}
                result = await mcp.call_tool("claim_work", {"wait_seconds": 5})
                second = await mcp.call_tool("claim_work", {"wait_seconds": 0})
                return names, result.structured_content, second.structured_content

        names, claim, second = asyncio.run(scenario())
        assert names == TOOLS
        # One at a time (max_concurrent 1): nothing more for it, with the line's reason.
        assert second == {
            "assigned": False,
            "summary": "nothing for you",
            "reason": "executor holds 1 intent(s), its max_concurrent",
        }
        assert claim["intent_id"] == intent_id and claim["phase"] == "test"
        assert Intent.objects.get(pk=intent_id).assigned_to_id == "mcp-http"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    wait_until(
        lambda: Intent.objects.get(pk=intent_id).status == "queued", 10, "the released intent"
    )
    last = Intent.objects.get(pk=intent_id).events.order_by("created_at", "id").last()
    assert last is not None and (last.kind, last.payload["why"]) == ("requeued", "released")


def mcp_server_pid() -> int:
    """The `assembly-line mcp` process this test process started."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            args = (stat.parent / "cmdline").read_bytes().decode().split("\0")
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and args[-2:] == ["mcp", ""]:
            found.append(int(stat.parent.name))
    (pid,) = found
    return pid


def test_a_host_that_stops_the_stdio_server_with_sigterm_gets_the_work_released(
    server: Server,
) -> None:
    intent_id = built_intent(server)
    token = executor_token("mcp-killed")
    params = StdioServerParameters(
        command=command()[0], args=[*command()[1:], "mcp"], env=env(server, token, "mcp-killed")
    )

    async def scenario() -> Any:
        with open(os.devnull, "w") as quiet:
            async with (
                stdio_client(params, errlog=quiet) as (read, write),
                ClientSession(read, write) as mcp,
            ):
                await mcp.initialize()
                claim = await mcp.call_tool("claim_work", {"wait_seconds": 5})
                os.kill(mcp_server_pid(), signal.SIGTERM)
                return claim.structured_content

    claim = asyncio.run(scenario())
    assert claim["intent_id"] == intent_id
    intent = Intent.objects.get(pk=intent_id)
    assert (intent.status, intent.assigned_to_id) == ("queued", None)
    last = intent.events.order_by("created_at", "id").last()
    assert last is not None and last.payload["why"] == "released"

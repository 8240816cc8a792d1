"""`assembly-line mcp`: the line as Model Context Protocol tools, resources and a prompt, so an
MCP-capable AI session (a coding assistant in a terminal or an editor) claims a phase, reports
progress, sees why its gate failed and hands in, with no wrapper script.

Needs the extra: `pip install "assembly-line-client[mcp]"` (the official `mcp` SDK). Runs on
stdio (the host starts it) or, with `--http PORT`, as a streamable-HTTP server on 127.0.0.1.
While the session holds work it heartbeats; when the session ends, work it still holds is
released to the queue (`POST /assembly-line/work/release`, `why: released`)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from pydantic import Field

from assembly_line_client import errors
from assembly_line_client.mcp_session import LineSession
from assembly_line_client.mcp_texts import intent_document
from assembly_line_client.phases import PHASES, protocol

IntentId = Annotated[
    str,
    Field(
        min_length=1, max_length=64, description="the intent's id, e.g. int_3f2c… (from claim_work)"
    ),
]
Phase = Literal["spec", "build", "test", "production"]

INSTRUCTIONS = (
    "Tools of a build assembly line (SPEC -> BUILD -> TEST -> PRODUCTION, a gate of checks "
    "before each move). Get the prompt work_next_phase for the protocol; in short: claim_work, "
    "report_progress while you work, verify as a dry run, hand_in the phase's artifacts and "
    "read the gate's verdict."
)


def build(session: LineSession) -> MCPServer[Any]:
    """The MCP server around one `LineSession`."""

    @contextlib.asynccontextmanager
    async def lifespan(_: MCPServer[Any]) -> AsyncIterator[None]:
        beats = asyncio.create_task(session.heartbeats())
        try:
            yield None
        finally:
            beats.cancel()
            with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                await session.release_all()
                await session.aclose()

    server: MCPServer[Any] = MCPServer(
        "assembly-line", instructions=INSTRUCTIONS, lifespan=lifespan, log_level="WARNING"
    )

    @server.tool()
    async def claim_work(
        wait_seconds: Annotated[
            float,
            Field(ge=0, le=30, description="seconds to wait for work to arrive (long poll), 0..30"),
        ] = 0,
    ) -> dict[str, Any]:
        """Claim the next phase of work for this executor. Returns the intent (id, title,
        phase, spec), the handoff (attempt; why it came back to the queue if it did: why,
        reason, failed_checks as (check, level, detail); recent_progress; artifacts so far)
        and must_hand_in (the artifact keys this phase's gate reads). Or assigned=false with
        the line's reason when nothing is there for you. The work is yours until you hand it
        in; this server heartbeats for you meanwhile."""
        return await session.claim(wait_seconds)

    @server.tool()
    async def report_progress(
        intent_id: IntentId,
        progress: Annotated[float, Field(ge=0, le=1, description="share of the phase done")],
        message: Annotated[str, Field(max_length=500, description="what you are doing now")] = "",
    ) -> dict[str, Any]:
        """Report progress on the phase you hold: people see it live, the next executor reads
        it if the work comes back, and it keeps your claim. Fails with an explanation if you
        no longer hold the intent (then stop working on it)."""
        return await session.progress(intent_id, progress, message)

    @server.tool()
    async def hand_in(
        intent_id: IntentId,
        artifacts: Annotated[
            dict[str, Any],
            Field(
                description="the phase's results as a JSON object, keyed as the gate reads them "
                "(see must_hand_in in claim_work, or the work_next_phase prompt)"
            ),
        ],
        status: Annotated[
            Literal["completed", "failed"],
            Field(
                description="completed: judge my artifacts; failed: I cannot do this phase "
                "(counts as a failed attempt)"
            ),
        ] = "completed",
    ) -> dict[str, Any]:
        """Hand in the phase you hold. The gate judges the artifacts at once and the answer is
        its verdict: passed (the build is queued for next_phase, or completed), or failed with
        failed_checks as a list of (check, level, detail) and the phase back in the queue.
        Either way the intent is no longer yours afterwards."""
        return await session.hand_in(intent_id, artifacts, status)

    @server.tool()
    async def verify(
        intent_id: IntentId,
        level: Annotated[
            int,
            Field(
                ge=1,
                le=6,
                description="run verification levels 1..level (and the phase's own gate levels)",
            ),
        ],
        artifacts: Annotated[
            dict[str, Any] | None,
            Field(description="artifacts to judge on top of the intent's, not stored"),
        ] = None,
        phase: Annotated[
            Phase | None,
            Field(description="the gate to judge for; default: the intent's current phase"),
        ] = None,
    ) -> dict[str, Any]:
        """A dry run of the gate before handing in: runs the checks and answers passed,
        can_advance (would the phase's gate pass now) and failed_checks as (check, level,
        detail). Changes nothing on the line."""
        return await session.verify(intent_id, level, artifacts, phase)

    @server.tool()
    async def line_state() -> dict[str, Any]:
        """A short summary of the line: queue depth, work in progress, what is queued in each
        phase, awaiting review, executors idle/busy/offline, what you hold, and queued work
        nobody can take now with the reason."""
        return await session.line_state()

    @server.tool()
    async def submit_intent(
        title: Annotated[str, Field(min_length=1, max_length=200)],
        spec_text: Annotated[
            str | None, Field(max_length=200_000, description="the spec inline, as Markdown")
        ] = None,
        spec_path: Annotated[
            str | None,
            Field(
                max_length=500,
                description="a spec file under the line's SPECS_ROOT, instead of spec_text",
            ),
        ] = None,
        priority: Annotated[int, Field(ge=1, le=10, description="10 is the most urgent")] = 5,
        environment_preference: Literal["local", "server", "either"] = "either",
        requires_human_review: bool = False,
    ) -> dict[str, Any]:
        """Submit a new build intent to the line (give spec_text or spec_path). It enters the
        SPEC phase; a spec that already passes the spec gate moves straight to BUILD."""
        if not spec_text and not spec_path:
            raise ToolError("give spec_text (the spec as Markdown) or spec_path")
        return await session.submit(
            title=title,
            spec_text=spec_text,
            spec_path=spec_path,
            priority=priority,
            environment_preference=environment_preference,
            requires_human_review=requires_human_review,
        )

    async def load(intent_id: str) -> Any:
        try:
            return await session.intent(intent_id)
        except errors.NotFound as exc:
            raise ResourceNotFoundError(exc.message) from None
        except errors.LineError as exc:
            raise ResourceError(str(await session.refusal(exc))) from None

    @server.resource(
        "intent://{intent_id}",
        mime_type="application/json",
        description="An intent: its state, spec, artifacts and every event",
    )
    async def intent_resource(intent_id: str) -> str:
        return intent_document(await load(intent_id))

    @server.resource(
        "spec://{intent_id}", mime_type="text/markdown", description="An intent's spec"
    )
    async def spec_resource(intent_id: str) -> str:
        intent = await load(intent_id)
        return intent.spec_text or f"(spec_path {intent.raw.get('spec_path')!r} under SPECS_ROOT)"

    @server.prompt(
        description="The phase protocol of the line and what each phase must hand "
        "in (the artifact keys its gate reads)"
    )
    def work_next_phase(phase: str = "") -> str:
        """How to work the next phase through these tools."""
        known = phase.lower() if phase.lower() in PHASES else None
        return protocol(known)

    return server


def run(
    *,
    url: str,
    token: str,
    executor_id: str | None,
    http_port: int | None = None,
    host: str = "127.0.0.1",
    heartbeat_seconds: float = 20.0,
) -> int:
    session = LineSession(url, token, executor_id, heartbeat_seconds=heartbeat_seconds)
    server = build(session)

    def stop(signum: int, _: Any) -> None:
        raise SystemExit(128 + signum)

    # A host that stops the server with SIGTERM still gets the held work handed back (below).
    signal.signal(signal.SIGTERM, stop)
    try:
        if http_port is None:
            server.run()
        else:
            server.run("streamable-http", host=host, port=http_port)
    except KeyboardInterrupt:
        pass
    finally:
        with contextlib.suppress(Exception):
            session.release_all_sync()
    return 0

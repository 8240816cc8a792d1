"""One MCP session's place on the line: the executor it acts as, the work it holds, the
heartbeats while it holds work, the release of that work when the session ends, and the
line's refusals turned into messages an agent can act on (`ToolError`, never a traceback;
the texts are made in `mcp_texts.py`).

The MCP tools (`assembly_line_client.mcp_server`) are thin: each calls one method here."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from assembly_line_client import errors
from assembly_line_client.client import AsyncClient, Client
from assembly_line_client.mcp_texts import (
    WHY,
    checks_list,
    gate_verdict,
    not_yours_text,
    refusal_text,
    spec_of,
)
from assembly_line_client.models import Intent
from assembly_line_client.phases import must_hand_in

RELEASE_REASON = "the MCP session ended"


class LineSession:
    def __init__(
        self, url: str, token: str, executor_id: str | None, *, heartbeat_seconds: float = 20.0
    ) -> None:
        self.url = url
        self.token = token
        self.executor_id = executor_id
        self.heartbeat_seconds = heartbeat_seconds
        self.line = AsyncClient(url, token, retries=2)
        # intent id -> the phase this session claimed it for.
        self.held: dict[str, str] = {}

    # --- the session's life -------------------------------------------------------------

    async def heartbeats(self) -> None:
        """Beat while holding work: the line extends the leases of a living executor."""
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            if self.held and self.executor_id:
                with contextlib.suppress(errors.LineError):
                    await self.line.heartbeat(self.executor_id)

    async def release_all(self, reason: str = RELEASE_REASON) -> list[str]:
        """Hand back every intent still held (the session ends)."""
        released = []
        for intent_id, phase in list(self.held.items()):
            with contextlib.suppress(errors.LineError):
                await self.line.release(intent_id, self._executor(), phase=phase, reason=reason)
                released.append(intent_id)
            self.held.pop(intent_id, None)
        return released

    def release_all_sync(self, reason: str = RELEASE_REASON) -> None:
        """`release_all` for a process on its way out, when no event loop runs any more."""
        if not self.held or not self.executor_id:
            return
        with Client(self.url, self.token, retries=1, timeout=5.0) as line:
            for intent_id, phase in list(self.held.items()):
                with contextlib.suppress(errors.LineError):
                    line.release(intent_id, self.executor_id, phase=phase, reason=reason)
                self.held.pop(intent_id, None)

    async def aclose(self) -> None:
        await self.line.aclose()

    # --- tools ----------------------------------------------------------------------------

    async def claim(self, wait_seconds: float) -> dict[str, Any]:
        executor_id = self._executor()
        try:
            work = await self.line.next_work(executor_id, wait=wait_seconds)
        except errors.LineError as exc:
            raise await self.refusal(exc) from None
        if not work.assigned or work.intent is None:
            return {"assigned": False, "summary": "nothing for you", "reason": work.reason}
        intent = work.intent
        phase = intent.current_phase
        self.held[intent.id] = phase
        handoff = work.handoff
        returned = handoff.get("returned") or {}
        failed: list[dict[str, Any]] = []
        if returned.get("why") == "gate_failed":
            failed = await self._last_failed_checks(intent.id, phase, returned.get("reason"))
        attempt = handoff.get("attempt", 1)
        summary = f"you hold {intent.id} ({intent.title}) for its {phase} phase, attempt {attempt}"
        if returned:
            summary += f"; it came back because {WHY.get(returned.get('why'), returned.get('why'))}"
        return {
            "assigned": True,
            "summary": summary,
            "intent_id": intent.id,
            "title": intent.title,
            "phase": phase,
            "priority": intent.priority,
            "requires_human_review": bool(intent.raw.get("requires_human_review")),
            "spec": spec_of(intent),
            "lease_expires_at": intent.raw.get("lease_expires_at"),
            "handoff": {
                "attempt": attempt,
                "resumed": bool(handoff.get("resumed")),
                "why": returned.get("why"),
                "reason": returned.get("reason"),
                "returned_by": returned.get("by"),
                "returned_at": returned.get("at"),
                "failed_checks": failed,
                "recent_progress": handoff.get("recent_progress", []),
                "artifacts_so_far": handoff.get("artifacts", {}),
                "previous_executor": handoff.get("previous_executor"),
                "built_by": handoff.get("built_by"),
            },
            "must_hand_in": must_hand_in(phase),
        }

    async def progress(self, intent_id: str, progress: float, message: str) -> dict[str, Any]:
        executor_id = self._executor()
        try:
            phase = await self._phase(intent_id)
            answer = await self.line.progress(intent_id, executor_id, phase, progress, message)
        except errors.LineError as exc:
            raise await self.refusal(exc, intent_id) from None
        return {
            "updated": True,
            "status": answer.get("current_state"),
            "phase": phase,
            "lease_expires_at": answer.get("lease_expires_at"),
        }

    async def hand_in(
        self, intent_id: str, artifacts: dict[str, Any], status: str
    ) -> dict[str, Any]:
        executor_id = self._executor()
        try:
            phase = await self._phase(intent_id)
            done = await self.line.complete(
                intent_id, executor_id, artifacts, status=status, phase=phase
            )
        except errors.LineError as exc:
            raise await self.refusal(exc, intent_id) from None
        self.held.pop(intent_id, None)
        checks = (done.gate or {}).get("checks") or {}
        failed = checks_list(checks)
        verdict, summary = gate_verdict(done, phase, failed)
        return {
            "verdict": verdict,
            "summary": summary,
            "failed_checks": failed,
            "warnings": checks_list(checks, failed=False),
            "passed_checks": sorted(n for n, c in checks.items() if c.get("passed")),
            "next_phase": done.next_phase,
            "status": done.status,
            "attempts": done.raw.get("attempts"),
        }

    async def verify(
        self, intent_id: str, level: int, artifacts: dict[str, Any] | None, phase: str | None
    ) -> dict[str, Any]:
        try:
            phase = phase or await self._phase(intent_id)
            result = await self.line.verify(intent_id, level, phase, artifacts)
        except errors.LineError as exc:
            raise await self.refusal(exc, intent_id, held=False) from None
        failed = checks_list(result.checks)
        return {
            "passed": result.passed,
            "can_advance": result.can_advance,
            "summary": (
                "levels 1.."
                + str(level)
                + (" pass" if result.passed else " fail")
                + f"; the {phase} gate would "
                + ("pass" if result.can_advance else "not pass")
            ),
            "failed_checks": failed,
            "warnings": checks_list(result.checks, failed=False),
            "passed_checks": sorted(n for n, c in result.checks.items() if c.get("passed")),
            "phase": phase,
        }

    async def line_state(self) -> dict[str, Any]:
        try:
            state = await self.line.state()
        except errors.LineError as exc:
            raise await self.refusal(exc) from None
        metrics = state.get("metrics", {})
        executors = state.get("executors", {})
        statuses = [e.get("status") for e in executors.values()]
        me = executors.get(self.executor_id or "", {})
        return {
            "queue_depth": state.get("queue_depth"),
            "in_progress": state.get("in_progress"),
            "queued_by_phase": {
                phase: counts.get("queued", 0)
                for phase, counts in metrics.get("by_phase", {}).items()
            },
            "awaiting_review": metrics.get("awaiting_review"),
            "completed_today": metrics.get("completed_today"),
            "failed_today": metrics.get("failed_today"),
            "executors": {s: statuses.count(s) for s in ("idle", "busy", "offline")},
            "you": {
                "executor_id": self.executor_id,
                "status": me.get("status"),
                "holding": sorted(self.held),
            },
            "waiting": [
                {k: w.get(k) for k in ("intent_id", "phase", "reason")}
                for w in state.get("waiting", [])[:5]
            ],
            "stalled": len(state.get("stalled", [])),
        }

    async def submit(self, **fields: Any) -> dict[str, Any]:
        try:
            submitted = await self.line.submit(**fields)
        except errors.LineError as exc:
            raise await self.refusal(exc) from None
        return {
            "intent_id": submitted.intent_id,
            "status": submitted.status,
            "current_phase": submitted.current_phase,
            "estimated_start": submitted.estimated_start,
        }

    # --- resources --------------------------------------------------------------------------

    async def intent(self, intent_id: str) -> Intent:
        return await self.line.intent(intent_id)

    # --- helpers ----------------------------------------------------------------------------

    def _executor(self) -> str:
        if not self.executor_id:
            raise ToolError(
                "this MCP server has no executor: set ASSEMBLY_LINE_EXECUTOR_ID "
                "(or --executor-id) to the executor its token acts as"
            )
        return self.executor_id

    async def _phase(self, intent_id: str) -> str:
        """The phase this session holds the intent for (the line's current phase otherwise,
        e.g. after a restart of this server)."""
        if intent_id in self.held:
            return self.held[intent_id]
        return (await self.line.intent(intent_id)).current_phase

    async def _last_failed_checks(
        self, intent_id: str, phase: str, reason: Any
    ) -> list[dict[str, Any]]:
        """The failed checks of the phase's last gate run, with their levels (the handoff's
        reason names them without)."""
        with contextlib.suppress(errors.LineError):
            events = (await self.line.intent(intent_id)).raw.get("events", [])
            for event in reversed(events):
                payload = event.get("payload") or {}
                if event.get("kind") == "verified" and payload.get("gate") == phase:
                    return checks_list(payload.get("checks") or {})
        if isinstance(reason, dict):
            return [{"check": k, "level": None, "detail": v} for k, v in reason.items()]
        return []

    async def refusal(
        self, exc: errors.LineError, intent_id: str | None = None, *, held: bool = True
    ) -> ToolError:
        """The line's answer as a message the agent can act on."""
        if isinstance(exc, errors.Conflict) and intent_id and held:
            self.held.pop(intent_id, None)
            try:
                intent = await self.line.intent(intent_id)
            except errors.LineError:
                return ToolError(f"you no longer hold intent {intent_id}: {exc.message}")
            return ToolError(not_yours_text(intent, intent_id, exc, self.executor_id))
        return ToolError(refusal_text(exc, self.url))

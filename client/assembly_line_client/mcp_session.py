"""One MCP session's place on the line: the executor it acts as, the work it holds, the
heartbeats while it holds work, the release of that work when the session ends, and the
line's refusals turned into messages an agent can act on (`ToolError`, never a traceback).

The MCP tools (`assembly_line_client.mcp_server`) are thin: each calls one method here."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from assembly_line_client import errors
from assembly_line_client.client import AsyncClient, Client
from assembly_line_client.models import Intent
from assembly_line_client.phases import must_hand_in

# How the line says why work came back, as the agent should read it (looked up with the
# answer's "why", which may be missing).
WHY: dict[str | None, str] = {
    "lease_expired": "it was re-queued after your lease lapsed (no heartbeat, progress or "
    "call from you for the lease time)",
    "stalled": "it was re-queued because its progress stood still (stall detection)",
    "admin_requeue": "an admin re-queued it",
    "released": "it was released back to the queue",
    "gate_failed": "its gate failed and it went back to the queue",
    "review_rejected": "a reviewer rejected it and it went back to the queue",
}
RELEASE_REASON = "the MCP session ended"


def checks_list(checks: dict[str, dict[str, Any]], *, failed: bool = True) -> list[dict[str, Any]]:
    """A gate's checks as a readable list of (check, level, detail): the blocking failures,
    or (failed=False) the non-blocking ones that failed (warnings)."""
    return [
        {"check": name, "level": check.get("level"), "detail": check.get("detail", "")}
        for name, check in checks.items()
        if not check.get("passed") and bool(check.get("blocking", True)) == failed
    ]


def _spec(intent: Intent) -> str:
    if intent.spec_text:
        return intent.spec_text
    path = intent.raw.get("spec_path") or ""
    return f"(no inline spec; spec_path {path!r} is a file under the line's SPECS_ROOT)"


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
            "spec": _spec(intent),
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
        now = done.status
        if done.gate is None:
            verdict = "reported_failed"
            summary = f"you reported the {phase} phase failed; it counts as a failed attempt"
        elif not done.gate.get("passed"):
            verdict = "failed"
            summary = f"the {phase} gate did not pass: " + "; ".join(
                f"{c['check']} (level {c['level']}): {c['detail']}" for c in failed
            )
        else:
            verdict = "passed"
            summary = f"the {phase} gate passed"
        if now == "failed":
            summary += f"; the intent failed after {done.raw.get('attempts')} attempt(s)"
        elif now == "completed":
            summary += "; the build is completed"
        elif now == "awaiting_review":
            summary += "; it waits for a human review before it moves on"
        elif verdict == "passed":
            summary += f"; queued for the {done.next_phase} phase"
        else:
            summary += f"; the {phase} phase is back in the queue for another attempt"
        return {
            "verdict": verdict,
            "summary": summary,
            "failed_checks": failed,
            "warnings": checks_list(checks, failed=False),
            "passed_checks": sorted(n for n, c in checks.items() if c.get("passed")),
            "next_phase": done.next_phase,
            "status": now,
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

    @staticmethod
    def intent_document(intent: Intent) -> str:
        keep = (
            "id",
            "title",
            "status",
            "current_phase",
            "priority",
            "attempts",
            "max_attempts",
            "assigned_to",
            "verification_level",
            "quality_score",
            "spec_path",
            "requires_human_review",
            "environment_preference",
            "created_by",
            "created_at",
        )
        events = [
            {
                "at": e.get("timestamp"),
                "kind": e.get("kind"),
                "by": e.get("actor"),
                "from": f"{e.get('from_phase')}/{e.get('from_status')}",
                "to": f"{e.get('to_phase')}/{e.get('to_status')}",
                "payload": e.get("payload"),
            }
            for e in intent.raw.get("events", [])
        ]
        body = {
            **{k: intent.raw.get(k) for k in keep},
            "spec": _spec(intent),
            "artifacts": intent.artifacts,
            "events": events,
        }
        return json.dumps(body, indent=1, default=str)

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
            return ToolError(await self._why_not_yours(intent_id, exc))
        if isinstance(exc, errors.Forbidden):
            return ToolError(f"refused: {exc.message}")
        if isinstance(exc, errors.NotFound):
            return ToolError(f"{exc.message}; check the id (claim_work answers the ids you hold)")
        if isinstance(exc, errors.InvalidInput):
            fields = "; ".join(
                f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
                for k, v in exc.fields.items()
            )
            return ToolError(f"invalid input: {fields or exc.message}")
        if isinstance(exc, errors.PayloadTooLarge):
            return ToolError(
                f"too large: {exc.message}; hand in less (e.g. the tail of long output)"
            )
        if isinstance(exc, errors.Unauthorized):
            return ToolError(f"the line refused the token in ASSEMBLY_LINE_TOKEN: {exc.message}")
        if isinstance(exc, errors.Unavailable):
            return ToolError("the line's database is unavailable; try again in a minute")
        if isinstance(exc, errors.ConnectionFailed):
            return ToolError(f"the line at {self.url} cannot be reached ({exc}); try again later")
        if isinstance(exc, errors.ApiError):
            return ToolError(exc.message or str(exc))
        return ToolError(str(exc))

    async def _why_not_yours(self, intent_id: str, exc: errors.Conflict) -> str:
        current = exc.current or {}
        try:
            intent = await self.line.intent(intent_id)
        except errors.LineError:
            return f"you no longer hold intent {intent_id}: {exc.message}"
        why = ""
        for event in reversed(intent.raw.get("events", [])):
            kind, payload = event.get("kind"), event.get("payload") or {}
            if kind == "requeued":
                why = WHY.get(payload.get("why"), f"it was re-queued ({payload.get('why')})")
                if payload.get("why") == "admin_requeue":
                    why = f"an admin ({event.get('actor')}) re-queued it"
                break
            if kind == "cancelled":
                why = f"it was cancelled by {event.get('actor')}"
                if payload.get("reason"):
                    why += f" ({payload['reason']})"
                break
            if kind == "failed":
                why = "it failed after its last attempt"
                break
        if not why:
            return f"{exc.message}; it is now {intent.status} in {intent.current_phase}"
        now = f"it is now {intent.status} in {intent.current_phase}"
        holder = intent.assigned_to or current.get("assigned_to")
        if holder and holder != self.executor_id:
            now += f" with executor {holder}"
        return (
            f"you no longer hold intent {intent_id}: {why}; {now}. Stop working on it "
            "and call claim_work for new work."
        )

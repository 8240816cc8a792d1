"""What the MCP tools say: the line's answers and refusals as text an agent can act on
(`mcp_session.LineSession` calls these; they only read what they are given)."""

from __future__ import annotations

import json
from typing import Any

from assembly_line_client import errors
from assembly_line_client.models import Completion, Intent

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


def spec_of(intent: Intent) -> str:
    if intent.spec_text:
        return intent.spec_text
    path = intent.raw.get("spec_path") or ""
    return f"(no inline spec; spec_path {path!r} is a file under the line's SPECS_ROOT)"


def gate_verdict(done: Completion, phase: str, failed: list[dict[str, Any]]) -> tuple[str, str]:
    """A hand-in's verdict (passed, failed, reported_failed) and its summary: what the gate
    decided and where the intent is now."""
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
    return verdict, summary


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
        "spec": spec_of(intent),
        "artifacts": intent.artifacts,
        "events": events,
    }
    return json.dumps(body, indent=1, default=str)


def refusal_text(exc: errors.LineError, url: str) -> str:
    """The line's refusal (other than work no longer held) as a message the agent can act on."""
    if isinstance(exc, errors.Forbidden):
        return f"refused: {exc.message}"
    if isinstance(exc, errors.NotFound):
        return f"{exc.message}; check the id (claim_work answers the ids you hold)"
    if isinstance(exc, errors.InvalidInput):
        fields = "; ".join(
            f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in exc.fields.items()
        )
        return f"invalid input: {fields or exc.message}"
    if isinstance(exc, errors.PayloadTooLarge):
        return f"too large: {exc.message}; hand in less (e.g. the tail of long output)"
    if isinstance(exc, errors.Unauthorized):
        return f"the line refused the token in ASSEMBLY_LINE_TOKEN: {exc.message}"
    if isinstance(exc, errors.Unavailable):
        return "the line's database is unavailable; try again in a minute"
    if isinstance(exc, errors.ConnectionFailed):
        return f"the line at {url} cannot be reached ({exc}); try again later"
    if isinstance(exc, errors.ApiError):
        return exc.message or str(exc)
    return str(exc)


def not_yours_text(
    intent: Intent, intent_id: str, exc: errors.Conflict, executor_id: str | None
) -> str:
    """Why work is no longer this session's (its events say), and where it is now."""
    current = exc.current or {}
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
    if holder and holder != executor_id:
        now += f" with executor {holder}"
    return (
        f"you no longer hold intent {intent_id}: {why}; {now}. Stop working on it "
        "and call claim_work for new work."
    )

"""What each phase of the line must hand in: the artifact keys its gate reads (the service's
docs/verification.md), in the words an AI session reads them. The MCP server's prompt and its
claim answers are made from this."""

from __future__ import annotations

PHASES = ("spec", "build", "test", "production")

# phase -> (what the phase is for, the artifacts its gate reads, the gate's checks)
HAND_IN: dict[str, tuple[str, dict[str, str], str]] = {
    "spec": (
        "Write the service's specification.",
        {
            "spec_text": "the spec as Markdown, with the sections Purpose, Requirements, API "
            "Specs, Dependencies and Success Criteria; at least one endpoint written as "
            "'GET /path' or 'POST /path'; success criteria as '- [ ]' checkboxes",
        },
        "spec_complete",
    ),
    "build": (
        "Build the service and run it where the line can reach it.",
        {
            "deployment_url": "http(s) URL where the built service runs now; the gate calls "
            "GET /health (200, status ok), every endpoint the spec documents (no 5xx), a "
            "malformed JSON body to the POST endpoints (a 4xx) and the six UDC endpoints",
            "build_output": "what the build printed (text)",
            "commit": "the commit built",
            "files": "list of the paths written",
            "service_name": "optional: the name the service registers under",
        },
        "level 1 live_health, live_endpoints, live_malformed_body; "
        "level 2 udc_compliance, udc_registry",
    ),
    "test": (
        "Test the built service (another executor than its builder takes this phase).",
        {
            "test_results": "{passed, failed, skipped, coverage}: numbers; no failure, "
            "passed > 0, coverage above 80 (percent)",
            "quality": "{lint_errors, type_errors, warnings: [..]}: findings are warnings",
            "security": "{high, medium, low, secrets}: no high-severity finding, no secret",
        },
        "level 3 test_coverage; level 4 code_quality (warns); level 5 security_scan, "
        "live_no_traceback (404s and bad bodies answer without a stack trace)",
    ),
    "production": (
        "Make the service ready for production and run it there.",
        {
            "files": "list of paths with a README, a SPEC, API docs (docs/, openapi, api.md) "
            "and a Dockerfile or deploy script",
            "rollback_plan": "how to undo the release (text)",
            "production_url": "http(s) URL of the running service (else deployment_url is "
            "probed): healthy, then 50 GET /health with p95 under 500 ms",
        },
        "level 6 production_artifacts, production_probe",
    ),
}


def must_hand_in(phase: str) -> dict[str, object]:
    """The phase's purpose, its artifact keys and its gate, for a claim answer."""
    purpose, artifacts, gate = HAND_IN[phase]
    return {"purpose": purpose, "artifacts": artifacts, "gate": gate}


def protocol(phase: str | None = None) -> str:
    """The phase protocol, as the `work_next_phase` prompt says it."""
    lines = [
        "You are an executor on the assembly line: a build moves through the phases "
        "SPEC -> BUILD -> TEST -> PRODUCTION, and a gate of checks judges every hand-in "
        "before the build may move on.",
        "",
        "How to work one phase:",
        "1. claim_work (wait_seconds up to 30). You get one intent in one phase, its spec and "
        "a handoff. Read the handoff first: attempt > 1 means it came back; `why` says why "
        "(gate_failed: fix the failed_checks it lists; review_rejected: read the reviewer's "
        "reason; lease_expired, stalled or released: an earlier session stopped; resume from "
        "recent_progress and the artifacts so far). 'nothing for you' comes with the line's "
        "reason: try again later.",
        "2. Do the phase's work. report_progress(intent_id, progress 0..1, message) as you "
        "go: it shows people what you do and keeps your claim (the server also heartbeats "
        "for you while you hold work). A claim with no sign of life is taken back.",
        "3. verify(intent_id, level) runs the gate's checks as a dry run, optionally with the "
        "artifacts you are about to hand in; it changes nothing.",
        "4. hand_in(intent_id, artifacts, status='completed'). The answer is the gate's "
        "verdict: passed (and the next phase the build is queued for) or the failed checks "
        "(check, level, detail); a failed gate puts the phase back in the queue. Hand in "
        "status='failed' when you cannot do the phase: it counts as a failed attempt.",
        "5. After a hand-in the intent is no longer yours; claim_work again for more.",
        "",
        "If a tool says you no longer hold an intent, stop working on it: it was taken back "
        "(lease lapsed, re-queued by an admin, cancelled). When this session ends, work you "
        "still hold is released to the queue for the next executor.",
        "",
        "What each phase must hand in (artifact keys the gate reads):",
    ]
    for name in [phase] if phase in HAND_IN else list(PHASES):
        assert name is not None
        purpose, artifacts, gate = HAND_IN[name]
        lines.append(f"- {name.upper()}: {purpose} Gate: {gate}.")
        lines.extend(f"    {key}: {meaning}" for key, meaning in artifacts.items())
    return "\n".join(lines)

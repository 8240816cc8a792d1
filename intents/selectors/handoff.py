"""What the next executor reads when it claims an intent: the handoff."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from intents.models import EventKind, Intent, IntentEvent


def handoff(intent: Intent, *, first_claim: bool = False) -> dict[str, Any]:
    """What the executor that claims `intent` needs to resume rather than start blind: the
    artifacts so far, the latest progress messages, and why it came back to the queue.
    An intent's first claim has nothing to look up: progress is only reported, and work only
    re-queued, after a claim."""
    returned = None
    progress: Any = []
    if not first_claim:
        returned = (
            IntentEvent.objects.filter(
                intent=intent, kind=EventKind.REQUEUED, from_phase=intent.current_phase
            )
            .order_by("-created_at", "-id")
            .first()
        )
        progress = IntentEvent.objects.filter(intent=intent, kind=EventKind.PROGRESS).order_by(
            "-created_at", "-id"
        )[: settings.HANDOFF_PROGRESS_MESSAGES]
    return {
        "phase": intent.current_phase,
        "attempt": intent.attempts + 1,
        "resumed": returned is not None,
        "returned": None
        if returned is None
        else {
            "why": returned.payload.get("why"),
            "reason": returned.payload.get("reason"),
            "failed_by": returned.payload.get("failed_by"),
            "by": returned.actor,
            "at": returned.created_at.isoformat(),
        },
        "previous_executor": intent.previous_executor_id,
        "built_by": intent.built_by_id,
        "artifacts": intent.artifacts,
        "recent_progress": [
            {
                "phase": event.from_phase,
                "progress": event.payload.get("progress"),
                "message": event.payload.get("message", ""),
                "executor_id": event.executor_id or None,
                "at": event.created_at.isoformat(),
            }
            for event in reversed(list(progress))
        ],
    }

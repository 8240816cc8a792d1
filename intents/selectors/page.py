"""One intent for its read-only page (intents/views.py)."""

from __future__ import annotations

from typing import Any

from intents.models import Intent
from verification.models import VerificationRun

# An intent's page shows its whole timeline up to this many events, and its latest gate runs.
INTENT_PAGE_EVENTS = 500
INTENT_PAGE_RUNS = 10
INTENT_ID_MAX_LENGTH = 40  # Intent.id


def intent_page(*, intent_id: str) -> dict[str, Any] | None:
    """One intent for its read-only page: the intent, its timeline (oldest first), its latest
    verification runs (newest first) and its artifacts; None when there is no such intent."""
    # An id the database could not even compare (NUL, over-long) names no intent.
    if "\x00" in intent_id or len(intent_id) > INTENT_ID_MAX_LENGTH:
        return None
    intent = Intent.objects.select_related("assigned_to").filter(pk=intent_id).first()
    if intent is None:
        return None
    return {
        "intent": intent,
        "events": list(intent.events.order_by("created_at", "id")[:INTENT_PAGE_EVENTS]),
        "runs": list(VerificationRun.objects.filter(intent=intent)[:INTENT_PAGE_RUNS]),
        "artifacts": sorted(intent.artifacts.items()),
        # Linked only when it is a web address (the URL is executor input).
        "deployment_link": intent.deployment_url
        if (intent.deployment_url or "").startswith(("http://", "https://"))
        else None,
    }

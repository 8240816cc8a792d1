"""Shared reads, as aggregate queries: the line's state, the queue, the handoff."""

from intents.selectors.events import event_data
from intents.selectors.handoff import handoff
from intents.selectors.page import intent_page
from intents.selectors.queue import estimated_start, open_counts, queue_position
from intents.selectors.state import executor_statuses, held_by, line_state

__all__ = [
    "estimated_start",
    "event_data",
    "executor_statuses",
    "handoff",
    "held_by",
    "intent_page",
    "line_state",
    "open_counts",
    "queue_position",
]

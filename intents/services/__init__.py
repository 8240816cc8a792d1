"""Every rule of the line, one function each. The shape of each write:
transaction → row lock → FSM transition → save → IntentEvent → on_commit broadcast.
Verification checks (which may make network calls) run before the transaction, never inside it.
On PostgreSQL, progress and a hand-in's write are one statement each (`hotpath`), with the
ORM path behind them for refusals and races.

One module per part of the line; this package's names are the public services."""

from intents.services.claim import Claim, work_claim
from intents.services.fleet import executor_join
from intents.services.gates import Completion, Verification, intent_verify
from intents.services.leases import executor_heartbeat, executor_offline, lease_reap
from intents.services.release import intent_cancel, intent_requeue, work_release
from intents.services.review import intent_approve, intent_reject
from intents.services.submit import intent_submit, intent_submit_once
from intents.services.work import work_complete, work_progress

__all__ = [
    "Claim",
    "Completion",
    "Verification",
    "executor_heartbeat",
    "executor_join",
    "executor_offline",
    "intent_approve",
    "intent_cancel",
    "intent_reject",
    "intent_requeue",
    "intent_submit",
    "intent_submit_once",
    "intent_verify",
    "lease_reap",
    "work_claim",
    "work_complete",
    "work_progress",
    "work_release",
]

"""The hot path's statements (intents/services/hotpath.py) and the ORM path through the state
machine agree: for random intent states and random executor calls, two copies of the same
intent, one driven by each path, end in the same row, with the same events, or the same
refusal. On PostgreSQL only (SQLite has only the ORM path)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.errors import LineError
from executors.models import Executor
from intents import services
from intents.models import WORKING, EventKind, Intent, IntentEvent, Phase, Status
from intents.services import work
from intents.services.work import progress_orm
from tests.conftest import Actor, phase_artifacts
from verification.models import VerificationRun
from verification.registry import run_levels

pytestmark = pytest.mark.usefixtures("postgres")

# Every stored time starts here, so "moved by the call" and "kept" can be told apart.
BEFORE = datetime(2026, 1, 1, tzinfo=UTC)
TIMES = (
    "assigned_at",
    "queued_at",
    "rank",
    "lease_expires_at",
    "last_progress_at",
    "stalled_at",
    "review_requested_at",
    "review_overdue_at",
    "finished_at",
)
COLUMNS = (
    "status",
    "current_phase",
    "assigned_to_id",
    "attempts",
    "max_attempts",
    "phase_progress",
    "progress_message",
    "build_output",
    "test_results",
    "deployment_url",
    "artifacts",
    "spec_text",
    "verification_level",
    "quality_score",
    "previous_executor_id",
    "built_by_id",
    "avoid_executor_id",
    "spilled",
)

states = st.fixed_dictionaries(
    {
        # Held work is where the rules differ; every other status is a refusal.
        "status": st.one_of(st.sampled_from(WORKING), st.sampled_from(list(Status))),
        "phase": st.sampled_from(list(Phase)),
        "holder": st.sampled_from(["caller", "caller", "caller", "other", None]),
        "held_before": st.booleans(),
        "stalled": st.booleans(),
        "attempts": st.integers(0, 2),
        # Attempts left before this one: 0 (a failure now fails the intent), 1 or 2.
        "room": st.integers(0, 2),
        "reported": st.sampled_from([None, 0.0, 0.5]),
        "message": st.sampled_from(["", "half"]),
        "review": st.booleans(),
        "verification_level": st.integers(0, 3),
    }
)
calls = st.one_of(
    st.fixed_dictionaries(
        {
            "call": st.just("progress"),
            "phase": st.sampled_from(["current", "current", "current", *Phase]),
            # "same": what the intent already shows (an unchanged report).
            "progress": st.sampled_from(["same", 0.0, 0.5, 1.0]),
            "message": st.sampled_from(["same", "", "half", "more"]),
        }
    ),
    st.fixed_dictionaries(
        {
            "call": st.just("complete"),
            "phase": st.sampled_from([None, None, "current", "current", *Phase]),
            "status": st.sampled_from([Status.COMPLETED, Status.FAILED]),
            "artifacts": st.sampled_from(["good", "none"]),
        }
    ),
)


def copy(state: dict[str, Any], caller: Executor, other: Executor) -> Intent:
    holder = {"caller": caller, "other": other, None: None}[state["holder"]]
    progress = {} if state["reported"] is None else {state["phase"]: state["reported"]}
    intent = Intent.objects.create(
        title="same",
        created_by="user:alice",
        status=state["status"],
        current_phase=state["phase"],
        assigned_to=holder,
        assigned_at=BEFORE if holder else None,
        lease_expires_at=BEFORE if holder else None,
        last_progress_at=BEFORE,
        stalled_at=BEFORE if state["stalled"] else None,
        attempts=state["attempts"],
        max_attempts=max(1, state["attempts"] + state["room"]),
        phase_progress=progress,
        progress_message=state["message"],
        requires_human_review=state["review"],
        verification_level=state["verification_level"],
        queued_at=BEFORE,
        rank=BEFORE,
    )
    if state["held_before"]:
        IntentEvent.objects.create(
            intent=intent, kind=EventKind.ASSIGNED, actor="t", executor_id=caller.pk
        )
    return intent


def time_of(value: datetime | None) -> str | None:
    return None if value is None else ("kept" if value == BEFORE else "moved")


def outcome(intent_id: str, error: LineError | None, answer: Any) -> dict[str, Any]:
    """What a call left behind, with the intent's id and the moment of the call left out."""
    intent = Intent.objects.get(pk=intent_id)
    row = {name: getattr(intent, name) for name in COLUMNS}
    row |= {name: time_of(getattr(intent, name)) for name in TIMES}
    row["backoff"] = intent.not_before - intent.queued_at if intent.not_before else None
    events = [
        {
            "kind": e.kind,
            "executor_id": e.executor_id,
            "actor": e.actor,
            "from": (e.from_status, e.from_phase),
            "to": (e.to_status, e.to_phase),
            "payload": {k: "set" if k == "not_before" else v for k, v in e.payload.items()},
            "timed": e.duration_seconds is not None,
        }
        for e in IntentEvent.objects.filter(intent_id=intent_id).order_by("created_at", "id")
        if e.actor != "t"
    ]
    runs = [
        (r.phase, r.level, r.passed, r.checks, r.gate)
        for r in VerificationRun.objects.filter(intent_id=intent_id)
    ]
    refusal = None
    if error is not None:
        current = dict(error.current or {}, intent_id="-")
        message = error.message.replace(intent_id, "-")
        refusal = (type(error).__name__, error.status, message, current)
    return {"row": row, "events": events, "runs": runs, "refusal": refusal, "answer": answer}


def drive(intent: Intent, call: dict[str, Any], caller: Executor, *, sql: bool) -> Any:
    phase = intent.current_phase if call["phase"] == "current" else call["phase"]
    counts_before = Executor.objects.values_list(
        "builds_completed", "builds_failed", "total_build_seconds"
    ).get(pk=caller.pk)
    error, answer = None, None
    with CaptureQueriesContext(connection) as queries:
        try:
            if call["call"] == "progress":
                report = services.work_progress if sql else progress_orm
                done = report(
                    executor_id=caller.pk,
                    actor="laptop",
                    intent_id=intent.pk,
                    phase=phase,
                    progress=intent.progress if call["progress"] == "same" else call["progress"],
                    message=(
                        intent.progress_message if call["message"] == "same" else call["message"]
                    ),
                )
                answer = (done.status, done.current_phase, done.lease_expires_at is not None)
            else:
                artifacts = {}
                if call["artifacts"] == "good":
                    artifacts = phase_artifacts(intent.current_phase)
                    artifacts.pop("deployment_url", None)  # no live checks: both runs must agree
                completion = services.work_complete(
                    executor_id=caller.pk,
                    actor="laptop",
                    intent_id=intent.pk,
                    status=call["status"],
                    artifacts=artifacts,
                    phase=phase,
                    sql=sql,
                )
                answer = (
                    completion.auto_advanced,
                    completion.next_phase,
                    completion.intent.status,
                    completion.intent.current_phase,
                    completion.intent.attempts,
                )
        except LineError as exc:
            error = exc
    locked = any(
        q["sql"].startswith("SELECT") and "FOR UPDATE" in q["sql"] for q in queries.captured_queries
    )
    # The SQL path writes in its one statement; only a refusal goes on to the ORM's checks.
    assert not (sql and error is None and locked)
    counts_after = Executor.objects.values_list(
        "builds_completed", "builds_failed", "total_build_seconds"
    ).get(pk=caller.pk)
    counted = (counts_after[0] - counts_before[0], counts_after[1] - counts_before[1])
    return {**outcome(intent.pk, error, answer), "counted": counted}


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(state=states, call=calls)
def test_the_sql_path_and_the_state_machine_agree(
    executor: Actor, state: dict[str, Any], call: dict[str, Any]
) -> None:
    caller = Executor.objects.get(pk=executor.executor_id)
    other = Executor.objects.get_or_create(executor_id="other-1")[0]
    by_orm, by_sql = copy(state, caller, other), copy(state, caller, other)
    expected = drive(by_orm, call, caller, sql=False)
    got = drive(by_sql, call, caller, sql=True)
    assert got == expected
    # `--hypothesis-show-statistics` shows which outcomes the examples reached.
    refusal = expected["refusal"]
    last = expected["events"][-1]["kind"] if expected["events"] else None
    event(f"{call['call']}: {refusal[0] if refusal else last}")


def online(executor: Actor) -> Executor:
    """The executor, online (as after its claim): its calls then have nothing to announce."""
    caller = Executor.objects.get(pk=executor.executor_id)
    return services.executor_heartbeat(executor=caller, actor="laptop")


def test_a_progress_report_is_one_statement(executor: Actor) -> None:
    caller = online(executor)
    intent = Intent.objects.create(
        title="t", created_by="user:alice", status=Status.ASSIGNED, assigned_to=caller
    )
    with CaptureQueriesContext(connection) as queries:
        done = services.work_progress(
            executor_id=caller.pk,
            actor="laptop",
            intent_id=intent.pk,
            phase=Phase.SPEC,
            progress=0.5,
            message="half",
        )
    writes = [q["sql"] for q in queries.captured_queries if "intents_intent" in q["sql"]]
    assert len(writes) == 1, writes
    assert (done.status, done.progress, done.progress_message) == ("in_progress", 0.5, "half")
    event = IntentEvent.objects.get(intent=intent, kind=EventKind.PROGRESS)
    assert (event.from_status, event.to_status, event.payload) == (
        "assigned",
        "in_progress",
        {"progress": 0.5, "message": "half"},
    )


def test_a_passed_hand_in_writes_the_intent_its_events_and_its_run_in_one_statement(
    executor: Actor,
) -> None:
    caller = online(executor)
    intent = Intent.objects.create(
        title="t",
        created_by="user:alice",
        status=Status.IN_PROGRESS,
        current_phase=Phase.TEST,
        assigned_to=caller,
        assigned_at=BEFORE,
    )
    with CaptureQueriesContext(connection) as queries:
        done = services.work_complete(
            executor_id=caller.pk,
            actor="laptop",
            intent_id=intent.pk,
            status=Status.COMPLETED,
            artifacts=phase_artifacts(Phase.TEST),
        )
    assert (done.intent.status, done.intent.current_phase) == ("queued", "production")
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith(("UPDATE", "INSERT", "WITH")) and "intents_intent" in q["sql"]
    ]
    assert len(writes) == 1, writes
    # The gate's read, then that one write: its rank's fair share and the executor's count
    # are read and written inside it (the heartbeat's row aside, written behind).
    statements = [q["sql"] for q in queries.captured_queries if "last_heartbeat" not in q["sql"]]
    assert len(statements) == 2, statements
    kinds = list(intent.events.values_list("kind", flat=True))
    assert kinds == ["completed", "verified", "advanced"]
    assert Executor.objects.get(pk=caller.pk).builds_completed == 1


def test_a_hand_in_raced_by_a_change_takes_the_orm_path(
    executor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate read the row; it changed before the write (here: a stall flag): the one
    statement matches nothing and the ORM path makes the hand-in under the row lock."""
    caller = Executor.objects.get(pk=executor.executor_id)
    intent = Intent.objects.create(
        title="t",
        created_by="user:alice",
        status=Status.IN_PROGRESS,
        current_phase=Phase.BUILD,
        assigned_to=caller,
        assigned_at=BEFORE,
    )

    def racing(*args: Any) -> Any:
        Intent.objects.filter(pk=intent.pk).update(stalled_at=BEFORE, updated_at=BEFORE)
        return run_levels(*args)

    monkeypatch.setattr(work, "run_levels", racing)
    with CaptureQueriesContext(connection) as queries:
        done = services.work_complete(
            executor_id=caller.pk,
            actor="laptop",
            intent_id=intent.pk,
            status=Status.COMPLETED,
            artifacts={},
        )
    assert any("FOR UPDATE" in q["sql"] for q in queries.captured_queries)
    assert (done.intent.status, done.intent.current_phase) == ("queued", "test")
    kinds = list(intent.events.values_list("kind", flat=True))
    assert kinds == ["completed", "verified", "advanced"]
    assert VerificationRun.objects.filter(intent=intent).count() == 1

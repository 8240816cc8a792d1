"""A passed hand-in's rank in its next phase's queue is `dispatch.enqueue_rank` (priority with
ageing, then fair share behind the submitter's last queued intent) on both paths: the ORM's
read in its transaction, and the one statement's read inside the write
(`dispatch.enqueue_rank_sql`). On PostgreSQL only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executors.models import Executor
from intents import dispatch, services
from intents.models import Intent, Phase, Status, queue_rank
from tests.conftest import Actor, phase_artifacts

pytestmark = pytest.mark.usefixtures("postgres")


class Rollback(Exception):
    pass


# Other intents: whose (this submitter or another), which priority, phase and status, and a
# rank around now (far ahead: the fair share decides; behind: the natural rank does).
neighbours = st.lists(
    st.fixed_dictionaries(
        {
            "mine": st.booleans(),
            "priority": st.sampled_from([5, 5, 6]),
            "phase": st.sampled_from([Phase.TEST, Phase.TEST, Phase.BUILD]),
            "status": st.sampled_from([Status.QUEUED, Status.QUEUED, Status.IN_PROGRESS]),
            "rank": st.sampled_from([-7200, -5, 0, 20, 7200]),
        }
    ),
    max_size=5,
)


def held(caller: Executor, submitter: str, title: str = "handed in") -> Intent:
    return Intent.objects.create(
        title=title,
        created_by=submitter,
        priority=5,
        status=Status.IN_PROGRESS,
        current_phase=Phase.BUILD,
        assigned_to=caller,
        assigned_at=timezone.now(),
    )


def hand_in(intent: Intent, caller: Executor, *, sql: bool) -> Intent:
    done = services.work_complete(
        executor_id=caller.pk,
        actor="laptop",
        intent_id=intent.pk,
        status=Status.COMPLETED,
        artifacts=phase_artifacts(Phase.BUILD),
        sql=sql,
    )
    assert (done.intent.status, done.intent.current_phase) == (Status.QUEUED, Phase.TEST)
    return done.intent


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(others=neighbours, share=st.sampled_from([0.0, 30.0, 0.5]), sql=st.booleans())
def test_a_passed_hand_in_is_ranked_by_enqueue_rank(
    executor: Actor, others: list[dict[str, Any]], share: float, sql: bool
) -> None:
    caller = Executor.objects.get(pk=executor.executor_id)
    now = timezone.now()
    with override_settings(FAIR_SHARE_SECONDS=share), pytest.raises(Rollback), transaction.atomic():
        for n, other in enumerate(others):
            Intent.objects.create(
                title=f"other {n}",
                created_by="user:alice" if other["mine"] else "user:bob",
                priority=other["priority"],
                status=other["status"],
                current_phase=other["phase"],
                rank=now + timedelta(seconds=other["rank"]),
            )
        answer = hand_in(held(caller, "user:alice"), caller, sql=sql)
        stored = Intent.objects.get(pk=answer.pk)
        assert answer.rank == stored.rank
        assert stored.rank == dispatch.enqueue_rank(stored, stored.queued_at)
        raise Rollback


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sql", [False, True], ids=["orm", "one statement"])
def test_the_rank_sees_committed_hand_ins_and_not_uncommitted_ones(
    sql: bool, settings: Any
) -> None:
    """Both paths read the submitter's last queued rank as of their own statement: another
    hand-in still in its transaction is not seen (and does not block), once committed it is."""
    settings.FAIR_SHARE_SECONDS = 30.0
    caller = Executor.objects.create(executor_id="laptop-1", online=True)
    submitter = f"user:{'sql' if sql else 'orm'}"
    pending = held(caller, submitter, "in another transaction")
    ahead = timezone.now() + timedelta(hours=1)
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"]
    ) as other:
        other.execute(
            "UPDATE intents_intent SET status = 'queued', current_phase = 'test', rank = %s "
            "WHERE id = %s",
            [ahead, pending.pk],
        )
        first = hand_in(held(caller, submitter), caller, sql=sql)
        assert first.rank == queue_rank(first.queued_at, first.priority)
        other.commit()
    second = hand_in(held(caller, submitter), caller, sql=sql)
    assert second.rank == ahead + timedelta(seconds=30)

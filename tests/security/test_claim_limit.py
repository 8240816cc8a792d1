"""An executor's max_concurrent holds against its own parallel claims (issue 16, finding 1)."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections, connection

from executors.models import Executor
from intents import services
from intents.models import WORKING, Intent, IntentEvent

CLAIMERS = 30
CLAIMS_EACH = 4


@pytest.mark.django_db(transaction=True)
def test_thirty_parallel_claims_of_one_executor_never_hold_more_than_max_concurrent(
    postgres: None,
) -> None:
    executor = Executor.objects.create(executor_id="greedy", max_concurrent=3)
    for n in range(60):
        services.intent_submit(actor="load", title=f"i{n}", spec_text="-")
    # The spec check fails on "-": all 60 wait in the spec queue.
    assert Intent.objects.filter(status="queued").count() == 60
    errors: list[BaseException] = []
    start = threading.Barrier(CLAIMERS)

    def claimer() -> None:
        try:
            start.wait()
            for _ in range(CLAIMS_EACH):
                services.work_claim(executor_id=executor.pk, actor=executor.pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=claimer) for _ in range(CLAIMERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert all(not t.is_alive() for t in threads)
    held = Intent.objects.filter(assigned_to=executor, status__in=WORKING).count()
    # Nothing was completed, so every claim ever granted is still held: the events replay
    # the peak.
    granted = IntentEvent.objects.filter(kind="assigned", executor_id=executor.pk).count()
    assert (held, granted) == (3, 3)

"""The reaper: re-queues work whose lease lapsed, announces executors gone offline, and runs
the stall and review-SLA sweeps (intents/services/sweeps.py).

It runs as a loop in every server process (a daemon thread started with the ASGI application)
and as `python manage.py reap`. Several processes may run it; a PostgreSQL advisory lock makes
each pass single-flight, and every intent is handled in its own short transaction with SKIP
LOCKED, so the reaper never blocks a claim.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from core.db import is_postgresql
from executors.live import live
from executors.models import Executor
from executors.selectors import alive_among, liveness
from intents import counts, services
from intents.models import WORKING, Intent
from intents.services import sweeps

logger = logging.getLogger("assemblyline.reaper")

# pg_try_advisory_lock key: "al-reaper" as a number.
ADVISORY_LOCK_KEY = 0x616C2D726561
REAP_BATCH = 500


@dataclass
class ReapResult:
    requeued: list[str] = field(default_factory=list)
    offline: list[str] = field(default_factory=list)
    sweep: sweeps.SweepResult = field(default_factory=sweeps.SweepResult)
    skipped: bool = False  # another process holds the lock

    @property
    def requeued_count(self) -> int:
        return len(self.requeued) + len(self.sweep.requeued)


def reap(*, now: datetime | None = None) -> ReapResult:
    """One pass over the line."""
    now = now or timezone.now()
    result = ReapResult()
    lapsed = list(
        Intent.objects.filter(status__in=WORKING, lease_expires_at__lt=now)
        .order_by("lease_expires_at")
        .values_list("id", flat=True)[:REAP_BATCH]
    )
    for intent_id in lapsed:
        if services.lease_reap(intent_id=intent_id, now=now) is not None:
            result.requeued.append(intent_id)
    result.offline = announce_offline(now=now)
    result.sweep = sweeps.sweep(now=now)
    counts.refresh()  # the queue-counts snapshot that keeps /state flat for large queues
    return result


def announce_offline(*, now: datetime) -> list[str]:
    """Executors announced online whose heartbeat lapsed get their `executor_offline`."""
    suspects = Executor.objects.filter(online=True)
    online = list(suspects.values_list("pk", flat=True))
    keys = live.alive(online)
    if keys is not None:
        lapsed = [pk for pk in online if not keys[pk]]
        if not lapsed:
            return []
        # Redis can tell: only the rows of executors whose key lapsed are loaded (a live
        # fleet's every row was read every pass); their keys are read again below.
        suspects = suspects.filter(pk__in=lapsed)
    announced = list(suspects)
    alive = {e.pk for e in alive_among(announced, liveness(announced), now)}
    gone = []
    for executor in announced:
        if executor.pk in alive:
            continue
        reason = f"no heartbeat for {settings.EXECUTOR_OFFLINE_AFTER_SECONDS} s"
        if services.executor_offline(executor=executor, actor="reaper", reason=reason):
            gone.append(executor.pk)
    return gone


def reap_single_flight(*, now: datetime | None = None) -> ReapResult:
    """One pass, unless another process is doing one (PostgreSQL advisory lock)."""
    if not is_postgresql():
        return reap(now=now)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        (locked,) = cursor.fetchone()
    if not locked:
        return ReapResult(skipped=True)
    try:
        return reap(now=now)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])


class Reaper(threading.Thread):
    """The reaper loop of one server process."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="assemblyline-reaper", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        logger.info("reaper started, every %.1f s", self.interval)
        while not self.stopped.wait(self.interval):
            try:
                close_old_connections()
                result = reap_single_flight()
                if result.requeued_count or result.offline or result.sweep.stalled:
                    logger.info(
                        "reaped: %d re-queued, %d offline, %d stalled, %d review overdue",
                        result.requeued_count,
                        len(result.offline),
                        len(result.sweep.stalled),
                        len(result.sweep.overdue),
                    )
            except Exception:  # the loop must survive a lost database, and retry
                logger.exception("reaper pass failed; retrying in %.1f s", self.interval)
                connection.close()
        connection.close()

    def stop(self) -> None:
        self.stopped.set()


_started: Reaper | None = None
_start_lock = threading.Lock()


def start_reaper() -> Reaper | None:
    """Start this process's reaper once (when REAPER_ENABLED)."""
    global _started
    if not settings.REAPER_ENABLED:
        return None
    with _start_lock:
        if _started is None or not _started.is_alive():
            _started = Reaper(settings.REAPER_INTERVAL_SECONDS)
            _started.start()
    return _started

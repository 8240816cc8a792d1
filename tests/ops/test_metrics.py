"""/metrics after driving intents through the line: each of the line's metrics with the right
values (as deltas: counters are per process and this process ran other tests), and who may
read it. `transaction=True`: metrics count committed events only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from intents import reaper
from intents.models import Intent
from intents.services import sweeps
from tests.conftest import Actor, claim, complete, phase_artifacts, progress, submit

pytestmark = pytest.mark.django_db(transaction=True)


def scrape(actor: Actor) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = actor.client.get("/metrics")
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_line_metrics_after_a_day_on_the_line(
    settings: Any, viewer: Actor, submitter: Actor, executor: Actor, outsider: Actor
) -> None:
    settings.LEASE_SECONDS = 60
    before = scrape(viewer)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # A: all the way. B: its build fails once. C: its holder goes silent (the reaper takes
    # it back). D: waits for review past the SLA. E: stays queued.
    a = submit(submitter, title="a", priority=9)["intent_id"]
    for phase in ("build", "test", "production"):
        assert claim(executor)["intent"]["id"] == a
        progress(executor, a, phase, 0.5, phase)
        assert complete(executor, a, phase_artifacts(phase)).json()["auto_advanced"]
    b = submit(submitter, title="b", priority=8)["intent_id"]
    assert claim(executor)["intent"]["id"] == b
    assert complete(executor, b, {}, status="failed").json()["auto_advanced"] is False
    assert claim(executor)["intent"]["id"] == b
    assert complete(executor, b, phase_artifacts("build")).json()["next_phase"] == "test"
    c = submit(submitter, title="c", priority=10)["intent_id"]
    assert claim(executor)["intent"]["id"] == c
    progress(executor, c, "build", 0.2, "started")
    lease = Intent.objects.get(pk=c).lease_expires_at
    assert reaper.reap(now=lease + timedelta(seconds=1)).requeued == [c]
    d = submit(submitter, title="d", priority=6, requires_human_review=True)["intent_id"]
    Intent.objects.filter(pk=d).update(status="awaiting_review", review_requested_at=timezone.now())
    sweeps.review_sla_sweep(now=timezone.now() + timedelta(seconds=settings.REVIEW_SLA_SECONDS + 1))
    submit(submitter, title="e", priority=1)
    # The outsider takes c back (retry on a different executor); with one at a time
    # (max_concurrent 1) its next claim is empty.
    assert claim(outsider)["intent"]["id"] == c
    assert claim(outsider)["assigned"] is False

    after = scrape(viewer)
    # Claims: a×3, b×2, c, c again by the outsider; 1 empty.
    assert delta("assemblyline_claims_total", result="hit") == 7
    assert delta("assemblyline_claims_total", result="empty") == 1
    assert delta("assemblyline_completions_total", phase="build") == 2  # a, b
    assert delta("assemblyline_completions_total", phase="test") == 1  # a
    assert delta("assemblyline_completions_total", phase="production") == 1  # a completed
    assert delta("assemblyline_completions_total", phase="spec") == 5  # every submit
    assert delta("assemblyline_failures_total", phase="build", why="gate_failed") == 1
    assert delta("assemblyline_reaper_requeues_total", why="lease_expired") == 1
    assert delta("assemblyline_requeues_total", why="lease_expired") == 1
    assert delta("assemblyline_review_sla_breaches_total") == 1
    # Gate checks by level: a's test gate ran levels 3, 4, 5 once each, all passing.
    assert delta("assemblyline_gate_checks_total", level="3", result="passed") == 1
    assert delta("assemblyline_gate_checks_total", level="5", result="passed") == 1
    assert delta("assemblyline_gate_checks_total", level="spec", result="passed") == 5
    assert delta("assemblyline_gates_total", phase="build", result="passed") == 2
    # Histograms: one observation per hand-in, per claim.
    assert delta("assemblyline_phase_duration_seconds_count", phase="build") == 3  # a, b, b
    assert (
        delta("assemblyline_queue_wait_seconds_count", phase="build", environment="local") == 5
    )  # a, b, b, c, c again
    assert (
        delta("assemblyline_queue_wait_seconds_count", phase="test", environment="local") == 1
    )  # a
    # Gauges from the database, now.
    for phase in ("build", "test"):
        assert value(after, "assemblyline_queue_depth", phase=phase, status="queued") == (
            Intent.objects.filter(current_phase=phase, status="queued").count()
        )
    assert value(after, "assemblyline_reviews_waiting") == 1
    assert value(after, "assemblyline_reviews_overdue") == 1
    assert value(after, "assemblyline_work_stalled") == 0
    state = viewer.client.get("/assembly-line/state").json()["executors"]
    for status in ("idle", "busy", "offline"):
        assert value(after, "assemblyline_executors", status=status) == sum(
            1 for e in state.values() if e["status"] == status
        )
    # And the others are there: WebSocket connections, Redis, django-prometheus.
    names = {name for name, _ in after}
    assert {
        "assemblyline_websocket_connections",
        "assemblyline_redis_up",
        "django_http_requests_total_by_method_total",
        "django_db_execute_total",
    } <= names, sorted(names)


def test_who_may_read_metrics(
    settings: Any, anonymous: Any, submitter: Actor, executor: Actor, viewer: Actor, admin: Actor
) -> None:
    assert anonymous.get("/metrics").status_code == 401
    assert anonymous.get("/metrics").json()["error"]["code"] == "not_authenticated"
    assert submitter.client.get("/metrics").status_code == 403
    assert executor.client.get("/metrics").status_code == 403
    assert viewer.client.get("/metrics").status_code == 200
    assert admin.client.get("/metrics").status_code == 200
    settings.METRICS_PUBLIC = True
    public = anonymous.get("/metrics")
    assert public.status_code == 200 and b"assemblyline_queue_depth" in public.content

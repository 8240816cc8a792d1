"""The line's Prometheus metrics (beside django-prometheus's request and database metrics).

Counters and histograms are observed in one place, `observe(event)`, called for every
committed event (intents/events.py), so a rolled-back change counts nothing. Gauges of the
line's state (queue depth, executors by status, stalled work, overdue reviews) are read from
the database at scrape time by `LineCollector`: aggregate queries, the same in every process.
Counters are per process: with N app processes, scrape each and sum.

`GET /metrics`: an admin or viewer token (or a staff session), or open with METRICS_PUBLIC=true.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.http import HttpResponse
from django_prometheus.exports import ExportToDjangoView
from drf_spectacular.utils import extend_schema
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from executors.permissions import CanReadMetrics
from intents.models import WORKING, Intent, Status
from intents.selectors import executor_statuses, open_counts

WAIT_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600)
PHASE_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 2 * 3600, 4 * 3600)

CLAIMS = Counter(
    "assemblyline_claims_total",
    "Claims (GET /work/next): hit = an intent was assigned, empty = nothing to do",
    ["result"],
)
QUEUE_WAIT = Histogram(
    "assemblyline_queue_wait_seconds",
    "From entering a phase's queue to being claimed",
    ["phase", "environment"],
    buckets=WAIT_BUCKETS,
)
PHASE_DURATION = Histogram(
    "assemblyline_phase_duration_seconds",
    "From claim to hand-in of a phase",
    ["phase"],
    buckets=PHASE_BUCKETS,
)
COMPLETIONS = Counter(
    "assemblyline_completions_total",
    "Phases that passed their gate and moved on (production: completed)",
    ["phase"],
)
FAILURES = Counter(
    "assemblyline_failures_total",
    "Phases sent back (gate failed, review rejected) or failed for good",
    ["phase", "why"],
)
GATE_CHECKS = Counter(
    "assemblyline_gate_checks_total",
    "Checks run by phase gates, by verification level and result",
    ["level", "result"],
)
GATES = Counter(
    "assemblyline_gates_total", "Phase gate runs by phase and result", ["phase", "result"]
)
REQUEUES = Counter("assemblyline_requeues_total", "Intents put back in a queue, by why", ["why"])
REAPER_REQUEUES = Counter(
    "assemblyline_reaper_requeues_total",
    "Intents the reaper put back (lease lost, stalled)",
    ["why"],
)
STALLED = Counter(
    "assemblyline_stalled_total",
    "Claimed work flagged stalled (heartbeats, no progress)",
    ["phase"],
)
REVIEW_SLA_BREACHES = Counter(
    "assemblyline_review_sla_breaches_total",
    "Intents that waited for review longer than REVIEW_SLA_SECONDS",
)
WEBSOCKET_CONNECTIONS = Gauge(
    "assemblyline_websocket_connections", "Open WebSocket connections in this process"
)
EVENTS = Counter("assemblyline_events_total", "Committed state-change events by kind", ["kind"])


def observe(event: dict[str, Any]) -> None:
    """Count one committed event."""
    kind = event["type"]
    payload = event.get("payload") or {}
    EVENTS.labels(kind).inc()
    duration = event.get("duration_seconds")
    if kind == "assigned":
        CLAIMS.labels("hit").inc()
        if duration is not None:
            QUEUE_WAIT.labels(event["to_phase"], payload.get("environment", "unknown")).observe(
                duration
            )
    elif kind == "completed" and duration is not None:
        PHASE_DURATION.labels(event["from_phase"]).observe(duration)
    elif kind == "verified":
        GATES.labels(payload.get("gate", ""), "passed" if payload.get("passed") else "failed").inc()
        for check in (payload.get("checks") or {}).values():
            GATE_CHECKS.labels(
                str(check.get("level")), "passed" if check.get("passed") else "failed"
            ).inc()
    elif kind == "advanced":
        COMPLETIONS.labels(event["from_phase"]).inc()
    elif kind == "requeued":
        why = str(payload.get("why", "unknown"))
        REQUEUES.labels(why).inc()
        if why in ("gate_failed", "review_rejected"):
            FAILURES.labels(event["from_phase"], why).inc()
        if why in ("lease_expired", "stalled"):  # the reaper's own re-queues
            REAPER_REQUEUES.labels(why).inc()
    elif kind == "failed":
        FAILURES.labels(event["from_phase"], "failed").inc()
    elif kind == "stalled":
        STALLED.labels(event.get("from_phase") or "").inc()
    elif kind == "review_overdue":
        REVIEW_SLA_BREACHES.inc()


def claim_empty() -> None:
    CLAIMS.labels("empty").inc()


class LineCollector(Collector):
    """The line's state at scrape time, from aggregate queries."""

    NAMES = (
        "assemblyline_queue_depth",
        "assemblyline_executors",
        "assemblyline_work_stalled",
        "assemblyline_reviews_waiting",
        "assemblyline_reviews_overdue",
    )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Registration asks for the names; without this it would run collect() (queries).
        for name in self.NAMES:
            yield GaugeMetricFamily(name, name)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "assemblyline_queue_depth",
            "Open intents by phase and status",
            labels=["phase", "status"],
        )
        for phase, counts in open_counts().items():
            for status in Status.values:
                if status in (Status.COMPLETED, Status.FAILED, Status.CANCELLED):
                    continue
                depth.add_metric([phase, status], counts.get(status, 0))
        yield depth

        executors = GaugeMetricFamily(
            "assemblyline_executors", "Executors by live status", labels=["status"]
        )
        by_status = {"offline": 0, "idle": 0, "busy": 0}
        for executor in executor_statuses().values():
            by_status[executor["status"]] = by_status.get(executor["status"], 0) + 1
        for status, n in by_status.items():
            executors.add_metric([status], n)
        yield executors

        stalled = GaugeMetricFamily("assemblyline_work_stalled", "Claimed work flagged stalled now")
        stalled.add_metric(
            [], Intent.objects.filter(status__in=WORKING, stalled_at__isnull=False).count()
        )
        yield stalled

        reviews = Intent.objects.filter(status=Status.AWAITING_REVIEW).aggregate(
            waiting=Count("id"),
            # Flagged by the review-SLA sweep (intents/services/sweeps.py), as /state shows it.
            overdue=Count("id", filter=Q(review_overdue_at__isnull=False)),
        )
        waiting = GaugeMetricFamily("assemblyline_reviews_waiting", "Intents awaiting review")
        waiting.add_metric([], reviews["waiting"])
        yield waiting
        overdue = GaugeMetricFamily(
            "assemblyline_reviews_overdue", "Intents awaiting review beyond the review SLA"
        )
        overdue.add_metric([], reviews["overdue"])
        yield overdue


_registered = False


def register_collector() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(LineCollector())
        _registered = True


class MetricsApi(APIView):
    """GET /metrics: Prometheus text format (django-prometheus's exporter)."""

    permission_classes = [CanReadMetrics]

    def get_permissions(self) -> Sequence[Any]:
        if settings.METRICS_PUBLIC:
            return [AllowAny()]
        return super().get_permissions()

    @extend_schema(exclude=True)
    def get(self, request: Request) -> HttpResponse:
        response: HttpResponse = ExportToDjangoView(request._request)  # untyped library
        return response

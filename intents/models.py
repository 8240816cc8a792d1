"""Intents, their phase/status machine, and the append-only event log.

The transitions below only check source states and move the FSM fields; who may call them,
the locking and the events are the business of `intents.services`, the only caller.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition


class Phase(models.TextChoices):
    SPEC = "spec"
    BUILD = "build"
    TEST = "test"
    PRODUCTION = "production"


PHASE_ORDER = [Phase.SPEC, Phase.BUILD, Phase.TEST, Phase.PRODUCTION]


def next_phase(phase: str) -> str | None:
    index = PHASE_ORDER.index(Phase(phase))
    return PHASE_ORDER[index + 1] if index + 1 < len(PHASE_ORDER) else None


class Status(models.TextChoices):
    QUEUED = "queued"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    TESTING = "testing"
    AWAITING_REVIEW = "awaiting_review"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


WORKING = [Status.ASSIGNED, Status.IN_PROGRESS, Status.TESTING]
FINAL = [Status.COMPLETED, Status.FAILED, Status.CANCELLED]
OPEN = [Status.QUEUED, *WORKING, Status.AWAITING_REVIEW]


class EnvironmentPreference(models.TextChoices):
    SERVER = "server"
    LOCAL = "local"
    EITHER = "either"


def new_intent_id() -> str:
    return "int_" + uuid.uuid4().hex


def queue_rank(queued_at: datetime, priority: int) -> datetime:
    """The intent's place in the queue: earlier is served first.

    Ranking by `queued_at - priority × PRIORITY_AGEING_SECONDS` is exactly ordering by
    "priority plus one point per PRIORITY_AGEING_SECONDS waited", but the key is fixed at
    enqueue time, so the claim walks an index instead of sorting the whole queue.
    """
    return queued_at - timedelta(seconds=priority * settings.PRIORITY_AGEING_SECONDS)


class Intent(ConcurrentTransitionMixin, models.Model):
    """The spec's BuildIntent, every field kept, plus what a real queue needs."""

    id = models.CharField(primary_key=True, max_length=40, default=new_intent_id, editable=False)
    title = models.CharField(max_length=200)
    spec_path = models.CharField(max_length=500, blank=True, default="")
    spec_text = models.TextField(blank=True, default="")
    priority = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    # Who submitted it, as `principal_identity` (ownership, fair share, review); the label
    # is the submitter's name, for people to read.
    created_by = models.CharField(max_length=200)
    created_by_label = models.CharField(max_length=150, blank=True, default="", db_default="")
    created_at = models.DateTimeField(default=timezone.now)

    assigned_to = models.ForeignKey(
        "executors.Executor",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_intents",
    )
    assigned_at = models.DateTimeField(null=True, blank=True)

    environment_preference = models.CharField(
        max_length=10,
        choices=EnvironmentPreference.choices,
        default=EnvironmentPreference.EITHER,
    )
    requires_human_review = models.BooleanField(default=False)
    required_capabilities = models.JSONField(default=list, blank=True)

    status = FSMField(default=Status.QUEUED, choices=Status.choices, protected=True)
    current_phase = FSMField(default=Phase.SPEC, choices=Phase.choices, protected=True)

    phase_progress = models.JSONField(default=dict, blank=True)
    progress_message = models.CharField(max_length=500, blank=True, default="")
    build_output = models.TextField(null=True, blank=True)
    test_results = models.JSONField(null=True, blank=True)
    deployment_url = models.CharField(max_length=500, null=True, blank=True)
    artifacts = models.JSONField(default=dict, blank=True)

    verification_level = models.PositiveSmallIntegerField(default=0)
    quality_score = models.FloatField(null=True, blank=True)

    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    queued_at = models.DateTimeField(default=timezone.now)
    rank = models.DateTimeField(default=timezone.now)
    not_before = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    previous_executor = models.ForeignKey(
        "executors.Executor",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Rules for AI executors (separation of duties, retry elsewhere, spillover, stalls, SLA).
    built_by = models.ForeignKey(
        "executors.Executor",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The executor whose build passed its gate; it never takes test or production.",
    )
    avoid_executor = models.ForeignKey(
        "executors.Executor",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The executor whose attempt at this phase failed last; it gets the intent "
        "back only when no other matching executor is available.",
    )
    spilled = models.BooleanField(
        default=False, help_text="Claimed outside its phase's first-choice environment."
    )
    last_progress_at = models.DateTimeField(null=True, blank=True)
    stalled_at = models.DateTimeField(null=True, blank=True)
    review_requested_at = models.DateTimeField(null=True, blank=True)
    review_overdue_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.CharField(max_length=200, blank=True, default="")
    reviewed_by_label = models.CharField(max_length=150, blank=True, default="", db_default="")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The claim walks this: queued rows only, best rank first.
            models.Index(fields=["rank"], name="intent_queue_rank", condition=Q(status="queued")),
            models.Index(
                fields=["previous_executor", "rank"],
                name="intent_queue_affinity",
                condition=Q(status="queued"),
            ),
            # /state counts open work by phase and status without reading history.
            models.Index(
                fields=["current_phase", "status"],
                name="intent_open_by_phase",
                condition=Q(status__in=OPEN),
            ),
            # The oldest waiting intent (queue-wait figures, /state).
            models.Index(
                fields=["queued_at"], name="intent_queue_age", condition=Q(status="queued")
            ),
            # Fair share: the last queued intent of a submitter at a priority in a phase.
            models.Index(
                fields=["created_by", "priority", "current_phase", "rank"],
                name="intent_queue_submitter",
                condition=Q(status="queued"),
            ),
            # The stall sweep reads claimed work by its last progress.
            models.Index(
                fields=["last_progress_at"],
                name="intent_working_progress",
                condition=Q(status__in=WORKING),
            ),
            models.Index(
                fields=["review_requested_at"],
                name="intent_review_waiting",
                condition=Q(status="awaiting_review"),
            ),
            models.Index(fields=["assigned_to", "status"], name="intent_assigned"),
            models.Index(fields=["finished_at"], name="intent_finished"),
            models.Index(fields=["status", "-created_at"], name="intent_status_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(priority__gte=1) & Q(priority__lte=10), name="intent_priority_1_10"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.title!r} ({self.current_phase}/{self.status})"

    # --- status transitions -----------------------------------------------------------
    @transition(field=status, source=Status.QUEUED, target=Status.ASSIGNED)
    def claim(self) -> None:
        pass

    @transition(
        field=status,
        source=Status.ASSIGNED,
        target=RETURN_VALUE(Status.IN_PROGRESS, Status.TESTING),
    )
    def start(self) -> str:
        return Status.TESTING if self.current_phase == Phase.TEST else Status.IN_PROGRESS

    @transition(field=status, source=WORKING, target=Status.AWAITING_REVIEW)
    def hold_for_review(self) -> None:
        pass

    @transition(field=status, source=[*WORKING, Status.AWAITING_REVIEW], target=Status.QUEUED)
    def requeue(self) -> None:
        pass

    @transition(field=status, source=Status.FAILED, target=Status.QUEUED)
    def revive(self) -> None:
        pass

    @transition(field=status, source=[*WORKING, Status.AWAITING_REVIEW], target=Status.COMPLETED)
    def finish(self) -> None:
        pass

    @transition(field=status, source=OPEN, target=Status.FAILED)
    def fail(self) -> None:
        pass

    @transition(field=status, source=OPEN, target=Status.CANCELLED)
    def cancel(self) -> None:
        pass

    # --- phase transitions ------------------------------------------------------------
    @transition(
        field=current_phase,
        source=[Phase.SPEC, Phase.BUILD, Phase.TEST],
        target=RETURN_VALUE(Phase.BUILD, Phase.TEST, Phase.PRODUCTION),
    )
    def advance_phase(self) -> str:
        following = next_phase(self.current_phase)
        assert following is not None
        return following

    @property
    def progress(self) -> float:
        return float(self.phase_progress.get(self.current_phase, 0.0))

    def let_go(self) -> None:
        """Nobody holds the intent any more: no holder, lease or stall flag, and no review
        clock. Every way out of claimed or held work (advance, review, retry, re-queue,
        release) goes through here."""
        self.assigned_to = None
        self.lease_expires_at = None
        self.stalled_at = None
        self.review_requested_at = None
        self.review_overdue_at = None


class IdempotencyKey(models.Model):
    """The first answer to a submission made with an `Idempotency-Key` header: a repeat of the
    key by the same caller gets this answer again instead of a second intent."""

    actor = models.CharField(max_length=200)  # the caller's principal_identity
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    intent = models.ForeignKey(Intent, on_delete=models.CASCADE, related_name="+")
    response = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["actor", "key"], name="idempotency_actor_key")
        ]

    def __str__(self) -> str:
        return f"{self.actor}:{self.key} → {self.intent_id}"


class EventKind(models.TextChoices):
    SUBMITTED = "submitted"
    ASSIGNED = "assigned"
    PROGRESS = "progress"
    COMPLETED = "completed"
    VERIFIED = "verified"
    ADVANCED = "advanced"
    REVIEW_REQUESTED = "review_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    REQUEUED = "requeued"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STALLED = "stalled"
    REVIEW_OVERDUE = "review_overdue"
    EXECUTOR_REGISTERED = "executor_registered"
    EXECUTOR_ONLINE = "executor_online"
    EXECUTOR_OFFLINE = "executor_offline"


class ReviewRequest(Intent):
    """The review queue in admin: intents awaiting a human (a proxy of Intent)."""

    class Meta:
        proxy = True
        verbose_name = "intent awaiting review"
        verbose_name_plural = "intents awaiting review"


class IntentEvent(models.Model):
    """One row for every state change, written in the transaction that makes the change."""

    intent = models.ForeignKey(
        Intent, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    executor_id = models.CharField(max_length=100, blank=True, default="")
    actor = models.CharField(max_length=150)
    kind = models.CharField(max_length=30, choices=EventKind.choices)
    from_status = models.CharField(max_length=20, blank=True, default="")
    to_status = models.CharField(max_length=20, blank=True, default="")
    from_phase = models.CharField(max_length=20, blank=True, default="")
    to_phase = models.CharField(max_length=20, blank=True, default="")
    payload = models.JSONField(default=dict, blank=True)
    # Seconds the phase took, on `completed` events: the average phase time reads this.
    duration_seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["intent", "created_at"], name="event_intent_time"),
            models.Index(fields=["kind", "created_at"], name="event_kind_time"),
            models.Index(fields=["created_at"], name="event_time"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.intent_id or self.executor_id} by {self.actor}"

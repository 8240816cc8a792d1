"""A record of every verification run: gate runs and on-demand /verify runs."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class VerificationRun(models.Model):
    intent = models.ForeignKey(
        "intents.Intent", on_delete=models.CASCADE, related_name="verification_runs"
    )
    phase = models.CharField(max_length=20)
    # The highest level asked for (0 for a spec-only gate).
    level = models.PositiveSmallIntegerField()
    passed = models.BooleanField()
    # name -> {"passed", "detail", "level", "blocking"}
    checks = models.JSONField(default=dict)
    # True for a phase gate, False for an on-demand /verify.
    gate = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["intent", "-created_at"], name="verification_intent")]

    def __str__(self) -> str:
        return f"{self.intent_id} {self.phase} L{self.level} {'pass' if self.passed else 'fail'}"

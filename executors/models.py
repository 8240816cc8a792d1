"""Executors (AI coding sessions and the server-side AI) and the API tokens that act for them."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.db import models
from django.utils import timezone


class ExecutorType(models.TextChoices):
    CLAUDE_CODE = "claude_code"
    SERVER_AI = "server_ai"


class ExecutorEnvironment(models.TextChoices):
    LOCAL = "local"
    SERVER = "server"


class Availability(models.TextChoices):
    ALWAYS = "always"
    WHEN_ACTIVE = "when_active"


class Executor(models.Model):
    """The spec's ExecutorStatus. `status` (idle/busy/offline) is derived, never stored."""

    executor_id = models.CharField(primary_key=True, max_length=100)
    executor_type = models.CharField(
        max_length=20, choices=ExecutorType.choices, default=ExecutorType.CLAUDE_CODE
    )
    environment = models.CharField(
        max_length=10, choices=ExecutorEnvironment.choices, default=ExecutorEnvironment.LOCAL
    )
    capabilities = models.JSONField(default=list, blank=True)
    availability = models.CharField(
        max_length=20, choices=Availability.choices, default=Availability.WHEN_ACTIVE
    )
    max_concurrent = models.PositiveSmallIntegerField(default=1)

    builds_completed = models.PositiveIntegerField(default=0)
    builds_failed = models.PositiveIntegerField(default=0)
    total_build_seconds = models.FloatField(default=0.0)

    last_heartbeat = models.DateTimeField(null=True, blank=True)
    # The last online/offline state announced by an event; the live state is derived from the
    # heartbeat (Redis key, or last_heartbeat when Redis is down).
    online = models.BooleanField(default=False)
    is_healthy = models.BooleanField(default=True)
    registered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["executor_id"]

    def __str__(self) -> str:
        return self.executor_id

    @property
    def avg_build_time(self) -> float:
        if not self.builds_completed:
            return 0.0
        return self.total_build_seconds / self.builds_completed

    @property
    def success_rate(self) -> float:
        finished = self.builds_completed + self.builds_failed
        if not finished:
            return 1.0
        return self.builds_completed / finished


class Role(models.TextChoices):
    ADMIN = "admin"
    SUBMITTER = "submitter"
    EXECUTOR = "executor"
    VIEWER = "viewer"


TOKEN_PREFIX_LENGTH = 12


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token. Only a lookup prefix and the sha256 of the whole token are stored;
    the token itself is shown once, when it is made."""

    name = models.CharField(max_length=150)
    prefix = models.CharField(max_length=TOKEN_PREFIX_LENGTH, unique=True, editable=False)
    hashed = models.CharField(max_length=64, editable=False)
    role = models.CharField(max_length=20, choices=Role.choices)
    executor = models.ForeignKey(
        Executor, null=True, blank=True, on_delete=models.CASCADE, related_name="tokens"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.role}, {self.prefix}…)"

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """A new token as (token, prefix, sha256 hex)."""
        prefix = "al" + secrets.token_hex((TOKEN_PREFIX_LENGTH - 2) // 2)
        token = f"{prefix}.{secrets.token_urlsafe(32)}"
        return token, prefix, hash_secret(token)

    def matches(self, token: str) -> bool:
        return hmac.compare_digest(self.hashed, hash_secret(token))

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

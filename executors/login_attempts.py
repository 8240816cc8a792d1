"""django-axes' count of failed admin logins, in the cache (Redis in production)."""

from __future__ import annotations

from typing import Any

import structlog
from axes.handlers.cache import AxesCacheHandler
from redis.exceptions import RedisError

log = structlog.get_logger("executors.login_attempts")


class LoginAttemptsInCache(AxesCacheHandler):  # type: ignore[misc]  # axes is untyped
    """Axes' cache handler that counts nothing while Redis is away instead of failing every
    login with a 500: the admin keeps working, as the line does from PostgreSQL, and the
    count resumes when Redis answers (docs/security.md)."""

    def get_failures(self, request: Any, credentials: dict[str, Any] | None = None) -> int:
        try:
            return int(super().get_failures(request, credentials))
        except RedisError as exc:
            log.warning("login_attempts_not_counted", error=f"{type(exc).__name__}: {exc}")
            return 0

    def user_login_failed(
        self, sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
    ) -> None:
        try:
            super().user_login_failed(sender, credentials, request, **kwargs)
        except RedisError as exc:
            log.warning("login_attempts_not_counted", error=f"{type(exc).__name__}: {exc}")

    def user_logged_in(self, sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
        try:
            super().user_logged_in(sender, request, user, **kwargs)
        except RedisError as exc:
            log.warning("login_attempts_not_reset", error=f"{type(exc).__name__}: {exc}")

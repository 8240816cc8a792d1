"""Who may call what (DESIGN §8). Ownership of work is checked in the services."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from executors.authentication import principal_of
from executors.models import Role


class IsAuthenticatedPrincipal(BasePermission):
    """Any role: admin, submitter, executor, viewer."""

    roles: tuple[str, ...] = (Role.ADMIN, Role.SUBMITTER, Role.EXECUTOR, Role.VIEWER)
    message = "your role may not do this"

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = principal_of(request)
        if principal is None:
            return False
        return principal.role in self.roles


class CanSubmit(IsAuthenticatedPrincipal):
    """Submitting intents: people and AI sessions alike."""

    roles = (Role.ADMIN, Role.SUBMITTER, Role.EXECUTOR)
    message = "only admin, submitter and executor tokens may submit intents"


class CanVerify(IsAuthenticatedPrincipal):
    """On-demand verification; which intents is decided in the service (its submitter, the
    executor holding it, admins)."""

    roles = (Role.ADMIN, Role.SUBMITTER, Role.EXECUTOR)
    message = "viewers may not run verification"


class CanWork(IsAuthenticatedPrincipal):
    """Claiming, reporting progress, completing, heartbeats."""

    roles = (Role.ADMIN, Role.EXECUTOR)
    message = "only executor (and admin) tokens may take and report work"


class IsAdmin(IsAuthenticatedPrincipal):
    roles = (Role.ADMIN,)
    message = "only admins may do this"


class CanReadMetrics(IsAuthenticatedPrincipal):
    roles = (Role.ADMIN, Role.VIEWER)
    message = "only admin and viewer tokens may read /metrics"

"""Database helpers shared by the apps."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def skip_locked(queryset: QuerySet[M], **options: Any) -> QuerySet[M]:
    """Lock the rows, skipping those another transaction holds (PostgreSQL), so periodic work
    in several processes never waits on or handles the same row. SQLite serializes writers:
    a plain lock there (`options`, e.g. `of`, apply only to PostgreSQL)."""
    if is_postgresql():
        return queryset.select_for_update(skip_locked=True, **options)
    return queryset.select_for_update()

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from executors.models import ApiToken, Executor
from executors.services import (
    executor_delete,
    executor_save,
    token_delete,
    token_issue,
    token_rename,
    token_revoke,
)


@admin.register(Executor)
class ExecutorAdmin(admin.ModelAdmin[Executor]):
    list_display = [
        "executor_id",
        "executor_type",
        "environment",
        "max_concurrent",
        "builds_completed",
        "builds_failed",
        "last_heartbeat",
        "is_healthy",
    ]
    list_filter = ["executor_type", "environment", "availability"]
    search_fields = ["executor_id"]
    readonly_fields = [
        "builds_completed",
        "builds_failed",
        "total_build_seconds",
        "last_heartbeat",
        "registered_at",
    ]

    def save_model(self, request: HttpRequest, obj: Executor, form: Any, change: bool) -> None:
        executor_save(executor=obj)

    # The delete page and the "delete selected" action both end here.
    def delete_model(self, request: HttpRequest, obj: Executor) -> None:
        executor_delete(executor=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Executor]) -> None:
        for executor in queryset:
            executor_delete(executor=executor)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = [
        "name",
        "role",
        "executor",
        "prefix",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["role"]
    search_fields = ["name", "prefix"]
    fields = ["name", "role", "executor", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        # A made token keeps its role and executor: they are its identity (docs/security.md).
        extra = ["role", "executor"] if obj is not None else []
        return [*self.readonly_fields, *extra]

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if not change:
            token = token_issue(api_token=obj)
            self.message_user(
                request,
                f"Token for {obj.name} (shown once, copy it now): {token}",
                messages.WARNING,
            )
            return
        token_rename(api_token=obj, name=obj.name)

    def delete_model(self, request: HttpRequest, obj: ApiToken) -> None:
        token_delete(api_token=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for api_token in queryset:
            token_delete(api_token=api_token)

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for api_token in queryset:
            token_revoke(api_token=api_token)
        self.message_user(request, f"{queryset.count()} token(s) revoked")

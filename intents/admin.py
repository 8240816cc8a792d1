"""Intents in Django admin: read-only records (every change goes through the services),
with their events inline and actions that call the same service functions as the API."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from assemblyline.errors import LineError
from intents import services
from intents.models import Intent, IntentEvent


class IntentEventInline(admin.TabularInline):
    model = IntentEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "actor", "executor_id", "from_status", "to_status",
              "from_phase", "to_phase", "payload"]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Intent)
class IntentAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "current_phase", "status", "priority", "assigned_to",
                    "attempts", "verification_level", "created_by", "created_at"]
    list_filter = ["status", "current_phase", "environment_preference", "requires_human_review"]
    search_fields = ["id", "title", "created_by"]
    ordering = ["-created_at"]
    inlines = [IntentEventInline]
    actions = ["cancel_intents"]
    list_select_related = ["assigned_to"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Intent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # intents come in through the API, where the submit rules run

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the line never loses an intent

    @admin.action(description="Cancel the selected intents")
    def cancel_intents(self, request: HttpRequest, queryset: QuerySet[Intent]) -> None:
        done = 0
        for intent_id in queryset.values_list("id", flat=True):
            try:
                services.intent_cancel(
                    intent_id=intent_id,
                    actor=request.user.get_username(),
                    is_admin=True,
                    reason="cancelled in admin",
                )
                done += 1
            except LineError as exc:
                self.message_user(request, exc.message, messages.WARNING)
        self.message_user(request, f"{done} intent(s) cancelled")


@admin.register(IntentEvent)
class IntentEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "intent", "executor_id", "actor", "from_status",
                    "to_status", "from_phase", "to_phase"]
    list_filter = ["kind"]
    search_fields = ["intent__id", "executor_id", "actor"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in IntentEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # append-only audit log

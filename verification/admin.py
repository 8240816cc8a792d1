from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from verification.models import VerificationRun


@admin.register(VerificationRun)
class VerificationRunAdmin(admin.ModelAdmin[VerificationRun]):
    """The record of every gate and /verify run: read-only."""

    list_display = ["created_at", "intent", "phase", "level", "passed", "gate"]
    list_filter = ["passed", "gate", "phase"]
    search_fields = ["intent__id"]
    readonly_fields = ["intent", "phase", "level", "passed", "checks", "gate", "created_at"]
    list_select_related = ["intent"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

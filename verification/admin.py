from django.contrib import admin

from verification.models import VerificationRun


@admin.register(VerificationRun)
class VerificationRunAdmin(admin.ModelAdmin):
    list_display = ["created_at", "intent", "phase", "level", "passed", "gate"]
    list_filter = ["passed", "gate", "phase"]
    search_fields = ["intent__id"]
    readonly_fields = ["intent", "phase", "level", "passed", "checks", "gate", "created_at"]

"""The dashboard page and an intent's read-only page (the API lives in intents/apis.py)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from intents.selectors import intent_page, line_state


@login_required(login_url="/admin/login/")
def dashboard(request: HttpRequest) -> HttpResponse:
    """GET /assembly-line/dashboard: the line, live. People log in through the admin login
    page (any active user may watch; staff get the review links); the page's script then
    follows the WebSocket with the same session."""
    return render(
        request,
        "intents/dashboard.html",
        {
            "state": line_state(),
            "review_sla_seconds": settings.REVIEW_SLA_SECONDS,
            "service_version": settings.SERVICE_VERSION,
        },
    )


@login_required(login_url="/admin/login/")
def intent_detail(request: HttpRequest, intent_id: str) -> HttpResponse:
    """GET /assembly-line/dashboard/intents/<id>: one intent, read-only, for the people who
    watch the dashboard: its state, latest checks, artifacts and whole timeline."""
    page = intent_page(intent_id=intent_id)
    if page is None:
        raise Http404("no such intent")
    return render(request, "intents/intent_detail.html", page)

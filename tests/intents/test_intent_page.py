"""The intent's read-only page (GET /assembly-line/dashboard/intents/<id>): for people logged
in (as the dashboard), 404 for any id that is not an intent, and executor input shown as text."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from intents import services
from intents.models import Intent
from tests.conftest import SPEC_OK

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(db: Any) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_user("reader", password="x", is_staff=True))
    return client


def submitted(title: str = "paged") -> Intent:
    return services.intent_submit(actor="alice", title=title, spec_text=SPEC_OK)


def test_anonymous_is_sent_to_the_login_page() -> None:
    intent = submitted()
    answer = Client().get(f"/assembly-line/dashboard/intents/{intent.id}")
    assert answer.status_code == 302 and answer["Location"].startswith("/admin/login/")


def test_the_page_shows_the_intent_and_its_timeline(person: Client) -> None:
    intent = submitted("<b>bold</b> title")
    page = person.get(f"/assembly-line/dashboard/intents/{intent.id}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt; title" in html and "<b>bold</b>" not in html
    assert html.count('<li data-kind="') == intent.events.count()
    assert 'data-kind="submitted"' in html and "spec_complete" in html


@pytest.mark.parametrize("intent_id", ["int_nope", "x" * 5000, "..%2F..%2Fadmin", "NaN"])
def test_any_other_id_is_404(person: Client, intent_id: str) -> None:
    assert person.get(f"/assembly-line/dashboard/intents/{intent_id}").status_code == 404


def test_nul_in_the_id_is_400(person: Client) -> None:
    # Refused before any view, like NUL anywhere in a path (tests/security).
    assert person.get("/assembly-line/dashboard/intents/int_%00").status_code == 400


def test_a_deployment_url_is_linked_only_when_it_is_a_web_address(person: Client) -> None:
    intent = submitted()
    Intent.objects.filter(pk=intent.id).update(deployment_url="javascript:alert(1)")
    html = person.get(f"/assembly-line/dashboard/intents/{intent.id}").content.decode()
    assert 'href="javascript:' not in html and "javascript:alert(1)" in html
    Intent.objects.filter(pk=intent.id).update(deployment_url="https://svc.example/")
    html = person.get(f"/assembly-line/dashboard/intents/{intent.id}").content.decode()
    assert 'href="https://svc.example/"' in html

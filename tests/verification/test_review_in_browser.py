"""Human review clicked through in a real browser (Debian's Chromium driven by playwright)
against a real uvicorn process on PostgreSQL and Redis: from /admin/ or the dashboard, through
the links the pages offer, to Approve / Reject; the outcome is read back through the REST API.

UPDATE_SCREENSHOT=1 writes the review page to docs/review-page.png."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connections

from executors.models import Executor, Role
from executors.services import token_create
from tests.conftest import SPEC_OK, need, phase_artifacts
from tests.servers import ROOT, Server

pytestmark = pytest.mark.django_db(transaction=True)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Line:
    """A running server, an admin token to read intents back, and executors to bring intents
    to review."""

    server: Server
    admin: httpx.Client
    submitter: httpx.Client
    builder: httpx.Client
    tester: httpx.Client

    def to_review(self, title: str) -> str:
        """Submit an intent that needs a human; build it on one executor and test it on the
        other (separation of duties), so it waits for review before production."""
        answer = self.submitter.post(
            "/assembly-line/intent",
            json={"title": title, "spec_text": SPEC_OK, "requires_human_review": True},
        )
        assert answer.status_code == 201, answer.text
        intent_id = answer.json()["intent_id"]
        for client, executor_id in ((self.builder, "srv-1"), (self.tester, "lap-1")):
            work = client.get("/assembly-line/work/next", params={"executor_id": executor_id})
            assert work.json()["intent"]["id"] == intent_id, work.text
            done = client.post(
                "/assembly-line/work/complete",
                json={
                    "intent_id": intent_id,
                    "executor_id": executor_id,
                    "status": "completed",
                    "artifacts": phase_artifacts(work.json()["intent"]["current_phase"]),
                },
            )
            assert done.status_code == 200, done.text
        assert self.intent(intent_id)["status"] == "awaiting_review"
        return intent_id

    def intent(self, intent_id: str) -> dict[str, Any]:
        answer = self.admin.get(f"/assembly-line/intents/{intent_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


# The `server` of these tests (tests/conftest.py): one process for the module.
SERVER_ENV = {"PHASE_ROUTING": "build:server", "SPILLOVER_SECONDS": "0"}


@pytest.fixture
def line(server: Server) -> Iterator[Line]:
    need(bool(settings.REDIS_URL), "Redis (REDIS_URL)")
    need(Path(CHROMIUM).exists(), "Chromium (/usr/bin/chromium)")
    # A reviewer is staff with the intent permissions, not a superuser.
    reviewer = get_user_model().objects.create_user("rita", password="pw-rita-1", is_staff=True)
    reviewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_intent", "change_intent"])
    )
    executors = {}
    for executor_id, environment in (("srv-1", "server"), ("lap-1", "local")):
        row = Executor.objects.create(executor_id=executor_id, environment=environment)
        executors[executor_id] = token_create(name=executor_id, role=Role.EXECUTOR, executor=row)[1]
    clients = [
        server.client(token_create(name="ops", role=Role.ADMIN)[1]),
        server.client(token_create(name="alice", role=Role.SUBMITTER)[1]),
        server.client(executors["srv-1"]),
        server.client(executors["lap-1"]),
    ]
    try:
        yield Line(server, *clients)
    finally:
        for client in clients:
            client.close()


@pytest.fixture
def browser(line: Line, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # playwright's sync API keeps an event loop in this thread; the ORM calls of the fixtures
    # are plain blocking calls made before and after (Django's documented escape hatch).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        # Generous: on a loaded 2-core CI machine an admin page's first render took over 15 s.
        page.set_default_timeout(30_000)
        yield page
        chromium.close()
    connections.close_all()


def log_in(page: Any) -> None:
    page.fill("#id_username", "rita")
    page.fill("#id_password", "pw-rita-1")
    page.click("input[type=submit]")


def open_admin(page: Any, line: Line) -> None:
    page.goto(line.server.url + "/admin/")
    log_in(page)
    page.wait_for_url("**/admin/")


def test_approve_from_the_review_queue(line: Line, browser: Any) -> None:
    from playwright.sync_api import expect

    intent_id = line.to_review("resize images")
    line.to_review("another one")  # the queue shows more than one
    page = browser
    open_admin(page, line)
    page.get_by_role("link", name="Intents awaiting review").click()
    expect(page.locator("#content h1")).to_contain_text("Review queue")
    expect(page.locator("p.paginator")).to_contain_text("2 intents awaiting review")
    expect(page.locator("#result_list")).to_contain_text("test L5 passed")
    page.screenshot(path=str(Path(line.server.log.name).with_suffix(".queue.png")))
    page.get_by_role("link", name="resize images").click()

    # The page opens with what the reviewer decides on, the decision forms before the history.
    review = page.locator("#review")
    expect(page.locator("#content h1")).to_have_text("resize images")
    expect(review.locator(".facts").first).to_contain_text("alice")
    expect(page.locator("#review-age")).to_contain_text("of 4 h 00 min")
    expect(page.locator("#checks")).to_contain_text("test gate, level 5: passed")
    expect(page.locator("#artifacts")).to_contain_text("42 passed, 0 failed, 1 skipped")
    expect(page.locator("#artifacts")).to_contain_text("91.5 %")
    expect(page.locator("#deployment-url")).to_have_attribute("href", "http://127.0.0.1:9/")
    expect(page.locator("#history")).not_to_have_attribute("open", "")
    approve = page.get_by_role("button", name="Approve")
    expect(approve).to_be_in_viewport()
    shot = (
        ROOT / "docs" / "review-page.png"
        if os.environ.get("UPDATE_SCREENSHOT")
        else (Path(line.server.log.name).with_suffix(".png"))
    )
    page.screenshot(path=str(shot))

    page.fill("#id_note", "looks right")
    approve.click()
    expect(page.locator("ul.messagelist")).to_contain_text("approved")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    intent = line.intent(intent_id)
    assert (intent["status"], intent["current_phase"]) == ("queued", "production")
    assert intent["reviewed_by_label"] == "rita"
    assert intent["reviewed_by"].startswith("user:")


def test_reject_needs_a_reason_and_sends_the_intent_back(line: Line, browser: Any) -> None:
    from playwright.sync_api import expect

    intent_id = line.to_review("auth gateway")
    page = browser
    open_admin(page, line)
    # Through the Intents list this time: admin's link quotes the id (int_5F…).
    page.locator("tr.model-intent th a").click()
    page.get_by_role("link", name=intent_id).click()
    assert "/int_5F" in page.url
    reject = page.get_by_role("button", name="Reject")

    reject.click()  # no reason: the browser keeps the form (the field is required)
    assert page.evaluate("document.querySelector('#id_reason').validity.valueMissing")
    page.fill("#id_reason", "   ")  # blank: the server refuses it with a message
    reject.click()
    expect(page.locator("ul.messagelist")).to_contain_text("A rejection needs a reason")
    assert line.intent(intent_id)["status"] == "awaiting_review"

    page.fill("#id_reason", "the error messages leak file paths")
    page.get_by_role("button", name="Reject").click()
    expect(page.locator("ul.messagelist")).to_contain_text("rejected")
    intent = line.intent(intent_id)
    assert (intent["status"], intent["current_phase"], intent["attempts"]) == ("queued", "test", 1)
    rejected = [e for e in intent["events"] if e["kind"] == "rejected"]
    assert rejected[0]["payload"] == {"reason": "the error messages leak file paths"}


def test_review_from_the_dashboards_inbox_link(line: Line, browser: Any) -> None:
    from playwright.sync_api import expect

    intent_id = line.to_review("image resizer")
    page = browser
    page.goto(line.server.url + "/assembly-line/dashboard")
    log_in(page)
    page.wait_for_url("**/assembly-line/dashboard")
    page.locator(f"#review li[data-intent={intent_id}] a").click()
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("ul.messagelist")).to_contain_text("approved")
    expect(page.locator("#content h1")).to_have_text("image resizer")
    assert line.intent(intent_id)["current_phase"] == "production"


def test_queue_actions_on_two_selected_intents(line: Line, browser: Any) -> None:
    from playwright.sync_api import expect

    approve = [line.to_review(f"approve me {n}") for n in (1, 2)]
    reject = [line.to_review(f"reject me {n}") for n in (1, 2)]
    page = browser
    open_admin(page, line)
    page.get_by_role("link", name="Intents awaiting review").click()

    def select(intent_ids: list[str], action: str) -> None:
        for intent_id in intent_ids:
            page.locator(f"input.action-select[value={intent_id}]").check()
        page.select_option("select[name=action]", action)
        page.get_by_role("button", name="Go").click()

    select(approve, "approve_selected")
    expect(page.locator("ul.messagelist")).to_contain_text("Approved 2")
    for intent_id in approve:
        assert line.intent(intent_id)["current_phase"] == "production"

    select(reject, "reject_selected")
    expect(page.locator("#selected li")).to_have_count(2)
    page.fill("#id_reason", "no README for the new endpoints")
    page.get_by_role("button", name="Reject 2 intents").click()
    expect(page.locator("ul.messagelist")).to_contain_text("Rejected 2")
    expect(page.locator("p.paginator")).to_contain_text("0 intents awaiting review")
    for intent_id in reject:
        intent = line.intent(intent_id)
        assert (intent["status"], intent["current_phase"]) == ("queued", "test")
        assert [e["payload"] for e in intent["events"] if e["kind"] == "rejected"] == [
            {"reason": "no README for the new endpoints"}
        ]

"""The dashboard as a person reads it (issue 17, item 9), in Debian's Chromium against a real
server: a progress report moves a Work-in-progress row to its new phase and executor at
once; table headers and phase names never break inside a word; Latest events names intents
by title; a title opens the intent's read-only page with its timeline, checks and
artifacts."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections

from executors.services import token_create
from tests.conftest import SPEC_OK, need
from tests.realtime.test_live_server import CHROMIUM, CHROMIUM_ARGS, Api, executor
from tests.servers import Server

pytestmark = pytest.mark.django_db(transaction=True)

# Cells of one word (headers, phase names): each must stay on one line. A table must fit its
# panel (an intent id in a cell wraps instead).
ONE_LINE_CELLS = "#queue th, #queue td:first-child, #executors th"
TABLES_FIT = """tables => tables.map(t => [t.id, t.getBoundingClientRect().right
    <= t.closest('.panel').getBoundingClientRect().right + 0.5])"""
LINES_OF = """cells => cells.map(c => {
    const style = getComputedStyle(c);
    // 'normal' (seen under load on CI) is about 1.2 font sizes in Chromium.
    const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.2;
    const pad = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
    return [c.textContent, Math.round((c.getBoundingClientRect().height - pad) / line)];
})"""


def test_dashboard_items_a_person_reads(postgres: None, monkeypatch: pytest.MonkeyPatch) -> None:
    need(bool(settings.REDIS_URL), "Redis (REDIS_URL)")
    need(Path(CHROMIUM).exists(), "Chromium (/usr/bin/chromium)")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import expect, sync_playwright

    get_user_model().objects.create_user("watcher", password="pw-watch-1", is_staff=True)
    submitter = httpx.Client(
        headers={"Authorization": "Bearer " + token_create(name="alice", role="submitter")[1]},
        timeout=10,
    )
    _, srv_client, _ = executor("srv-with-a-long-executor-name-1", "server")
    _, lap_client, _ = executor("lap-with-a-long-executor-name-1", "local")
    server = Server({"PHASE_ROUTING": "build:server,test:local"}).start()
    api = Api(server.url)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            # A laptop-sized window: the panels are at their narrowest (two columns).
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.goto(server.url + "/assembly-line/dashboard")
            page.fill("#id_username", "watcher")
            page.fill("#id_password", "pw-watch-1")
            page.click("input[type=submit]")
            page.wait_for_url("**/assembly-line/dashboard")
            expect(page.locator("#connection")).to_have_attribute("data-state", "live")

            submitted = submitter.post(
                server.url + "/assembly-line/intent",
                json={"title": "readable-intent", "spec_text": SPEC_OK},
            )
            intent_id = submitted.json()["intent_id"]
            srv, lap = "srv-with-a-long-executor-name-1", "lap-with-a-long-executor-name-1"
            intent = api.claim(srv_client, srv)
            wip = page.locator(f"#wip li[data-intent={intent_id}]")
            expect(wip).to_be_visible()
            # From here on the page hears events only (no snapshot answers): what it shows
            # is what it made of the events themselves.
            page.evaluate("WebSocket.prototype.send = function () {}")
            api.progress(srv_client, srv, intent, 0.4, "compiling")
            expect(wip.locator(".line .muted")).to_have_text(f" build · in_progress · {srv} ")
            api.complete(srv_client, srv, intent)
            intent = api.claim(lap_client, lap)
            api.progress(lap_client, lap, intent, 0.7, "running the suite")
            expect(wip.locator(".msg")).to_have_text("70 % running the suite")
            expect(wip.locator(".line .muted")).to_have_text(f" test · testing · {lap} ")

            # Headers and phase names on one line each, executors with work listed.
            page.reload()
            expect(page.locator("#executors tr")).to_have_count(3)
            # The server renders the rows; on a loaded machine the stylesheet can come later.
            expect(page.locator("body")).to_have_css("line-height", re.compile(r"px$"))
            lines = page.eval_on_selector_all(ONE_LINE_CELLS, LINES_OF)
            assert lines and all(n == 1 for text, n in lines if " " not in text), lines
            fits = page.eval_on_selector_all("#queue, #executors", TABLES_FIT)
            assert fits == [["queue", True], ["executors", True]], fits

            # Latest events: titles, the id on hover; a title opens the intent's page.
            progress = page.locator("#events li[data-kind=progress]").first
            expect(progress).to_contain_text("readable-intent")
            expect(progress).not_to_contain_text(intent_id)
            link = progress.locator("a.intent-link")
            expect(link).to_have_attribute("title", intent_id)
            link.click()
            page.wait_for_url(f"**/assembly-line/dashboard/intents/{intent_id}")
            expect(page.locator("h1")).to_contain_text("readable-intent")
            expect(page.locator("#i-phase")).to_have_text("test")
            timeline = page.locator("#timeline li")
            kinds = timeline.evaluate_all("items => items.map(i => i.dataset.kind)")
            assert kinds[:3] == ["submitted", "verified", "advanced"], kinds
            assert kinds.count("progress") == 2 and kinds.count("assigned") == 2, kinds
            expect(timeline.filter(has_text="running the suite")).to_contain_text(f"by {lap}")
            expect(page.locator("#checks")).to_contain_text("passed")
            expect(page.locator("#artifacts summary").first).to_be_visible()
            # Back to the dashboard by its own link; the WIP title is a link too.
            page.click("text=dashboard")
            page.wait_for_url("**/assembly-line/dashboard")
            expect(page.locator(f"#wip li[data-intent={intent_id}] a.intent-link")).to_have_text(
                "readable-intent"
            )
            browser.close()
            connections.close_all()
    finally:
        server.stop()
        for client in (submitter, srv_client, lap_client):
            client.close()

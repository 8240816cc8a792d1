"""The dashboard in a real browser (Debian's Chromium driven by playwright) and 200 WebSocket
clients, against a real uvicorn process on PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.utils import timezone

from executors.models import Executor, Role
from executors.services import token_create
from intents import services
from intents.models import Intent
from intents.services import sweeps
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


@pytest.fixture
def live_server_env(postgres: None) -> None:
    need(bool(settings.REDIS_URL), "Redis (REDIS_URL)")


def executor(executor_id: str, environment: str) -> tuple[Executor, httpx.Client, str]:
    row = Executor.objects.create(
        executor_id=executor_id, environment=environment, max_concurrent=3
    )
    token = token_create(name=executor_id, role=Role.EXECUTOR, executor=row)[1]
    return row, httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10), token


def off_loop(function: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a service call in a thread of its own: playwright's event loop lives in the test's
    thread, and events published after commit need a thread without one."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(function(*args, **kwargs))
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return result[0] if result else None


class Api:
    def __init__(self, url: str) -> None:
        self.url = url

    def claim(self, client: httpx.Client, executor_id: str) -> dict[str, Any]:
        answer = client.get(
            self.url + "/assembly-line/work/next", params={"executor_id": executor_id}
        )
        assert answer.status_code == 200 and answer.json()["assigned"], answer.text
        return answer.json()["intent"]

    def progress(
        self,
        client: httpx.Client,
        executor_id: str,
        intent: dict[str, Any],
        value: float,
        message: str,
    ) -> None:
        answer = client.post(
            self.url + "/assembly-line/work/progress",
            json={
                "intent_id": intent["id"],
                "executor_id": executor_id,
                "phase": intent["current_phase"],
                "progress": value,
                "message": message,
            },
        )
        assert answer.status_code == 200, answer.text

    def complete(self, client: httpx.Client, executor_id: str, intent: dict[str, Any]) -> None:
        answer = client.post(
            self.url + "/assembly-line/work/complete",
            json={
                "intent_id": intent["id"],
                "executor_id": executor_id,
                "status": "completed",
                "artifacts": phase_artifacts(intent["current_phase"]),
            },
        )
        assert answer.status_code == 200, answer.text


def test_dashboard_follows_the_line_live_and_reconnects(
    live_server_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    need(Path(CHROMIUM).exists(), "Chromium (/usr/bin/chromium)")
    # playwright's sync API keeps an event loop in this thread; the ORM calls of this test are
    # plain blocking calls made between browser steps (Django's documented escape hatch).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import expect, sync_playwright

    get_user_model().objects.create_user("boss", password="pw-boss-1", is_staff=True)
    submitter = httpx.Client(
        headers={"Authorization": "Bearer " + token_create(name="alice", role=Role.SUBMITTER)[1]},
        timeout=10,
    )
    srv, srv_client, _ = executor("srv-1", "server")
    lap, lap_client, _ = executor("lap-1", "local")
    _, lap2_client, _ = executor("lap-2", "local")
    server = Server(
        {"PHASE_ROUTING": "build:server", "SPILLOVER_SECONDS": "0", "REVIEW_SLA_SECONDS": "3600"}
    ).start()
    api = Api(server.url)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(server.url + "/assembly-line/dashboard")
            page.fill("#id_username", "boss")
            page.fill("#id_password", "pw-boss-1")
            page.click("input[type=submit]")
            page.wait_for_url("**/assembly-line/dashboard")
            expect(page.locator("#connection")).to_have_attribute("data-state", "live")
            page.evaluate("window.__noReload = 42")

            # Submit: the page shows it queued in build.
            submitted = submitter.post(
                server.url + "/assembly-line/intent",
                json={"title": "browser-intent", "spec_text": SPEC_OK, "priority": 7},
            )
            assert submitted.status_code == 201
            intent_id = submitted.json()["intent_id"]
            expect(page.locator("#queue tr[data-phase=build] td.num").first).to_have_text("1")
            expect(page.locator("#events li[data-kind=submitted]")).to_have_count(1)

            # Build on the server executor, with progress.
            intent = api.claim(srv_client, "srv-1")
            wip = page.locator(f"#wip li[data-intent={intent_id}]")
            expect(wip).to_be_visible()
            api.progress(srv_client, "srv-1", intent, 0.4, "compiling the handlers")
            expect(wip.locator(".msg")).to_have_text("40 % compiling the handlers")
            expect(page.locator("#executors tr[data-executor=srv-1] .status")).to_have_text("busy")
            api.complete(srv_client, "srv-1", intent)
            # Test and production on a laptop (separation of duties keeps srv-1 off them).
            for phase, message in (("test", "running the suite"), ("production", "deploying")):
                intent = api.claim(lap_client, "lap-1")
                assert intent["current_phase"] == phase
                api.progress(lap_client, "lap-1", intent, 0.7, message)
                expect(wip.locator(".msg")).to_have_text(f"70 % {message}")
                api.complete(lap_client, "lap-1", intent)
            expect(wip).to_have_count(0)
            expect(page.locator("#t-completed")).to_have_text("1")
            assert Intent.objects.get(pk=intent_id).status == "completed"

            # The AI-executor views: a spilled build, then stalled; a review with its SLA.
            spilled_id = off_loop(
                services.intent_submit, actor="alice", title="spilled-intent", spec_text=SPEC_OK
            ).id
            spilled = api.claim(lap2_client, "lap-2")
            assert spilled["id"] == spilled_id and spilled["spilled"] is True
            api.progress(lap2_client, "lap-2", spilled, 0.2, "reading the spec")
            spilled_row = page.locator(f"#wip li[data-intent={spilled_id}]")
            expect(spilled_row.locator(".badge.spilled")).to_be_visible()
            off_loop(
                sweeps.stall_sweep,
                now=timezone.now() + timedelta(seconds=settings.STALL_AFTER_SECONDS + 1),
            )
            expect(spilled_row.locator(".badge.stalled")).to_be_visible()

            reviewed_id = off_loop(
                services.intent_submit,
                actor="alice",
                title="needs-a-human",
                spec_text=SPEC_OK,
                requires_human_review=True,
            ).id
            for client, executor_id in ((srv_client, "srv-1"), (lap_client, "lap-1")):
                api.complete(client, executor_id, api.claim(client, executor_id))
            review_row = page.locator(f"#review li[data-intent={reviewed_id}]")
            expect(review_row.locator(".sla")).to_contain_text("left")
            expect(review_row.locator("a")).to_have_attribute(
                "href", f"/admin/intents/intent/{reviewed_id}/change/"
            )
            # A few more states for the picture: queued, cancelled, failed.
            off_loop(
                services.intent_submit, actor="bob", title="queued-for-build", spec_text=SPEC_OK
            )
            cancelled = off_loop(
                services.intent_submit, actor="bob", title="cancelled", spec_text=SPEC_OK
            )
            off_loop(services.intent_cancel, intent_id=cancelled.id, actor="bob", is_admin=False)
            page.wait_for_timeout(1500)
            shot = (
                ROOT / "docs" / "dashboard.png"
                if os.environ.get("UPDATE_SCREENSHOT")
                else (Path(server.log.name).with_suffix(".png"))
            )
            page.screenshot(path=str(shot), full_page=True)

            # Kill the server: the page says so, then reconnects by itself and refreshes.
            snapshots = page.evaluate("window.assemblyLine.snapshots")
            server.kill()
            expect(page.locator("#connection")).to_have_attribute(
                "data-state", "lost", timeout=10_000
            )
            expect(page.locator("#connection")).to_contain_text("reconnecting")
            server.start()
            expect(page.locator("#connection")).to_have_attribute(
                "data-state", "live", timeout=30_000
            )
            # Polled from here: wait_for_function evaluates a string, which the page's
            # Content-Security-Policy (no eval) refuses.
            for _ in range(300):
                if page.evaluate("window.assemblyLine.snapshots") > snapshots:
                    break
                page.wait_for_timeout(100)
            else:
                pytest.fail("the page took no new snapshot after reconnecting")
            after = submitter.post(
                server.url + "/assembly-line/intent",
                json={"title": "after-restart", "spec_text": SPEC_OK},
            )
            assert after.status_code == 201
            newest = page.locator("#events li[data-kind=submitted]").first
            expect(newest).to_contain_text("after-restart")
            expect(newest).to_have_attribute("data-intent", after.json()["intent_id"])
            assert page.evaluate("window.__noReload") == 42
            browser.close()
            # Inside playwright's greenlet Django opened a connection of its own: close it.
            connections.close_all()
    finally:
        server.stop()
        for client in (submitter, srv_client, lap_client, lap2_client):
            client.close()


def test_two_hundred_websocket_clients_each_receive_the_event(live_server_env: None) -> None:
    from websockets.asyncio.client import connect

    viewer = token_create(name="viewers", role=Role.VIEWER)[1]
    submitter = token_create(name="alice", role=Role.SUBMITTER)[1]
    server = Server().start()
    ws_url = server.url.replace("http://", "ws://") + "/ws/assembly-line/"

    async def run() -> list[str]:
        clients = []
        for _batch in range(4):  # connect in batches so the listen backlog never overflows
            clients += await asyncio.gather(
                *[
                    connect(
                        ws_url,
                        additional_headers={"Authorization": f"Bearer {viewer}"},
                        open_timeout=20,
                        max_size=None,
                    )
                    for _ in range(50)
                ]
            )
        snapshots = await asyncio.gather(*[c.recv() for c in clients])
        assert all(json.loads(s)["type"] == "snapshot" for s in snapshots)
        async with httpx.AsyncClient() as http:
            answer = await http.post(
                server.url + "/assembly-line/intent",
                headers={"Authorization": f"Bearer {submitter}"},
                json={"title": "to 200 viewers", "spec_text": SPEC_OK},
            )
            assert answer.status_code == 201
        intent_id = answer.json()["intent_id"]

        async def first_submitted(client: Any) -> str:
            while True:
                message = json.loads(await asyncio.wait_for(client.recv(), 20))
                if message["type"] == "event" and message["event"]["kind"] == "submitted":
                    return str(message["event"]["intent_id"])

        received = await asyncio.gather(*[first_submitted(c) for c in clients])
        await asyncio.gather(*[c.close() for c in clients])
        assert received == [intent_id] * 200
        return received

    try:
        assert len(asyncio.run(run())) == 200
    finally:
        server.stop()

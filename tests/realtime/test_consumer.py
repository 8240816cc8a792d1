"""ws/assembly-line/ with channels' WebsocketCommunicator, on the real Redis channel layer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import SyncToAsync
from channels.db import database_sync_to_async as sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections, transaction
from django.test import Client

from assemblyline.asgi import application
from executors.models import Executor, Role
from executors.services import token_create
from intents import reaper, services
from intents.models import Intent, IntentEvent
from tests.conftest import SPEC_OK, need, phase_artifacts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def _close_thread_connections() -> Any:
    """Database calls of async code run in asgiref's worker thread, which keeps its
    connection; close it so the test database can be dropped."""
    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture
def redis_layer() -> None:
    need(bool(settings.REDIS_URL), "Redis (REDIS_URL) for the channel layer")
    assert "Redis" in settings.CHANNEL_LAYERS["default"]["BACKEND"]


def token(role: str = Role.VIEWER, executor: Executor | None = None) -> str:
    return token_create(name=f"ws-{role}", role=role, executor=executor)[1]


async def connect(headers: list[tuple[bytes, bytes]]) -> tuple[WebsocketCommunicator, bool]:
    communicator = WebsocketCommunicator(application, "/ws/assembly-line/", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    return communicator, connected


async def next_of_kind(communicator: WebsocketCommunicator, kind: str) -> dict[str, Any]:
    while True:
        message = await communicator.receive_json_from(timeout=5)
        if message["type"] == "event" and message["event"]["kind"] == kind:
            return message["event"]


async def test_refuses_without_credentials(redis_layer: None) -> None:
    bad = await sync_to_async(token)()
    for headers in (
        [],
        [(b"authorization", b"Bearer al000.nope")],
        [(b"authorization", b"Basic " + bad.encode())],
    ):
        communicator, connected = await connect(headers)
        assert connected is False
        await communicator.disconnect()


async def test_session_of_another_origin_is_refused(redis_layer: None) -> None:
    def login() -> str:
        user = get_user_model().objects.create_user("watch", password="pw-watch-1")
        client = Client()
        client.force_login(user)  # login() has no request to give django-axes
        return client.cookies["sessionid"].value

    session = await sync_to_async(login)()
    cookie = (b"cookie", b"sessionid=" + session.encode())
    communicator, connected = await connect(
        [cookie, (b"host", b"line.example"), (b"origin", b"https://evil.example")]
    )
    assert connected is False
    communicator, connected = await connect(
        [cookie, (b"host", b"line.example"), (b"origin", b"https://line.example")]
    )
    assert connected is True
    assert (await communicator.receive_json_from(timeout=5))["type"] == "snapshot"
    await communicator.disconnect()


async def test_snapshot_on_connect_is_the_state(redis_layer: None) -> None:
    await sync_to_async(services.intent_submit)(actor="a", title="queued one", spec_text=SPEC_OK)
    viewer = await sync_to_async(token)()
    communicator, connected = await connect([(b"authorization", f"Bearer {viewer}".encode())])
    assert connected
    snapshot = await communicator.receive_json_from(timeout=5)
    assert snapshot["type"] == "snapshot"
    assert snapshot["state"]["queue_depth"] == 1
    assert set(snapshot["state"]) >= {
        "queue_depth",
        "in_progress",
        "executors",
        "metrics",
        "last_sync",
        "work_in_progress",
        "review_inbox",
    }
    await communicator.send_json_to({"action": "snapshot"})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "snapshot"
    await communicator.disconnect()


async def test_every_kind_of_state_change_arrives(
    redis_layer: None,
) -> None:
    viewer = await sync_to_async(token)()
    communicator, connected = await connect([(b"authorization", f"Bearer {viewer}".encode())])
    assert connected
    await communicator.receive_json_from(timeout=5)  # snapshot

    def drive() -> dict[str, str]:
        builder = Executor.objects.create(executor_id="ws-builder")
        reviewer_ex = Executor.objects.create(executor_id="ws-tester")
        settings.SEPARATE_DUTIES_PHASES = []
        reviewed = services.intent_submit(
            actor="sub", title="reviewed", spec_text=SPEC_OK, requires_human_review=True
        )
        services.work_claim(executor_id=builder.pk, actor="ws-builder")
        services.work_progress(
            executor_id=builder.pk,
            actor="ws-builder",
            intent_id=reviewed.id,
            phase="build",
            progress=0.5,
            message="half",
        )
        services.work_complete(
            executor_id=builder.pk,
            actor="ws-builder",
            intent_id=reviewed.id,
            status="failed",
            artifacts={},
        )  # requeued
        services.work_claim(executor_id=builder.pk, actor="ws-builder")
        services.work_complete(
            executor_id=builder.pk,
            actor="ws-builder",
            intent_id=reviewed.id,
            status="completed",
            artifacts=phase_artifacts("build"),
        )
        services.work_claim(executor_id=reviewer_ex.pk, actor="ws-tester")
        services.work_complete(
            executor_id=reviewer_ex.pk,
            actor="ws-tester",
            intent_id=reviewed.id,
            status="completed",
            artifacts=phase_artifacts("test"),
        )
        services.intent_reject(intent_id=reviewed.id, reviewer="boss", reason="again")
        cancelled = services.intent_submit(actor="sub", title="cancelled", spec_text=SPEC_OK)
        services.intent_cancel(intent_id=cancelled.id, actor="sub", is_admin=False)
        lapsed = Intent.objects.get(pk=reviewed.id)
        claimed = services.work_claim(executor_id=builder.pk, actor="ws-builder").intent
        assert claimed is not None
        reaper.reap(now=claimed.lease_expires_at + timedelta(seconds=1))
        return {"reviewed": lapsed.id}

    ids = await sync_to_async(drive)()
    seen: dict[str, dict[str, Any]] = {}
    expected = {
        "submitted",
        "verified",
        "advanced",
        "assigned",
        "progress",
        "completed",
        "requeued",
        "review_requested",
        "rejected",
        "cancelled",
        "executor_online",
        "executor_offline",
    }
    while not expected <= set(seen):
        message = await communicator.receive_json_from(timeout=5)
        assert message["type"] == "event"
        seen.setdefault(message["event"]["kind"], message["event"])
    progress = seen["progress"]
    assert progress["intent_id"] == ids["reviewed"] and progress["type"] == "progress"
    assert progress["from_status"] == "assigned" and progress["to_status"] == "in_progress"
    assert progress["from_phase"] == progress["to_phase"] == "build"
    assert progress["timestamp"] and progress["executor_id"] == "ws-builder"
    assert seen["executor_offline"]["executor_id"] == "ws-builder"
    assert seen["executor_offline"]["intent_id"] is None
    await communicator.disconnect()


async def test_a_rolled_back_change_publishes_nothing(redis_layer: None) -> None:
    viewer = await sync_to_async(token)()
    communicator, connected = await connect([(b"authorization", f"Bearer {viewer}".encode())])
    assert connected
    await communicator.receive_json_from(timeout=5)

    def rolled_back() -> None:
        try:
            with transaction.atomic():
                services.intent_submit(actor="a", title="never", spec_text=SPEC_OK)
                raise RuntimeError("abort")
        except RuntimeError:
            pass

    await sync_to_async(rolled_back)()
    assert await communicator.receive_nothing(timeout=1.0)
    assert await sync_to_async(Intent.objects.count)() == 0
    # The channel works: a committed change does arrive.
    await sync_to_async(services.intent_submit)(actor="a", title="kept", spec_text=SPEC_OK)
    assert (await next_of_kind(communicator, "submitted"))["intent_id"]
    await communicator.disconnect()


async def test_batched_viewer_gets_events_together_plain_viewer_one_by_one(
    redis_layer: None, settings: Any
) -> None:
    """`?batch=1` (the dashboard, the client): events that come within WS_BATCH_SECONDS of
    the last frame share one `events` frame; a plain viewer gets one `event` frame each. Both
    get every event, in commit order."""
    settings.WS_BATCH_SECONDS = 1.0
    viewer = await sync_to_async(token)()
    auth = (b"authorization", f"Bearer {viewer}".encode())
    plain = WebsocketCommunicator(application, "/ws/assembly-line/", headers=[auth])
    batched = WebsocketCommunicator(application, "/ws/assembly-line/?batch=1", headers=[auth])
    for communicator in (plain, batched):
        assert (await communicator.connect(timeout=5))[0]
        assert (await communicator.receive_json_from(timeout=5))["type"] == "snapshot"

    def submit_five() -> list[str]:
        return [
            services.intent_submit(actor="a", title=f"n{n}", spec_text=SPEC_OK).id for n in range(5)
        ]

    ids = await sync_to_async(submit_five)()
    count = await sync_to_async(IntentEvent.objects.count)()  # each submit: several events
    frames = [await plain.receive_json_from(timeout=5) for _ in range(count)]
    assert {f["type"] for f in frames} == {"event"}
    one_by_one = [f["event"] for f in frames]
    assert [e["intent_id"] for e in one_by_one if e["kind"] == "submitted"] == ids
    together: list[dict[str, Any]] = []
    kinds = []
    while len(together) < count:
        message = await batched.receive_json_from(timeout=5)
        kinds.append(message["type"])
        together += message["events"] if message["type"] == "events" else [message["event"]]
    assert together == one_by_one
    # The first frame goes at once; all that came within the window after it: one frame
    # (or all in the first, when they reached the listener together).
    assert len(kinds) in (1, 2) and kinds[-1] == "events"
    assert await plain.receive_nothing(timeout=0.3)
    assert await batched.receive_nothing(timeout=0.3)
    await plain.disconnect()
    await batched.disconnect()

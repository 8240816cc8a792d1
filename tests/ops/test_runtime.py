"""core/runtime/: each framework patch runs on the versions it was written for, a mismatch
stops the start, and importing the application tunes nothing (assemblyline/serve.py does)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import autobahn.util
import pytest
from channels.db import database_sync_to_async
from channels_redis.pubsub import RedisPubSubLoopLayer
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings

from core import runtime
from core.runtime import autobahn_log, channels_group
from core.runtime.channels_session import websocket_auth_stack

ROOT = Path(__file__).resolve().parents[2]


def test_every_patch_is_on_the_versions_it_was_written_for() -> None:
    assert runtime.mismatches() == []
    runtime.check_versions()


def test_a_framework_at_another_version_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channels_group, "WRITTEN_FOR", {"channels_redis": "0.1"})
    with pytest.raises(ImproperlyConfigured, match="channels_group was written for"):
        runtime.check_versions()


@override_settings(CHANNEL_LAYERS={"default": {"CONFIG": {"prefix": "assemblyline.7"}}})
def test_the_group_channel_is_the_one_channels_redis_subscribes_to() -> None:
    layer = RedisPubSubLoopLayer(hosts=["redis://127.0.0.1:1"], prefix="assemblyline.7")
    assert channels_group.redis_group_channel("line") == layer._get_group_channel_name("line")


def test_importing_the_application_tunes_nothing() -> None:
    # A fresh interpreter: the pytest process has imported much already.
    code = (
        "import gc, json, sys; before = (gc.get_threshold(), sys.getswitchinterval()); "
        "import assemblyline.asgi; "
        "print(json.dumps([before, (gc.get_threshold(), sys.getswitchinterval()), "
        "gc.get_freeze_count()]))"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "assemblyline.settings",
        "SECRET_KEY": "test",
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    before, after, frozen = json.loads(out.strip().splitlines()[-1])
    assert after == before
    assert frozen == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_websocket_gets_the_session_and_user_and_the_servers_own_send() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scope=scope, send=send)
        seen["user"] = await database_sync_to_async(lambda: scope["user"].is_authenticated)()

    async def server_send(message: Any) -> None:
        raise AssertionError("not called here")

    user = await database_sync_to_async(get_user_model().objects.create_user)("ws", password="x")
    client = Client()
    await database_sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    scope = {"type": "websocket", "path": "/ws/assembly-line/", "headers": [(b"cookie", cookie)]}
    await websocket_auth_stack(app)(scope, None, server_send)
    # The frames go to the server's send, not through the session wrapper's (which saves a
    # session only on http.response.start, which a WebSocket never sends).
    assert seen["send"] is server_send
    assert seen["user"] is True
    assert seen["scope"]["session"].session_key == client.cookies["sessionid"].value


def test_autobahns_unlogged_debug_arguments_are_built_without_colour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(autobahn.util, "_HAS_CLICK", True)
    autobahn_log.plain_highlights()
    assert autobahn.util.hl("sent") == "sent"  # type: ignore[no-untyped-call]

"""WebSocket frames a careless or hostile client sends (issue 16, finding 10): text that is not
JSON, a 10,000-deep array, a binary frame, a huge frame. Each crashed the consumer (a traceback,
close 1011) and left `assemblyline_websocket_connections` one too high. Now: an error message
and the connection kept, or a close with a code that says why (4003 binary, 4009 too big: RFC
6455's 1003 and 1009 in the range a Daphne server may close with), and the gauge back to where
it was."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx
import pytest
from asgiref.sync import SyncToAsync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections

from assemblyline.asgi import application
from executors.models import Role
from executors.services import token_create
from intents.consumers import CLOSE_BINARY, CLOSE_TOO_BIG, MAX_MESSAGE_CHARS
from intents.metrics import WEBSOCKET_CONNECTIONS
from tests.conftest import need
from tests.servers import Server

pytestmark = pytest.mark.django_db(transaction=True)

DEEP = "[" * 10_000 + "]" * 10_000
NOT_JSON = ["not json", "{", "\x00", '{"action": NaN}', DEEP, '"\\ud800"']


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


def gauge() -> float:
    return float(WEBSOCKET_CONNECTIONS._value.get())


async def viewer() -> WebsocketCommunicator:
    token = await database_sync_to_async(token_create)(name="ws-viewer", role=Role.VIEWER)
    communicator = WebsocketCommunicator(
        application,
        "/ws/assembly-line/",
        headers=[(b"authorization", f"Bearer {token[1]}".encode())],
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "snapshot"
    return communicator


@pytest.mark.asyncio
async def test_frames_that_are_not_json_get_an_error_and_keep_the_connection(
    redis_layer: None,
) -> None:
    before = gauge()
    communicator = await viewer()
    assert gauge() == before + 1
    for text in NOT_JSON:
        await communicator.send_to(text_data=text)
        answer = await communicator.receive_json_from(timeout=5)
        assert answer["type"] == "error" and answer["error"], (text[:20], answer)
    # Still connected and still served.
    await communicator.send_json_to({"action": "snapshot"})
    assert (await communicator.receive_json_from(timeout=5))["type"] == "snapshot"
    await communicator.disconnect()
    assert gauge() == before


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"bytes_data": b"\x00\x01binary"}, CLOSE_BINARY),
        ({"text_data": "x" * (MAX_MESSAGE_CHARS + 1)}, CLOSE_TOO_BIG),
        (
            {"text_data": json.dumps({"action": "snapshot", "pad": "y" * 10 * MAX_MESSAGE_CHARS})},
            CLOSE_TOO_BIG,
        ),
    ],
    ids=["binary", "huge", "huge_json"],
)
async def test_binary_and_huge_frames_close_with_a_code_and_the_gauge_returns(
    redis_layer: None, frame: dict[str, Any], code: int
) -> None:
    before = gauge()
    communicator = await viewer()
    await communicator.send_to(**frame)
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": code}
    # What the server does once it has closed the socket. (Waiting for the consumer to end
    # by itself waited out the whole timeout: it ends on this, or when cancelled.)
    await communicator.disconnect(code=code, timeout=5)
    assert gauge() == before


def metric(server: Server, token: str) -> float:
    text = httpx.get(
        server.url + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).text
    found = re.search(r"^assemblyline_websocket_connections (\S+)$", text, re.MULTILINE)
    assert found is not None, text[:500]
    return float(found.group(1))


def test_on_a_real_server_the_gauge_returns_to_zero(postgres: None, redis_layer: None) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    token = token_create(name="ws-viewer", role=Role.VIEWER)[1]
    admin = token_create(name="ws-admin", role=Role.ADMIN)[1]
    server = Server().start()
    ws_url = server.url.replace("http://", "ws://") + "/ws/assembly-line/"
    headers = {"Authorization": f"Bearer {token}"}

    async def session(frames: list[str | bytes]) -> list[Any]:
        """Connect, send the frames, collect the answers (or the close code)."""
        answers: list[Any] = []
        async with connect(ws_url, additional_headers=headers, max_size=None) as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"
            assert await asyncio.to_thread(metric, server, admin) >= 1
            for frame in frames:
                await ws.send(frame)
                try:
                    answers.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
                except ConnectionClosed as closed:
                    answers.append(closed.rcvd.code if closed.rcvd else None)
                    break
        return answers

    try:
        answers = asyncio.run(session(["not json", "", DEEP, '{"action": "snapshot"}']))
        kinds = [a["type"] if isinstance(a, dict) else a for a in answers]
        assert kinds == ["error", "error", "error", "snapshot"]  # was [1011]: the consumer crashed
        assert asyncio.run(session([b"\x00binary"])) == [CLOSE_BINARY]
        assert asyncio.run(session(["z" * (MAX_MESSAGE_CHARS * 4)])) == [CLOSE_TOO_BIG]
        # Over Daphne's own limit (1 MB by default): it drops the connection itself.
        [dropped] = asyncio.run(session(["z" * (2 * 1024 * 1024)]))
        assert not isinstance(dropped, dict)
        for _ in range(50):  # the disconnects are handled just after the clients leave
            if metric(server, admin) == 0:
                break
            asyncio.run(asyncio.sleep(0.1))
        assert metric(server, admin) == 0
    finally:
        server.stop()
    assert "Traceback" not in server.output_all(), server.output()


@pytest.mark.asyncio
@pytest.mark.parametrize("token", [b"Bearer al\x00", b"Bearer al0000.\x00x", b"Bearer \xff\xfe"])
async def test_a_hostile_token_on_the_handshake_is_refused(redis_layer: None, token: bytes) -> None:
    before = gauge()
    communicator = WebsocketCommunicator(
        application, "/ws/assembly-line/", headers=[(b"authorization", token)]
    )
    connected, code = await communicator.connect(timeout=5)
    assert (connected, code) == (False, 4401)
    await communicator.disconnect()
    assert gauge() == before

"""The process's listener (intents/fanout.py): snapshots shared by the viewers that ask
together, never older than the asking; a slow viewer holds up no other."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import pytest

from intents.consumers import MAX_BACKLOG_FRAMES, LineConsumer
from intents.fanout import Fanout, frame


@pytest.mark.asyncio
async def test_viewers_asking_together_share_reads_and_none_gets_an_older_state() -> None:
    hub = Fanout()
    reads: list[int] = []
    state = {"version": 0}

    async def read() -> str:
        reads.append(state["version"])
        await asyncio.sleep(0.05)
        return f"state {reads[-1]}"

    first = asyncio.create_task(hub.snapshot(read))
    await asyncio.sleep(0.01)  # the first read is running
    state["version"] = 1  # a change commits while it runs
    storm = [asyncio.create_task(hub.snapshot(read)) for _ in range(100)]
    answers = await asyncio.gather(first, *storm)
    # One read for the first viewer, one (begun after the change) for the other hundred.
    assert reads == [0, 1]
    assert answers[0] == "state 0" and set(answers[1:]) == {"state 1"}
    # Asked after both: a new read.
    assert await hub.snapshot(read) == "state 1" and len(reads) == 3


@pytest.mark.asyncio
async def test_a_failed_read_fails_its_askers_and_the_next_read_is_made() -> None:
    hub = Fanout()
    calls = 0

    async def read() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database away")
        return "ok"

    with pytest.raises(RuntimeError):
        await hub.snapshot(read)
    assert await hub.snapshot(read) == "ok"


def test_frames_carry_the_encoded_events_as_they_are() -> None:
    assert frame(['{"id": 1}']) == '{"type": "event", "event": {"id": 1}}'
    assert frame(['{"id": 1}', '{"id": 2}']) == (
        '{"type": "events", "events": [{"id": 1}, {"id": 2}]}'
    )


class Socket:
    """A viewer's socket as the consumer sees it: `stalled` until the test lets it write."""

    def __init__(self, stalled: bool) -> None:
        self.sent: list[str] = []
        self.open = asyncio.Event()
        if not stalled:
            self.open.set()

    async def send(self, message: dict[str, Any]) -> None:
        await self.open.wait()
        assert message["type"] == "websocket.send"
        self.sent.append(message["text"])


def viewer(socket: Socket) -> LineConsumer:
    consumer = LineConsumer()
    consumer.batched = True
    consumer.outbox = deque()
    consumer.waiting = asyncio.Event()
    consumer.behind = False
    consumer.base_send = socket.send  # type: ignore[assignment]

    async def send_snapshot() -> None:
        await socket.send({"type": "websocket.send", "text": "snapshot"})

    consumer.send_snapshot = send_snapshot  # type: ignore[method-assign]
    consumer.writer = asyncio.get_running_loop().create_task(consumer.write())
    return consumer


@pytest.mark.asyncio
async def test_a_stalled_viewer_holds_up_no_one_and_gets_a_snapshot_once_far_behind() -> None:
    hub = Fanout()
    stalled_socket, quick_socket = Socket(stalled=True), Socket(stalled=False)
    stalled, quick = viewer(stalled_socket), viewer(quick_socket)
    hub.viewers = {stalled, quick}
    sender = asyncio.create_task(hub._send())
    try:
        for n in range(MAX_BACKLOG_FRAMES + 50):
            hub.pending.append(f'{{"id": {n}}}')
            hub.arrived.set()
            await asyncio.sleep(0)  # the sender hands this one over on its own
            hub.last_frame = 0.0  # no batching wait: one frame per event
        await asyncio.sleep(0.05)
        # The quick viewer got every event although the other one's socket never wrote.
        assert len(quick_socket.sent) == MAX_BACKLOG_FRAMES + 50
        assert stalled_socket.sent == []
        # Too far behind: the backlog is dropped (bounded memory) for a snapshot.
        assert stalled.behind and len(stalled.outbox) < MAX_BACKLOG_FRAMES
        stalled_socket.open.set()
        await asyncio.sleep(0.05)
        # It had one frame in hand when it stalled; then the snapshot, and nothing older.
        assert stalled_socket.sent == ['{"type": "event", "event": {"id": 0}}', "snapshot"]
    finally:
        sender.cancel()
        stalled.writer.cancel()
        quick.writer.cancel()

"""One listener per server process for the line's events and work notices.

The channel layer carries each event once to every server process (Redis pub/sub: one
subscription per process, whichever process made the change). Here, inside the process, one
task reads them and hands them to the local WebSocket viewers and long-polling executors.

Viewers get events as soon as they arrive; events arriving within WS_BATCH_SECONDS of the
last send go out together in the next one. A viewer that connected with `?batch=1` (the
dashboard, our client) gets them in one frame (`{"type": "events", "events": [...]}`; a lone
event stays `{"type": "event", "event": {...}}`), so a busy line costs it at most
1 / WS_BATCH_SECONDS frames a second however many events it makes; any other viewer gets one
`{"type": "event"}` frame per event, as it always did.

Why not one channel-layer member per consumer (the Channels default, DESIGN §6): every event
then goes through a queue, a decode and a dispatch per viewer, and with many viewers the event
loop falls behind (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from channels.layers import get_channel_layer
from django.conf import settings

logger = logging.getLogger("assemblyline.fanout")

# The channel-layer group every server process joins for the dashboard's events.
LINE_GROUP = "assembly-line"
# The group told whenever an intent (re)enters a queue: wakes long-polling executors.
WORK_GROUP = "assembly-line.work"


class Viewer(Protocol):
    batched: bool

    def deliver(self, frames: list[str]) -> None:
        """Take frames for sending; never waits (each viewer writes from its own task)."""


def frame(events: list[str]) -> str:
    """One WebSocket text frame for already-encoded events (no re-encoding per viewer)."""
    if len(events) == 1:
        return '{"type": "event", "event": ' + events[0] + "}"
    return '{"type": "events", "events": [' + ", ".join(events) + "]}"


class Fanout:
    """The process's listener, bound to one event loop (the server's)."""

    def __init__(self) -> None:
        self.viewers: set[Viewer] = set()
        self.waiters: set[asyncio.Event] = set()
        self.pending: list[str] = []
        self.arrived = asyncio.Event()
        self.started = asyncio.Lock()
        self.tasks: list[asyncio.Task[None]] = []
        self.last_frame = 0.0
        self.layer: Any = None
        self.channel = ""
        self.snapshot_lock = asyncio.Lock()
        self.next_snapshot: asyncio.Future[str] | None = None

    async def _start(self) -> bool:
        """Join both groups with one channel and start the reader and the sender."""
        async with self.started:
            if self.tasks:
                return True
            self.layer = get_channel_layer()
            if self.layer is None:
                return False
            try:
                self.channel = await self.layer.new_channel("line.")
                await self.layer.group_add(LINE_GROUP, self.channel)
                await self.layer.group_add(WORK_GROUP, self.channel)
            except Exception as exc:  # Redis away: viewers get snapshots, pollers re-check
                logger.warning("event listener not started: %s", exc)
                return False
            loop = asyncio.get_running_loop()
            self.tasks = [loop.create_task(self._read()), loop.create_task(self._send())]
            return True

    async def add_viewer(self, viewer: Viewer) -> None:
        self.viewers.add(viewer)
        await self._start()

    def remove_viewer(self, viewer: Viewer) -> None:
        self.viewers.discard(viewer)

    async def snapshot(self, read: Callable[[], Awaitable[str]]) -> str:
        """The line's state as a snapshot frame, from a read that began after this call: never
        older than the asking. Callers that ask while a read is running share the next one, so
        a reconnect storm of 1,000 dashboards, or 1,000 dashboards each asking again after a
        burst of events, costs a process two reads, not 1,000."""
        waiting = self.next_snapshot
        if waiting is None:
            waiting = self.next_snapshot = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().create_task(self._read_snapshot(read, waiting))
        return await asyncio.shield(waiting)

    async def _read_snapshot(
        self, read: Callable[[], Awaitable[str]], result: asyncio.Future[str]
    ) -> None:
        async with self.snapshot_lock:  # one read at a time
            if self.next_snapshot is result:
                self.next_snapshot = None  # who asks from now on waits for the next read
            try:
                result.set_result(await read())
            except Exception as exc:
                result.set_exception(exc)

    async def wait_for_work(self, timeout: float) -> bool:
        """True when a work notice came within `timeout`, False when the time ran out (or
        the channel layer is away: the caller then re-checks the database)."""
        if not await self._start():
            await asyncio.sleep(timeout)
            return False
        notice = asyncio.Event()
        self.waiters.add(notice)
        try:
            await asyncio.wait_for(notice.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self.waiters.discard(notice)

    async def _read(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("event listener: channel layer error %s; retrying", exc)
                await asyncio.sleep(1)
                continue
            if message.get("type") == "work.available":
                for notice in self.waiters:
                    notice.set()
            elif message.get("type") == "line.event" and self.viewers:
                self.pending.append(message["event"])
                self.arrived.set()

    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.arrived.wait()
            hold = self.last_frame + settings.WS_BATCH_SECONDS - loop.time()
            if hold > 0:
                await asyncio.sleep(hold)
            self.arrived.clear()
            events, self.pending = self.pending, []
            self.last_frame = loop.time()
            if not events:
                continue
            batch = [frame(events)]
            singles = batch if len(events) == 1 else [frame([event]) for event in events]
            # Handed over without waiting: one viewer's slow socket must not hold up the rest.
            for viewer in tuple(self.viewers):
                viewer.deliver(batch if viewer.batched else singles)


# One Fanout per event loop: the server has one; tests start a loop per test.
_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Fanout] = weakref.WeakKeyDictionary()


def fanout() -> Fanout:
    loop = asyncio.get_running_loop()
    hub = _by_loop.get(loop)
    if hub is None:
        hub = _by_loop[loop] = Fanout()
    return hub

"""The process's listener (intents/fanout.py): snapshots shared by the viewers that ask
together, never older than the asking."""

from __future__ import annotations

import asyncio

import pytest

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

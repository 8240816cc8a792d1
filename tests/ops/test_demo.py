"""`assemblyline demo` as a person runs it (issue 17, item 5): the real command on a free port
with a fresh embedded database; every intent it submits reaches completed or awaiting_review
within two minutes and none waits; a second demo on the same port refuses in one line before
it prints tokens or writes to a database."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ops.demo_process import Demo, demo_env, running_demo
from tests.servers import ROOT

DEMO_TITLES = {
    "billing-service",
    "search-indexer",
    "auth-gateway",
    "report-builder",
    "notifier",
    "image-resizer",
}
SETTLED = {"completed", "awaiting_review"}


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    with running_demo() as running:
        yield running


def test_a_second_demo_on_the_same_port_says_so_before_anything_else(
    demo: Demo, tmp_path: Path
) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "assemblyline", "demo", "--port", str(demo.port)],
        cwd=ROOT,
        env=demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode != 0
    assert second.stdout == ""  # no tokens, no banner
    assert second.stderr.strip().splitlines() == [
        f"assemblyline: port {demo.port} on 127.0.0.1 is taken (another demo or server?); "
        "choose another with --port or PORT"
    ]
    assert not list(tmp_path.glob("*.sqlite3*"))  # no database written
    assert demo.process.poll() is None  # the first demo runs on


def test_every_demo_intent_completes_or_awaits_review_within_two_minutes(demo: Demo) -> None:
    headers = {"Authorization": f"Bearer {demo.tokens['viewer']}"}
    with httpx.Client(base_url=demo.url, headers=headers, timeout=10) as api:
        statuses: dict[str, str] = {}
        state: dict[str, object] = {}
        while time.monotonic() < demo.started + 120:
            page = api.get("/assembly-line/intents/", params={"limit": 100}).json()
            statuses = {i["title"]: i["status"] for i in page["results"]}
            state = api.get("/assembly-line/state").json()
            if statuses.keys() == DEMO_TITLES and set(statuses.values()) <= SETTLED:
                break
            time.sleep(2)
        took = time.monotonic() - demo.started
    assert statuses.keys() == DEMO_TITLES, statuses
    assert set(statuses.values()) <= SETTLED, (
        statuses,
        state.get("waiting"),
        demo.output()[-3000:],
    )
    assert state["waiting"] == []
    print(f"every demo intent settled {took:.0f} s after the demo printed its tokens")

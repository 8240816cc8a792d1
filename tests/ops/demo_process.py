"""`assemblyline demo` as a subprocess for tests: the real command on a free port, with a
fresh embedded database (SQLite in a temp VAR_DIR, in-memory channel layer) as the README's
first command runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.servers import ROOT, free_port


@dataclass
class Demo:
    url: str
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path
    tokens: dict[str, str] = field(default_factory=dict)
    started: float = 0.0

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def demo_env(var_dir: Path, pace: str = "0.3") -> dict[str, str]:
    # The demo's own settings (its LIVE_CHECK_ALLOW for its own port among them), on the
    # embedded default, with simulated work at a faster pace.
    dropped = ("DATABASE_URL", "REDIS_URL", "LIVE_CHECK_ALLOW")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    return {
        **env,
        "VAR_DIR": str(var_dir),
        "STATIC_ROOT": str(var_dir / "static"),
        "DEMO_PACE": pace,
        "PYTHONUNBUFFERED": "1",
    }


def up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def running_demo(pace: str = "0.3") -> Iterator[Demo]:
    """The demo, up and with its tokens printed (`started` is when they were)."""
    var_dir = Path(tempfile.mkdtemp(prefix="demo-var-"))
    port = free_port()
    env = demo_env(var_dir, pace)
    log = var_dir / "demo.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "assemblyline", "demo", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    demo = Demo(f"http://127.0.0.1:{port}", port, env, process, log)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "viewer" not in demo.tokens:
            assert process.poll() is None, demo.output()[-4000:]
            demo.tokens = dict(re.findall(r"^  (\S+) token: (\S+)$", demo.output(), re.M))
            time.sleep(0.5)
        assert "viewer" in demo.tokens, demo.output()[-4000:]
        while time.monotonic() < deadline and not up(demo.url):
            assert process.poll() is None, demo.output()[-4000:]
            time.sleep(0.2)
        demo.started = time.monotonic()
        yield demo
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()

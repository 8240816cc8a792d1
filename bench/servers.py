"""The ASGI servers the bench runs: Daphne, uvicorn (uvloop, httptools, websockets;
production's) and granian, each one process on the server core (bench/pin.py), serving the app or
the floor (bench/floor.py). A server's CPU time is its whole process tree's (granian serves from
a worker process)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench import pin

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
APP = "assemblyline.asgi:application"
FLOOR = "bench.floor_asgi:application"
KINDS = ("daphne", "uvicorn", "granian")
# What assemblyline.serve runs by default (the production server).
PRODUCTION = "uvicorn"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command(kind: str, port: int, app: str) -> list[str]:
    if app == APP and kind in ("daphne", "uvicorn"):
        # The app as production serves it (uvicorn; Daphne with --server daphne):
        # assemblyline.serve tunes the process and names the application itself.
        # BENCH_SERVER_CMD: e.g. a script that runs it under a profiler.
        cmd = os.environ.get("BENCH_SERVER_CMD", "-m assemblyline.serve").split()
        return [
            sys.executable,
            *cmd,
            "--server",
            kind,
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "-v",
            "0",
        ]
    if kind == "daphne":
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "-v", "0", app]
    if kind == "uvicorn":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--ws",
            "websockets",
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
            app,
        ]
    if kind == "granian":
        # asginl: ASGI without lifespan (Django and Channels have none).
        return [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asginl",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--loop",
            "uvloop",
            "--no-access-log",
            "--log-level",
            "warning",
            app,
        ]
    raise ValueError(kind)


class Server:
    def __init__(
        self,
        env: dict[str, str],
        *,
        kind: str = PRODUCTION,
        app: str = APP,
        probe: str = "/health",
        pinned: bool = True,
    ) -> None:
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(RESULTS / f"server-{self.port}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            command(kind, self.port, app),
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=pin.to_server_core if pinned else None,
        )
        self.tree = psutil.Process(self.process.pid)
        for _ in range(300):
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(self.url + probe, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{kind} did not start ({app}): see {self.log.name}")

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in [self.tree, *self.tree.children(recursive=True)]:
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def peak_rss_mb(self) -> float:
        peak = 0
        for proc in [self.tree, *self.tree.children(recursive=True)]:
            status = Path(f"/proc/{proc.pid}/status")
            for line in status.read_text().splitlines() if status.exists() else []:
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        return round(peak / 1024, 1)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            for proc in self.tree.children(recursive=True):
                proc.kill()
            self.process.kill()
        self.log.close()
        if not os.environ.get("BENCH_KEEP_LOGS"):
            Path(self.log.name).unlink(missing_ok=True)


def hammer(url: str, path: str, threads: int, seconds: float, out: Any) -> None:
    """A load generator: `threads` clients each GETting `path` as fast as it is answered;
    the number of 200 answers, and of the others."""
    import threading

    counts = {"ok": 0, "errors": 0}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def run() -> None:
        ok = errors = 0
        with httpx.Client(base_url=url, timeout=30) as http:
            while time.monotonic() < stop:
                try:
                    if http.get(path).status_code == 200:
                        ok += 1
                    else:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
        with lock:
            counts["ok"] += ok
            counts["errors"] += errors

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out.put(counts)

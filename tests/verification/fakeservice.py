"""A real HTTP server for the live checks to probe: a small UDC-compliant service whose
misbehaviour a test switches on (`service.mode = "health_500"`, ...). It runs in a thread on
a free port; nothing is mocked: the checks make real HTTP calls to it."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GOOD = {
    "/health": {
        "status": "ok",
        "service": "fake",
        "version": "1.0.0",
        "timestamp": "2026-11-25T00:00:00Z",
    },
    "/capabilities": {
        "version": "1.0.0",
        "features": ["hello"],
        "dependencies": [],
        "udc_version": "1.0",
    },
    "/state": {
        "uptime_seconds": 1,
        "requests_total": 1,
        "requests_per_minute": 1,
        "errors_last_hour": 0,
        "last_restart": "2026-11-25T00:00:00Z",
    },
    "/dependencies": {"required": [], "optional": [], "missing": []},
    "/hello": {"hello": "world"},
}
TRACE = (
    'Traceback (most recent call last):\n  File "/app/main.py", line 12, in handler\n'
    "ValueError: boom"
)


class FakeService:
    """Modes: good, health_500, health_degraded, wrong_shape, timeout, slow, traceback,
    malformed_500, endpoint_500; hostile ones: redirect (302 to `location`), trickle (the
    answer one byte per `trickle_seconds`), huge (60 MB, no Content-Length), secret_status
    (a long /health status with a secret and control characters at its end)."""

    HUGE_BYTES = 60 * 1024 * 1024
    SECRET = "SECRET-FROM-THE-TARGET"

    def __init__(self) -> None:
        self.mode = "good"
        self.delay = 0.0
        self.location = ""
        self.trickle_seconds = 1.0
        self.received: list[dict[str, Any]] = []
        # Every request as (method, path, headers): what the line sent.
        self.log: list[tuple[str, str, dict[str, str]]] = []
        self.stopped = threading.Event()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def answer(self, status: int, body: Any, content_type: str = "application/json"):
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                service.handle(self, "GET")

            def do_POST(self) -> None:
                service.handle(self, "POST")

            def do_PUT(self) -> None:
                service.handle(self, "PUT")

            def do_PATCH(self) -> None:
                service.handle(self, "PATCH")

            def do_DELETE(self) -> None:
                service.handle(self, "DELETE")

            def do_HEAD(self) -> None:
                service.handle(self, "HEAD")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A client that gives up mid-answer (a timeout under test) is expected, not an error.
        self.server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> FakeService:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()

    def handle(self, request: Any, method: str) -> None:
        mode, path = self.mode, request.path.split("?")[0]
        self.log.append((method, request.path, dict(request.headers)))
        if mode in ("redirect", "trickle", "huge", "secret_status"):
            return self.hostile(request, mode)
        if mode == "timeout":
            time.sleep(5)
        if mode == "slow" or self.delay:
            time.sleep(self.delay or 0.05)
        body = b""
        if method == "POST":
            body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        if path == "/health" and mode == "health_500":
            return request.answer(500, {"error": "down"})
        if path == "/health" and mode == "health_degraded":
            return request.answer(200, {**GOOD["/health"], "status": "degraded"})
        if path == "/capabilities" and mode == "wrong_shape":
            return request.answer(200, {"version": "1.0.0"})
        if path == "/hello" and mode == "endpoint_500":
            return request.answer(500, "Internal Server Error", "text/plain")
        if method == "GET" and path in GOOD:
            return request.answer(200, GOOD[path])
        if method == "GET" and path in ("/message", "/send"):
            return request.answer(200, {"endpoint": path})
        if method == "POST" and path in ("/message", "/send"):
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                if mode == "malformed_500":
                    return request.answer(500, "Internal Server Error", "text/plain")
                if mode == "traceback":
                    return request.answer(500, TRACE, "text/plain")
                return request.answer(400, {"error": "malformed JSON"})
            self.received.append(data)
            if path == "/message":
                return request.answer(
                    200,
                    {
                        "received": True,
                        "trace_id": data.get("trace_id", "t"),
                        "processed_at": "2026-11-25T00:00:00Z",
                    },
                )
            return request.answer(200, {"sent": True, "trace_id": "t"})
        if mode == "traceback":
            return request.answer(404, TRACE, "text/plain")
        return request.answer(404, {"error": "not found"})

    def hostile(self, request: Any, mode: str) -> None:
        if mode == "redirect":
            request.send_response(302)
            request.send_header("Location", self.location)
            request.send_header("Content-Length", "0")
            request.end_headers()
            return None
        if mode == "secret_status":
            status = "x" * 1000 + "\x1b[31m\n" + self.SECRET
            return request.answer(200, {**GOOD["/health"], "status": status})
        if mode == "trickle":
            data = json.dumps(GOOD["/health"]).encode()
            raw = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + data
            try:
                for byte in raw:
                    if self.stopped.wait(self.trickle_seconds):
                        return None
                    request.wfile.write(bytes([byte]))
                    request.wfile.flush()
            except OSError:
                pass  # the client gave up
            return None
        # huge: close-delimited (HTTP/1.0, no Content-Length), so only reading tells its size
        request.send_response(200)
        request.send_header("Content-Type", "application/json")
        request.end_headers()
        chunk = b"[" + b"1," * 32767 + b"1]"
        try:
            for _ in range(self.HUGE_BYTES // len(chunk)):
                request.wfile.write(chunk)
        except OSError:
            pass  # the client stopped reading and closed
        return None

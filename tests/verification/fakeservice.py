"""A real HTTP server for the live checks to probe: a small UDC-compliant service whose
misbehaviour a test switches on (`service.mode = "health_500"`, ...). It runs in a thread on
a free port; nothing is mocked: the checks make real HTTP calls to it."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GOOD = {
    "/health": {"status": "ok", "service": "fake", "version": "1.0.0",
                "timestamp": "2026-11-25T00:00:00Z"},
    "/capabilities": {"version": "1.0.0", "features": ["hello"], "dependencies": [],
                      "udc_version": "1.0"},
    "/state": {"uptime_seconds": 1, "requests_total": 1, "requests_per_minute": 1,
               "errors_last_hour": 0, "last_restart": "2026-11-25T00:00:00Z"},
    "/dependencies": {"required": [], "optional": [], "missing": []},
    "/hello": {"hello": "world"},
}
TRACE = ('Traceback (most recent call last):\n  File "/app/main.py", line 12, in handler\n'
         "ValueError: boom")


class QuietServer(ThreadingHTTPServer):
    """A client that gave up (the live checks' timeouts) is expected, not an error to print."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeService:
    """Modes: good, health_500, health_degraded, wrong_shape, timeout, slow, traceback,
    malformed_500, endpoint_500."""

    def __init__(self) -> None:
        self.mode = "good"
        self.delay = 0.0
        self.received: list[dict[str, Any]] = []
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

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def __enter__(self) -> FakeService:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, request: Any, method: str) -> None:
        mode, path = self.mode, request.path.split("?")[0]
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
                return request.answer(200, {"received": True,
                                            "trace_id": data.get("trace_id", "t"),
                                            "processed_at": "2026-11-25T00:00:00Z"})
            return request.answer(200, {"sent": True, "trace_id": "t"})
        if mode == "traceback":
            return request.answer(404, TRACE, "text/plain")
        return request.answer(404, {"error": "not found"})

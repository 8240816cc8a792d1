"""Checks that look at the built service for themselves over HTTP (levels 1 and 2 here, 5
and 6 in live_production.py).

They read the base URL from the artifacts (`deployment_url`; level 6 prefers
`production_url`), use httpx with short timeouts, and say why a probe failed: refused,
timeout, status, not JSON, missing field. They never run inside a database transaction (a
slow service must not hold row locks), which `_guard` enforces.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.db import connection
from django.utils import timezone

from core import registry
from verification import egress
from verification.base import Checker, CheckResult, Subject
from verification.checks.spec import ENDPOINT, read_spec
from verification.probe import DEFAULT_TIMEOUT, Probe, excerpt, probe, short

HEALTHY_STATUSES = ["ok", "active", "healthy"]

# The six UDC endpoints and the fields each answer must carry (DESIGN §8).
UDC_SHAPES: dict[str, tuple[str, str, list[str]]] = {
    "health": ("GET", "/health", ["status", "service", "version", "timestamp"]),
    "capabilities": (
        "GET",
        "/capabilities",
        ["version", "features", "dependencies", "udc_version"],
    ),
    "state": (
        "GET",
        "/state",
        [
            "uptime_seconds",
            "requests_total",
            "requests_per_minute",
            "errors_last_hour",
            "last_restart",
        ],
    ),
    "dependencies": ("GET", "/dependencies", ["required", "optional", "missing"]),
    "message": ("POST", "/message", ["received", "trace_id", "processed_at"]),
    "send": ("POST", "/send", ["sent", "trace_id"]),
}


class NoDeployment(Exception):
    pass


def _guard() -> None:
    if connection.in_atomic_block:
        raise RuntimeError("live checks must not run inside a database transaction")


def json_fields(result: Probe, fields: list[str]) -> tuple[dict[str, Any] | None, str]:
    """The JSON object of a 2xx answer that has every field, or why not."""
    response = result.response
    if response is None:
        return None, result.error
    where = f"{response.request.method} {response.request.url.path}"
    if not 200 <= response.status_code < 300:
        return None, f"{where}: status {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        return None, f"{where}: answer is not JSON"
    if not isinstance(body, dict):
        return None, f"{where}: answer is not a JSON object"
    missing = [f for f in fields if f not in body]
    if missing:
        return None, f"{where}: missing field(s) {', '.join(missing)}"
    return body, ""


class LiveChecker(Checker):
    """Base of the HTTP checks: the base URL, a client with short timeouts, the guard."""

    url_keys: tuple[str, ...] = ("deployment_url",)

    def base_url(self, intent: Subject, artifacts: dict[str, Any]) -> str:
        for key in self.url_keys:
            value = artifacts.get(key) or getattr(intent, key, None)
            if isinstance(value, str) and value.startswith(("http://", "https://")):
                return value.rstrip("/")
        raise NoDeployment(f"no {' or '.join(self.url_keys)} (http:// or https://) reported")

    def client(self) -> httpx.Client:
        timeout = float(self.options.get("timeout", DEFAULT_TIMEOUT))
        # No redirects, no proxies from the environment, no compressed answers; connections
        # only where LIVE_CHECK_ALLOW lets them go (verification/egress.py).
        return httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)),
            follow_redirects=False,
            trust_env=False,
            transport=egress.GuardedTransport(),
            headers={"User-Agent": "assembly-line", "Accept-Encoding": "identity"},
        )

    def unsafe_methods(self) -> bool:
        """Whether probes may send POST/PUT/PATCH/DELETE to paths the spec names."""
        return bool(self.options.get("unsafe_methods", settings.LIVE_CHECK_UNSAFE_METHODS))

    def run(self, intent: Subject, artifacts: dict[str, Any]) -> CheckResult:
        _guard()
        try:
            base = self.base_url(intent, artifacts)
        except NoDeployment as exc:
            return CheckResult(False, str(exc))
        with self.client() as client:
            return self.check(client, base, intent, artifacts)

    def check(
        self, client: httpx.Client, base: str, intent: Subject, artifacts: dict[str, Any]
    ) -> CheckResult:
        raise NotImplementedError


def health_check(client: httpx.Client, base: str, healthy: list[str]) -> CheckResult:
    body, why = json_fields(probe(client, "GET", base + "/health"), ["status"])
    if body is None:
        return CheckResult(False, why)
    if str(body["status"]).lower() not in healthy:
        return CheckResult(
            False, f"GET /health: status {excerpt(body['status'])}, not one of {', '.join(healthy)}"
        )
    return CheckResult(True, f"GET /health: 200, status {excerpt(body['status'])}")


class HealthCheck(LiveChecker):
    """Level 1: GET /health answers 200 with a healthy status."""

    name = "live_health"

    def check(
        self, client: httpx.Client, base: str, intent: Subject, artifacts: dict[str, Any]
    ) -> CheckResult:
        healthy = [s.lower() for s in self.options.get("healthy_statuses", HEALTHY_STATUSES)]
        return health_check(client, base, healthy)


def documented_endpoints(intent: Subject, artifacts: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, path) of every endpoint the spec documents, path parameters filled in."""
    text, _ = read_spec(intent, artifacts)
    found = []
    for match in ENDPOINT.finditer(text or ""):
        method, rest = match.group(0).split(None, 1)
        path = re.sub(r"\{[^}]*\}|<[^>]*>|:\w+", "probe", rest.split("?")[0]).rstrip("*`.,;:)")
        if (method, path) not in found:
            found.append((method, path))
    return found


SAFE_METHODS = ("GET", "HEAD")


class EndpointsCheck(LiveChecker):
    """Level 1: every endpoint the spec documents answers without a 5xx. Only GET and HEAD
    are sent unless LIVE_CHECK_UNSAFE_METHODS is on (then POST/PUT/PATCH get an empty JSON
    object: a 4xx for it is fine, a crash is not)."""

    name = "live_endpoints"

    def check(
        self, client: httpx.Client, base: str, intent: Subject, artifacts: dict[str, Any]
    ) -> CheckResult:
        endpoints = documented_endpoints(intent, artifacts)[: int(self.options.get("max", 30))]
        if not endpoints:
            return CheckResult(False, "the spec documents no endpoint to probe")
        skipped = [f"{m} {p}" for m, p in endpoints if m not in SAFE_METHODS]
        if not self.unsafe_methods():
            endpoints = [(m, p) for m, p in endpoints if m in SAFE_METHODS]
            if not endpoints:
                return CheckResult(
                    True,
                    f"not probed: {', '.join(skipped)} (unsafe methods "
                    "are off, LIVE_CHECK_UNSAFE_METHODS)",
                )
        problems = []
        for method, path in endpoints:
            body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
            result = probe(client, method, base + path, json=body)
            if result.response is None:
                problems.append(result.error)
            elif result.response.status_code >= 500:
                problems.append(f"{method} {path}: status {result.response.status_code}")
        if problems:
            return CheckResult(False, "; ".join(problems))
        note = ""
        if skipped and not self.unsafe_methods():
            note = f"; not probed: {', '.join(skipped)} (LIVE_CHECK_UNSAFE_METHODS is off)"
        return CheckResult(
            True, f"{len(endpoints)} documented endpoint(s) answer without a 5xx" + note
        )


def post_targets(intent: Subject, artifacts: dict[str, Any], unsafe: bool) -> list[str]:
    """Where error probes POST: the spec's POST/PUT paths when unsafe methods are on, else
    only the UDC /message endpoint (whose contract is to take messages)."""
    posts = [p for m, p in documented_endpoints(intent, artifacts) if m in ("POST", "PUT")]
    return (posts if unsafe else []) or ["/message"]


MALFORMED = b'{"this is": not json'


class MalformedBodyCheck(LiveChecker):
    """Level 1: a malformed JSON body gets a 4xx, not a 5xx or a hang. It is a POST, so it
    runs only when LIVE_CHECK_UNSAFE_METHODS is on (level 1 sends only GET and HEAD)."""

    name = "live_malformed_body"

    def check(
        self, client: httpx.Client, base: str, intent: Subject, artifacts: dict[str, Any]
    ) -> CheckResult:
        if not self.unsafe_methods():
            return CheckResult(
                True,
                "not probed: it needs a POST and unsafe methods are off "
                "(LIVE_CHECK_UNSAFE_METHODS)",
            )
        problems = []
        targets = post_targets(intent, artifacts, unsafe=True)
        for path in targets:
            result = probe(
                client,
                "POST",
                base + path,
                content=MALFORMED,
                headers={"Content-Type": "application/json"},
            )
            if result.response is None:
                problems.append(result.error)
            elif not 400 <= result.response.status_code < 500:
                problems.append(
                    f"POST {path} with a malformed body: status "
                    f"{result.response.status_code}, expected a 4xx"
                )
        if problems:
            return CheckResult(False, "; ".join(problems))
        return CheckResult(True, f"malformed body gets a 4xx on {', '.join(targets)}")


class UdcComplianceCheck(LiveChecker):
    """Level 2: all six UDC endpoints answer with their documented shapes."""

    name = "udc_compliance"

    def check(
        self, client: httpx.Client, base: str, intent: Subject, artifacts: dict[str, Any]
    ) -> CheckResult:
        trace_id = str(uuid.uuid4())
        bodies: dict[str, dict[str, Any]] = {
            "message": {
                "trace_id": trace_id,
                "source": "unified-assembly-line",
                "target": "probed-service",
                "message_type": "udc_probe",
                "payload": {},
                "timestamp": timezone.now().isoformat(),
            },
            "send": {"target": "unified-assembly-line", "message_type": "udc_probe", "payload": {}},
        }
        problems = []
        for name, (method, path, fields) in UDC_SHAPES.items():
            result = probe(client, method, base + path, json=bodies.get(name))
            body, why = json_fields(result, fields)
            if body is None:
                problems.append(why)
        if problems:
            return CheckResult(
                False, f"{len(problems)} of 6 UDC endpoints fail: " + "; ".join(problems)
            )
        return CheckResult(True, "all 6 UDC endpoints answer with their shapes")


def registry_path(options: dict[str, Any]) -> str:
    return str(options.get("registry_path") or getattr(settings, "SERVICE_REGISTRY_PATH", "") or "")


class RegistryCheck(LiveChecker):
    """Level 2: where a service registry is configured, the built service is in it (matched
    by the name its /health gives, or by its URL)."""

    name = "udc_registry"

    def check(
        self, client: httpx.Client, base: str, intent: Subject, artifacts: dict[str, Any]
    ) -> CheckResult:
        path = registry_path(self.options)
        if not path:
            return CheckResult(True, "no service registry configured")
        try:
            services = registry.read(path)["services"]
        except (OSError, ValueError) as exc:
            return CheckResult(False, f"service registry {path} unreadable: {exc}")
        body, why = json_fields(probe(client, "GET", base + "/health"), ["service"])
        name = artifacts.get("service_name") or (body or {}).get("service")
        shown = excerpt(name) if name else short(base)
        for entry in services:
            if not isinstance(entry, dict):
                continue
            urls = {str(entry.get(k) or "").rstrip("/") for k in ("url_local", "url_production")}
            if (name and entry.get("name") == name) or base in urls:
                return CheckResult(
                    True, f"registered in {Path(path).name} as {entry.get('name')!r}"
                )
        return CheckResult(
            False, f"{shown} is not in the service registry {path}" + (f" ({why})" if why else "")
        )

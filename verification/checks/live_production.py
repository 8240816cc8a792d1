"""Live checks of a service ready for production (levels 5 and 6): no leaked stack trace,
readiness artifacts, and a latency probe. The shared machinery is in live.py."""

from __future__ import annotations

import re
import statistics
import uuid
from typing import Any

import httpx

from verification.base import Checker, CheckResult, Subject
from verification.checks.live import (
    HEALTHY_STATUSES,
    MALFORMED,
    LiveChecker,
    health_check,
    post_targets,
)
from verification.probe import probe

# Level 6's latency probe sends at most this many GETs (after its first health check),
# whatever its OPTIONS ask for.
PROBE_REQUESTS_MAX = 20

# What a leaked stack trace looks like in Python, Node, Java, Go, Ruby and framework debug pages.
TRACEBACK = re.compile(
    r"Traceback \(most recent call last\)"
    r"|File \"[^\"]+\", line \d+"
    r"|\bat [\w$.<>]+ \([^)]*:\d+:\d+\)"
    r"|\tat [\w$.]+\([\w]+\.java:\d+\)"
    r"|goroutine \d+ \[running\]"
    r"|Exception Location:"
    r"|\.rb:\d+:in `",
)


class NoTracebackCheck(LiveChecker):
    """Level 5 (live part): error responses leak no stack trace."""

    name = "live_no_traceback"

    def check(
        self, client: httpx.Client, base: str, intent: Subject, artifacts: dict[str, Any]
    ) -> CheckResult:
        calls: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", f"/no-such-path-{uuid.uuid4().hex[:8]}", {}),
        ]
        for path in post_targets(intent, artifacts, self.unsafe_methods()):
            calls.append(
                (
                    "POST",
                    path,
                    {"content": MALFORMED, "headers": {"Content-Type": "application/json"}},
                )
            )
            calls.append(("POST", path, {"json": {"unexpected": ["x" * 50, {"nested": None}]}}))
        leaks, unreachable = [], []
        for method, path, kwargs in calls:
            result = probe(client, method, base + path, **kwargs)
            if result.response is None:
                unreachable.append(result.error)
            elif result.response.status_code >= 400 and TRACEBACK.search(result.response.text):
                leaks.append(f"{method} {path} ({result.response.status_code})")
        if unreachable:
            return CheckResult(False, "; ".join(unreachable))
        if leaks:
            return CheckResult(False, "stack trace in error response of " + ", ".join(leaks))
        return CheckResult(True, f"{len(calls)} error responses, no stack trace")


DEFAULT_REQUIRED_FILES: dict[str, list[str]] = {
    "README": [r"(^|/)readme(\.\w+)?$"],
    "SPEC": [r"(^|/)spec(\.\w+)?$", r"(^|/)specs?/"],
    "API docs": [
        r"(^|/)api[\w.-]*\.(md|rst|html|ya?ml|json)$",
        r"openapi",
        r"swagger",
        r"(^|/)docs/",
    ],
    "Dockerfile or deploy script": [
        r"(^|/)dockerfile$",
        r"docker-compose",
        r"(^|/)deploy",
        r"\.service$",
        r"(^|/)procfile$",
    ],
}


class ReadinessArtifactsCheck(Checker):
    """Level 6 (reported part): the files list has README, SPEC, API docs and a Dockerfile or
    deploy script, and there is a rollback plan."""

    name = "production_artifacts"

    def run(self, intent: Subject, artifacts: dict[str, Any]) -> CheckResult:
        files = artifacts.get("files")
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            return CheckResult(False, "no files list (a list of paths) reported")
        required = self.options.get("required_files", DEFAULT_REQUIRED_FILES)
        lowered = [f.lower() for f in files]
        missing = [
            what
            for what, patterns in required.items()
            if not any(re.search(p, f) for p in patterns for f in lowered)
        ]
        plan = artifacts.get("rollback_plan")
        problems = []
        if missing:
            problems.append("missing " + ", ".join(missing))
        if not isinstance(plan, str) or not plan.strip():
            problems.append("no rollback_plan")
        if problems:
            return CheckResult(False, "; ".join(problems))
        return CheckResult(True, f"{len(required)} required files and a rollback plan")


def percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


class ProductionProbeCheck(LiveChecker):
    """Level 6 (live part): the production URL is healthy and a short latency probe (N GETs of
    /health, N at most PROBE_REQUESTS_MAX) has p95 under the bound and no failure."""

    name = "production_probe"
    url_keys = ("production_url", "deployment_url")

    def check(
        self, client: httpx.Client, base: str, intent: Subject, artifacts: dict[str, Any]
    ) -> CheckResult:
        healthy = [s.lower() for s in self.options.get("healthy_statuses", HEALTHY_STATUSES)]
        first = health_check(client, base, healthy)
        if not first.passed:
            return first
        count = max(1, min(int(self.options.get("requests", 10)), PROBE_REQUESTS_MAX))
        bound_ms = float(self.options.get("p95_ms", 500))
        timings, failures = [], []
        for _ in range(count):
            result = probe(client, "GET", base + "/health")
            if result.response is None or result.response.status_code != 200:
                failures.append(result.why())
            timings.append(result.seconds * 1000)
        p95 = percentile(timings, 95)
        if failures:
            return CheckResult(
                False, f"{len(failures)} of {count} probe requests failed: {failures[0]}"
            )
        if p95 >= bound_ms:
            return CheckResult(
                False, f"p95 {p95:.0f} ms over {count} requests is not under {bound_ms:g} ms"
            )
        return CheckResult(True, f"healthy; {count} requests, p95 {p95:.1f} ms, no failure")

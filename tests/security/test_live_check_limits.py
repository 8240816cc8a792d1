"""Issue 16, finding 4: live checks must not stall the service. Slow, trickling and huge
targets are real HTTP servers; the /health test runs a real server (tests/servers.py)
on PostgreSQL and Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings as django_settings

from executors.models import Role
from executors.services import token_create
from intents.models import Intent
from tests.conftest import SPEC_OK, Actor, make_executor, need, phase_artifacts, submit
from tests.servers import Server
from tests.verification.fakeservice import FakeService
from verification.checks import live, live_production
from verification.registry import run_levels

LIVE = "verification.checks.live"


@pytest.fixture
def service() -> Iterator[FakeService]:
    with FakeService() as svc:
        yield svc


def in_thread(function: Any, bound: float) -> tuple[Any, float]:
    """Run `function`, waiting at most `bound` seconds (an unbounded check would hang the
    test): its result (None if still running) and how long it took."""
    result: list[Any] = []
    start = time.monotonic()
    thread = threading.Thread(target=lambda: result.append(function()), daemon=True)
    thread.start()
    thread.join(bound)
    return (result[0] if result else None), time.monotonic() - start


def test_a_trickling_target_is_cut_off_by_the_per_request_bound(service: FakeService) -> None:
    # One byte a second never trips a 1.5 s read timeout; the total bound must.
    service.mode, service.trickle_seconds = "trickle", 1.0
    check = live.HealthCheck(level=1, timeout=1.5)
    result, took = in_thread(
        lambda: check.run(Intent(id="i"), {"deployment_url": service.url}), bound=8
    )
    assert result is not None, "the check was still reading after 8 s"
    assert not result.passed and "timeout" in result.detail
    assert took < 2.5, took


def test_a_verification_stops_at_live_check_deadline(service: FakeService, settings: Any) -> None:
    service.mode, service.trickle_seconds = "trickle", 0.3
    settings.LIVE_CHECK_DEADLINE = 2.0
    settings.ASSEMBLY_LINE_VERIFIERS = [
        {"NAME": f"verification.checks.{name}", "LEVEL": level, "OPTIONS": {"timeout": 1.5}}
        for name, level in [
            ("live.HealthCheck", 1),
            ("live.EndpointsCheck", 1),
            ("live.UdcComplianceCheck", 2),
            ("live_production.NoTracebackCheck", 5),
            ("live_production.ProductionProbeCheck", 6),
        ]
    ]
    intent = Intent(id="i", spec_text=SPEC_OK)
    outcome, took = in_thread(
        lambda: run_levels(intent, {"deployment_url": service.url}, [1, 2, 5, 6]), bound=12
    )
    assert outcome is not None, "the verification was still running after 12 s"
    assert took < 3.0, took
    assert not outcome.passed
    assert "LIVE_CHECK_DEADLINE (2 s) passed" in outcome.checks["production_probe"]["detail"]


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def test_a_60_mb_answer_is_capped_and_memory_stays_flat(service: FakeService) -> None:
    service.mode = "huge"
    check = live.HealthCheck(level=1, timeout=10.0)
    baseline, peak, done = rss_bytes(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = check.run(Intent(id="i"), {"deployment_url": service.url})
    finally:
        done.set()
        sampler.join()
    growth = peak[0] - baseline
    print(f"RSS growth reading a 60 MB answer: {growth / 1e6:.1f} MB")
    assert growth < 10 * 1024 * 1024, f"RSS grew {growth / 1e6:.1f} MB"
    assert not result.passed and "larger than 64 KB" in result.detail


def test_the_level_6_latency_probe_is_capped(service: FakeService) -> None:
    check = live_production.ProductionProbeCheck(level=6, timeout=1.0, requests=50)
    result = check.run(Intent(id="i"), {"deployment_url": service.url})
    assert result.passed, result.detail
    assert len(service.log) <= 1 + 20  # its first health check + at most 20 (documented)
    assert getattr(django_settings, "LIVE_PROBE_REQUESTS", 50) <= 20


@pytest.fixture
def redis_cache() -> None:
    need(bool(django_settings.REDIS_URL), "Redis (REDIS_URL)")


def verify(actor: Actor, intent_id: str) -> Any:
    body = {"intent_id": intent_id, "verification_level": 1, "phase": "build"}
    return actor.client.post("/assembly-line/verify", body, format="json")


def test_verify_is_limited_per_intent_with_429_and_retry_after(
    submitter: Actor, settings: Any, redis_cache: None
) -> None:
    settings.VERIFY_RATE = 3
    first, other = submit(submitter)["intent_id"], submit(submitter)["intent_id"]
    assert [verify(submitter, first).status_code for _ in range(3)] == [200, 200, 200]
    limited = verify(submitter, first)
    assert limited.status_code == 429
    assert limited.json()["error"]["status"] == 429
    assert 1 <= int(limited["Retry-After"]) <= 60
    # The same intent spelt with spaces (the serializer strips them) is the same intent.
    assert verify(submitter, f"  {first} ").status_code == 429
    assert verify(submitter, other).status_code == 200  # the limit is per intent


@pytest.mark.django_db(transaction=True)
def test_health_and_executor_calls_stay_fast_while_8_verifies_wait_on_a_slow_target(
    postgres: None, redis_cache: None, service: FakeService
) -> None:
    service.delay = 2.0  # every request to the built service takes 2 s
    # Each verify holds one of the 4 threads of the verify pool for 5 s (its deadline): the
    # 8 keep the pool busy for 10 s, past the measurements below.
    server = Server(
        env={"LIVE_CHECKS": "true", "VERIFY_RATE": "100", "LIVE_CHECK_DEADLINE": "5"}
    ).start()
    try:
        _, token = token_create(name="slow-verifier", role=Role.SUBMITTER)
        worker = make_executor("builder-1", "local")
        headers = {"Authorization": f"Bearer {token}"}
        work = httpx.Client(
            base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {worker.token}"}
        )
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client, work:
            answer = client.post(
                "/assembly-line/intent",
                json={
                    "title": "slow",
                    "spec_text": SPEC_OK,
                    "priority": 5,
                    "environment_preference": "either",
                },
            )
            assert answer.status_code == 201, answer.text
            intent_id = answer.json()["intent_id"]
            claimed = work.get("/assembly-line/work/next", params={"executor_id": "builder-1"})
            assert claimed.json()["intent"]["id"] == intent_id, claimed.text
            body = {
                "intent_id": intent_id,
                "verification_level": 1,
                "phase": "build",
                "artifacts": {"deployment_url": service.url},
            }
            with ThreadPoolExecutor(8) as pool:
                verifies = [
                    pool.submit(client.post, "/assembly-line/verify", json=body) for _ in range(8)
                ]
                time.sleep(1.0)  # every verify is now waiting on the slow target
                latencies = []
                for _ in range(10):
                    start = time.monotonic()
                    assert httpx.get(server.url + "/health", timeout=30).status_code == 200
                    latencies.append(time.monotonic() - start)
                    time.sleep(0.2)
                # The executor hands in its build (its own service answers at once): its
                # gate runs on the completion pool, not behind the verifies.
                with FakeService() as built:
                    start = time.monotonic()
                    handed_in = work.post(
                        "/assembly-line/work/complete",
                        json={
                            "intent_id": intent_id,
                            "executor_id": "builder-1",
                            "status": "completed",
                            "artifacts": {**phase_artifacts("build"), "deployment_url": built.url},
                        },
                    )
                    complete_seconds = time.monotonic() - start
                # The measurements were taken while the verifies still waited.
                still_waiting = sum(not future.done() for future in verifies)
                answers = [future.result() for future in verifies]
        print(
            f"/health under 8 slow verifies: max {max(latencies) * 1000:.0f} ms, "
            f"median {sorted(latencies)[5] * 1000:.0f} ms"
        )
        print(f"/work/complete meanwhile: {complete_seconds * 1000:.0f} ms")
        assert still_waiting > 0
        assert max(latencies) < 1.0, latencies
        assert handed_in.status_code == 200, handed_in.text
        assert handed_in.json()["gate"]["passed"], handed_in.text
        assert complete_seconds < 3.0
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        assert Intent.objects.filter(pk=intent_id).exists()
    finally:
        server.stop()


@pytest.mark.parametrize(
    "intent_id", [{"a": 1}, ["x"], "x" * 10_000, None, True, "y" * 65, "\u0000"]
)
def test_a_hostile_intent_id_gets_a_clear_error_not_a_500(
    submitter: Actor, settings: Any, intent_id: Any
) -> None:
    settings.VERIFY_RATE = 1
    for _ in range(2):  # the second call would be over the limit if it counted
        body = {"intent_id": intent_id, "verification_level": 1, "phase": "build"}
        answer = submitter.client.post("/assembly-line/verify", body, format="json")
        assert answer.status_code in (400, 404), answer.content
        assert answer.json()["error"]["status"] == answer.status_code

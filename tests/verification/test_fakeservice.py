"""The fake built service the live-check tests probe: a client that hangs up before the answer
(as a live check does at its timeout) leaves no traceback in the suite's output."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.verification.fakeservice import FakeService


def test_a_client_that_gave_up_prints_no_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    with FakeService() as service:
        service.delay = 0.5
        for _ in range(3):
            with pytest.raises(httpx.TimeoutException):
                httpx.get(f"{service.url}/health", timeout=0.1)
        time.sleep(1.0)  # the handlers answer into closed connections
        assert httpx.get(f"{service.url}/health", timeout=5).status_code == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err

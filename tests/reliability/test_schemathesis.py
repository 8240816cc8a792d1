"""Schemathesis against a real server process: generated and fuzzed requests (examples,
coverage, fuzzing and stateful phases) for every operation of /api/schema/. No answer may be
a 5xx, and every answer must match the documented status codes, content type and schema."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from executors.models import Role
from executors.services import token_create
from tests.servers import Server

pytestmark = pytest.mark.django_db(transaction=True)


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(
    postgres: None, tmp_path: Path
) -> None:
    token = token_create(name="fuzzer", role=Role.ADMIN)[1]
    # A short long-poll ceiling, so fuzzed `wait` values cost at most a second each.
    server = Server({"LONG_POLL_MAX_SECONDS": "1"}).start()
    try:
        run = subprocess.run(
            [str(Path(sys.executable).with_name("schemathesis")), "run",
             f"{server.url}/api/schema/?format=json",
             "-H", f"Authorization: Bearer {token}",
             "--checks", "not_a_server_error,response_schema_conformance,"
                         "status_code_conformance,content_type_conformance",
             "--max-examples", "15", "--seed", "42", "--workers", "2",
             "--request-timeout", "20"],
            capture_output=True, text=True, timeout=600,
            cwd=tmp_path,  # its cache directory goes there, not into the checkout
        )
    finally:
        server.stop()
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    cases = re.search(r"(\d+) generated, (\d+) passed", output)
    assert cases is not None, output[-3000:]
    generated, passed = int(cases.group(1)), int(cases.group(2))
    assert generated == passed and generated >= 1000, output[-3000:]
    print(f"schemathesis: {generated} cases, all passed")
    assert "Internal Server Error" not in server.output()
    assert "Traceback" not in server.output()

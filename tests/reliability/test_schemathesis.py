"""Schemathesis against a real server process: generated and fuzzed requests (examples,
coverage, fuzzing and stateful phases) for every operation of /api/schema/. No answer may be
a 5xx, and every answer must match the documented status codes, content type and schema.

Then Hypothesis, in process, with what schemathesis does not send (tests/reliability/hostile.py):
NaN, Infinity, NUL, lone surrogates, deep nesting, from every principal, at every operation."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from executors.models import Role
from executors.services import token_create
from intents.models import WORKING, Intent
from tests.conftest import Actor, claim, submit
from tests.reliability import hostile
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
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                f"{server.url}/api/schema/?format=json",
                "-H",
                f"Authorization: Bearer {token}",
                "--checks",
                "not_a_server_error,response_schema_conformance,"
                "status_code_conformance,content_type_conformance",
                "--max-examples",
                "15",
                "--seed",
                "42",
                "--workers",
                "2",
                "--request-timeout",
                "20",
            ],
            capture_output=True,
            text=True,
            timeout=600,
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


def wire(text: str) -> bytes:
    """Text as a client puts it on the wire: UTF-8, lone surrogates as their (invalid) bytes."""
    return text.encode("utf-8", "surrogatepass")


class Line:
    """The principals (each with its own ids) and the intents the hostile requests aim at."""

    def __init__(
        self, admin: Actor, submitter: Actor, executor: Actor, outsider: Actor, viewer: Actor
    ) -> None:
        self.submitter, self.executor = submitter, executor
        self.mine = submit(submitter)["intent_id"]  # the submitter's own
        self.other = submit(admin)["intent_id"]  # someone else's
        self.held = self.phase = ""
        self.hold()
        # (token, the executor id it acts as); forged and missing tokens too.
        # (token, the executor id it acts as), weighted towards those that may act; forged and
        # missing tokens too.
        self.personas: list[tuple[str | None, str]] = [
            *[(executor.token, "laptop-1")] * 4,
            *[(admin.token, "laptop-1")] * 2,
            *[(submitter.token, "laptop-1")] * 2,
            (outsider.token, "laptop-2"),
            (viewer.token, "laptop-1"),
            (None, "laptop-1"),
            ("al000.forged", "laptop-1"),
            ("al\x00", "laptop-1"),
        ]

    def hold(self) -> None:
        """Make sure the executor holds an intent (a valid hand-in moves it on)."""
        intent = Intent.objects.filter(pk=self.held).first()
        if intent is None or intent.assigned_to_id != "laptop-1" or intent.status not in WORKING:
            submit(self.submitter)
            work = claim(self.executor)
            assert work["assigned"], work
            self.held, self.phase = work["intent"]["id"], work["intent"]["current_phase"]

    def fill(self, text: str, me: str, quoted: bool) -> str:
        values = {
            "@held": self.held,
            "@mine": self.mine,
            "@other": self.other,
            "@me": me,
            "@phase": self.phase,
        }
        for name, value in values.items():
            text = text.replace(
                f'"{name}"' if quoted else name, json.dumps(value) if quoted else value
            )
        return text


@pytest.mark.django_db
@pytest.mark.parametrize("operation", hostile.operations(), ids=lambda op: f"{op[0]} {op[1]}")
def test_no_hostile_input_to_any_operation_is_a_server_error(
    operation: tuple[str, str, dict[str, Any]],
    admin: Actor,
    submitter: Actor,
    executor: Actor,
    outsider: Actor,
    viewer: Actor,
) -> None:
    """Every principal (and none, and forged tokens), other principals' ids, hostile values in
    every part of the request: a clear 4xx JSON error or a success, never a 5xx."""
    method, template, spec = operation
    line = Line(admin, submitter, executor, outsider, viewer)
    client = APIClient()
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(persona=st.sampled_from(line.personas), parts=hostile.requests(spec))
    def run(persona: tuple[str | None, str], parts: tuple[Any, ...]) -> None:
        token, me = persona
        path_values, query, headers, body = parts
        line.hold()
        path = template
        for name, value in path_values.items():
            path = path.replace("{" + name + "}", quote(wire(line.fill(value, me, False)), safe=""))
        # What a server sees of a header: its bytes read as latin-1.
        meta = {
            f"HTTP_{k.upper().replace('-', '_')}": wire(v).decode("latin-1")
            for k, v in headers.items()
        }
        if token is not None:
            meta["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        query_string = urlencode({k: wire(line.fill(v, me, False)) for k, v in query.items()})
        url = f"{path}?{query_string}" if query_string else path
        body = line.fill(body, me, True) if body is not None else ""
        response = client.generic(method, url, body, content_type="application/json", **meta)
        statuses[response.status_code] += 1
        assert response.status_code < 500, (method, url, body[:300], response.content[:300])
        if response.status_code >= 400:
            assert response["Content-Type"].startswith("application/json")
            assert response.json()["error"]["status"] == response.status_code

    run()
    print(
        f"{method} {template}: {sum(statuses.values())} hostile examples, no 5xx: "
        f"{dict(sorted(statuses.items()))}"
    )

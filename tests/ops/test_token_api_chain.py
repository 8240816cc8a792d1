"""An executor's bearer-token calls run a lean middleware chain (settings.TOKEN_API_MIDDLEWARE,
assemblyline/handlers.py): still counted in the metrics, logged, HTTPS-hardened, and refused
with a bad token even when the caller's browser also holds a staff session; a browser's call to
the same endpoint keeps the whole chain (CSRF, its headers). On a real server process."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from django.contrib.auth import get_user_model

from executors.models import Executor, Role
from executors.services import token_create
from tests.servers import Server

pytestmark = pytest.mark.django_db(transaction=True)


def staff_session(server: Server) -> httpx.Client:
    """A staff user logged in to the admin, as a browser is: session and CSRF cookies."""
    get_user_model().objects.create_user("boss", password="pw-boss-1", is_staff=True)
    browser = httpx.Client(base_url=server.url, timeout=30)
    page = browser.get("/admin/login/")
    form_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert form_token, page.text[:500]
    answer = browser.post(
        "/admin/login/",
        data={"username": "boss", "password": "pw-boss-1", "csrfmiddlewaretoken": form_token[1]},
        headers={"Referer": server.url + "/admin/login/"},
    )
    assert answer.status_code == 302, answer.text[:500]
    return browser


def test_token_calls_skip_the_browser_chain_and_keep_metrics_logs_and_refusals(
    postgres: None,
) -> None:
    executor = Executor.objects.create(executor_id="lean-1", environment="server")
    worker = token_create(name="lean-1", role=Role.EXECUTOR, executor=executor)[1]
    admin = token_create(name="ops", role=Role.ADMIN)[1]
    server = Server({"DEBUG": "false"}).start()
    try:
        with server.client(worker) as http:
            beat = http.post("/assembly-line/executors/heartbeat", json={"executor_id": "lean-1"})
            claim = http.get("/assembly-line/work/next", params={"executor_id": "lean-1"})
            bad_body = http.post(
                "/assembly-line/work/progress",
                content=b'{"intent_id": ',
                headers={"Content-Type": "application/json"},
            )
        assert beat.status_code == 200, beat.text
        assert claim.status_code == 200 and claim.json()["assigned"] is False, claim.text
        assert bad_body.status_code == 400 and bad_body.json()["error"]["status"] == 400
        for answer in (beat, claim, bad_body):
            # SecurityMiddleware stays; the browser's (CSP, frames, sessions) did not run.
            assert answer.headers["X-Content-Type-Options"] == "nosniff"
            assert "Content-Security-Policy" not in answer.headers
            assert "X-Frame-Options" not in answer.headers
            assert "set-cookie" not in answer.headers

        # Counted and logged like any request.
        with server.client(admin) as ops:
            metrics = ops.get("/metrics").text
        counted = re.search(
            r'django_http_requests_total_by_view_transport_method_total\{method="GET",'
            r'transport="http",view="work-next"\} (\d+)',
            metrics,
        )
        assert counted and float(counted[1]) >= 1, metrics[:2000]
        logged = [
            line
            for line in server.output_all().splitlines()
            if line.startswith("{") and json.loads(line).get("event") == "request"
        ]
        paths = [json.loads(line)["path"] for line in logged]
        assert "/assembly-line/work/next" in paths and "/assembly-line/work/progress" in paths

        # A browser with a staff session and a bad bearer token: the token decides (401),
        # never the session, on the lean chain as on the full one.
        browser = staff_session(server)
        try:
            stolen_cookie = browser.post(
                "/assembly-line/executors/heartbeat",
                json={"executor_id": "lean-1"},
                headers={"Authorization": "Bearer not-a-token"},
            )
            assert stolen_cookie.status_code == 401, stolen_cookie.text
            split_bearer = browser.get(
                "/assembly-line/work/next",
                params={"executor_id": "lean-1"},
                headers={"Authorization": "Bearer two parts"},
            )
            assert split_bearer.status_code == 401, split_bearer.text

            # The same endpoint from the session alone: the whole chain, CSRF included.
            no_csrf = browser.post(
                "/assembly-line/executors/heartbeat", json={"executor_id": "lean-1"}
            )
            assert no_csrf.status_code == 403, no_csrf.text
            assert "Content-Security-Policy" in no_csrf.headers
            with_csrf = browser.post(
                "/assembly-line/executors/heartbeat",
                json={"executor_id": "lean-1"},
                headers={
                    "X-CSRFToken": browser.cookies["csrftoken"],
                    "Referer": server.url + "/admin/",
                },
            )
            assert with_csrf.status_code == 200, with_csrf.text
            assert "Content-Security-Policy" in with_csrf.headers
        finally:
            browser.close()
    finally:
        server.stop()

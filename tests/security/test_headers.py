"""Hygiene (issue 16, finding 12): a Content-Security-Policy on every page, `Secure` cookies,
HSTS and the https redirect when SECURE=true, and `testserver` accepted only by the tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.db import connections

from tests.conftest import need
from tests.security.test_secret_key import environment
from tests.servers import ROOT, Server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def policy(header: str) -> dict[str, str]:
    directives = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {name: value for name, value in directives}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/assembly-line/dashboard", "/admin/", "/admin/login/", "/api/docs/"]
)
def test_pages_carry_a_content_security_policy(client: Any, path: str) -> None:
    staff = get_user_model().objects.create_user("boss", password="pw-boss-1", is_staff=True)
    if path != "/admin/login/":  # a logged-in person is sent on from the login page
        client.force_login(staff)
    page = client.get(path)
    assert page.status_code == 200
    csp = policy(page["Content-Security-Policy"])
    assert csp["script-src"] == "'self'"  # no inline script, no eval
    assert csp["object-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
    assert csp["default-src"] == "'self'"


def test_testserver_is_not_an_allowed_host_outside_the_tests() -> None:
    show = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.ALLOWED_HOSTS)"
    )
    done = subprocess.run(
        [sys.executable, "-c", show],
        cwd=ROOT,
        check=True,
        text=True,
        capture_output=True,
        env=environment(SECRET_KEY="k" * 50),
    )
    assert "testserver" not in done.stdout and "localhost" in done.stdout


EMBEDDED_DB = "assembly-line.sqlite3"  # in VAR_DIR (assemblyline/stores.py)


@pytest.fixture(scope="module")
def migrated_var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VAR_DIR whose embedded database is migrated, made once for the module."""
    var_dir = tmp_path_factory.mktemp("migrated")
    env = {**os.environ, "DATABASE_URL": "", "REDIS_URL": "", "VAR_DIR": str(var_dir)}
    env["DJANGO_SETTINGS_MODULE"] = "assemblyline.settings"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    return var_dir


@pytest.fixture
def embedded_server(tmp_path: Path, migrated_var_dir: Path) -> Any:
    """A server on the embedded default (its own SQLite in tmp_path, a copy of the migrated
    one), so that the settings read from its environment are its own."""

    def start(**env: str) -> Server:
        shutil.copyfile(migrated_var_dir / EMBEDDED_DB, tmp_path / EMBEDDED_DB)
        server = Server(env={"DATABASE_URL": "", "REDIS_URL": "", "VAR_DIR": str(tmp_path), **env})
        servers.append(server)
        return server.start()

    servers: list[Server] = []
    yield start
    for server in servers:
        server.stop()


@pytest.mark.django_db
def test_secure_true_sends_hsts_secure_cookies_and_redirects_to_https(
    embedded_server: Any,
) -> None:
    server = embedded_server(SECURE="true")
    behind_tls = {"X-Forwarded-Proto": "https"}
    page = httpx.get(server.url + "/admin/login/", headers=behind_tls, timeout=10)
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "; secure" in page.headers["Set-Cookie"].lower()  # the CSRF cookie
    plain = httpx.get(server.url + "/admin/login/", timeout=10)
    assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")
    # Probes inside the network speak plain http to /health.
    assert httpx.get(server.url + "/health", timeout=10).status_code == 200


@pytest.mark.django_db
def test_without_secure_cookies_work_over_plain_http(embedded_server: Any) -> None:
    server = embedded_server()
    page = httpx.get(server.url + "/admin/login/", timeout=10)
    assert page.status_code == 200
    assert "Strict-Transport-Security" not in page.headers
    assert "secure" not in page.headers["Set-Cookie"].lower()


@pytest.mark.django_db(transaction=True)
@pytest.mark.browser
def test_dashboard_admin_and_swagger_work_under_the_policy(
    postgres: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person logs in, watches the dashboard, opens the API docs and the admin from its
    links: every page works and the browser reports no policy violation."""
    need(Path(CHROMIUM).exists(), "Chromium (/usr/bin/chromium)")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import expect, sync_playwright

    get_user_model().objects.create_user("boss", password="pw-boss-1", is_staff=True)
    server = Server().start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            page.goto(server.url + "/assembly-line/dashboard")
            page.fill("#id_username", "boss")
            page.fill("#id_password", "pw-boss-1")
            page.click("input[type=submit]")
            page.wait_for_url("**/assembly-line/dashboard")
            expect(page.locator("#connection")).to_have_attribute("data-state", "live")
            page.click("text=API")
            page.wait_for_url("**/api/docs/")
            expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)
            page.go_back()
            page.click("nav >> text=admin")
            expect(page.locator("#site-name")).to_be_visible()
            browser.close()
            connections.close_all()
        violations = [text for text in console if "Content Security Policy" in text]
        assert violations == []
    finally:
        server.stop()


def documented_open_paths() -> set[str]:
    """The paths docs/security.md lists as open, less those open only when configured so."""
    doc = (ROOT / "docs" / "security.md").read_text()
    section = doc.split("## Open endpoints", 1)[1].split("\n## ", 1)[0]
    rows = [row for row in section.splitlines() if row.startswith("| `")]
    first_cells = [row.split("|")[1] for row in rows if "only when" not in row]
    return {path for cell in first_cells for path in re.findall(r"(/[\w/.-]*)", cell)}


@pytest.mark.django_db
def test_the_open_endpoints_are_exactly_the_documented_ones(client: Any) -> None:
    from assemblyline.urls import urlpatterns

    paths = {
        "/" + re.sub(r"<\w+:\w+>", "int_nope", str(pattern.pattern))
        for pattern in urlpatterns
        if str(pattern.pattern) != "admin/"
    }
    open_now = {path for path in paths if client.get(path).status_code < 300}
    assert open_now == documented_open_paths() & paths

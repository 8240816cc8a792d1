"""Brute force (issue 16, finding 7): bad bearer tokens and admin passwords are limited per
address (429 with Retry-After), the counts hold across processes (Redis), and password
checks do not hold up /health."""

from __future__ import annotations

import random
import re
import threading
import time
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.cache import cache
from django.test import Client, override_settings
from rest_framework.test import APIClient

from executors.authentication import bad_token_key
from tests.conftest import need
from tests.servers import RedisServer, Server


def address() -> str:
    """An address of the test's own: the counts of other tests never reach it."""
    return "10.{}.{}.{}".format(*(random.randint(1, 254) for _ in range(3)))


def bad_headers(count: int) -> list[str]:
    """Wrong tokens, and malformed ones (they count too)."""
    shapes = ["Bearer al000.nope{}", "Bearer al{}.x y", "Bearer ÿ{}", "bearer {}" + "A" * 300]
    return [shapes[n % len(shapes)].format(n) for n in range(count)]


@pytest.fixture
def limits(settings: Any) -> None:
    """The default limits (tests/settings.py lifts them for every other test)."""
    settings.BAD_TOKEN_LIMIT = 20
    settings.AXES_FAILURE_LIMIT = 5
    # One window for the whole test: its boundary does not fall inside it.
    settings.BAD_TOKEN_WINDOW_SECONDS = 3600


def test_sixty_bad_tokens_get_twenty_401s_then_429s_with_retry_after(
    db: Any, limits: None, submitter: Any
) -> None:
    client, ip = APIClient(), address()
    answers = [
        client.get("/assembly-line/state", HTTP_AUTHORIZATION=header, REMOTE_ADDR=ip)
        for header in bad_headers(60)
    ]
    statuses = [answer.status_code for answer in answers]
    assert statuses == [401] * 20 + [429] * 40
    refused = answers[-1]
    assert 0 < int(refused["Retry-After"]) <= 3600
    assert refused.json()["error"]["status"] == 429
    assert refused.json()["error"]["code"] == "throttled"
    assert "too many bad tokens" in refused.json()["error"]["message"]
    # A valid token from that address still works; another address is not limited.
    ok = client.get(
        "/assembly-line/state", HTTP_AUTHORIZATION=f"Bearer {submitter.token}", REMOTE_ADDR=ip
    )
    assert ok.status_code == 200
    other = client.get(
        "/assembly-line/state", HTTP_AUTHORIZATION="Bearer al000.nope", REMOTE_ADDR=address()
    )
    assert other.status_code == 401


def test_a_request_without_a_token_is_not_counted(db: Any, limits: None) -> None:
    client, ip = APIClient(), address()
    for _ in range(30):
        assert client.get("/assembly-line/state", REMOTE_ADDR=ip).status_code == 401
    bad = client.get("/assembly-line/state", HTTP_AUTHORIZATION="Bearer x", REMOTE_ADDR=ip)
    assert bad.status_code == 401


def login(client: Client, password: str, ip: str) -> Any:
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": "boss", "password": password},
        REMOTE_ADDR=ip,
    )


def test_twenty_five_wrong_passwords_lock_the_address_out_right_one_included(
    db: Any, limits: None
) -> None:
    get_user_model().objects.create_user("boss", password="pw-boss-1", is_staff=True)
    client, ip = Client(), address()
    statuses = [login(client, f"guess-{n}", ip).status_code for n in range(25)]
    assert statuses == [200] * 4 + [429] * 21  # the 5th failure locks
    right = login(client, "pw-boss-1", ip)
    assert right.status_code == 429
    assert int(right["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds() == 900
    assert client.get("/admin/", REMOTE_ADDR=ip).status_code == 302  # not logged in
    # The person at another address logs in.
    other = Client()
    assert login(other, "pw-boss-1", address()).status_code == 302
    assert other.get("/admin/").status_code == 200


def test_a_successful_login_clears_the_failures(db: Any, limits: None) -> None:
    get_user_model().objects.create_user("boss", password="pw-boss-1", is_staff=True)
    client, ip = Client(), address()
    for attempt in range(3):
        assert login(client, f"typo-{attempt}", ip).status_code == 200
    assert login(client, "pw-boss-1", ip).status_code == 302
    client.logout()
    for attempt in range(4):
        assert login(client, f"typo-again-{attempt}", ip).status_code == 200


def login_form(server: Server) -> tuple[httpx.Client, str]:
    """A browser's visit to the login page: its CSRF cookie and form token."""
    client = httpx.Client(base_url=server.url, timeout=30)
    page = client.get("/admin/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    return client, token.group(1)


def post_login(client: httpx.Client, token: str, password: str) -> httpx.Response:
    return client.post(
        "/admin/login/",
        data={"username": "boss", "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": str(client.base_url) + "/admin/login/"},
    )


@pytest.mark.django_db(transaction=True)
def test_the_limits_hold_across_two_processes(postgres: None) -> None:
    need(bool(settings.REDIS_URL), "Redis (REDIS_URL)")
    from axes.utils import reset

    # The servers see every test client as 127.0.0.1: start from no failures there.
    reset(ip="127.0.0.1")
    with override_settings(BAD_TOKEN_WINDOW_SECONDS=3600):
        cache.delete(bad_token_key("127.0.0.1", time.time()))
    get_user_model().objects.create_user("boss", password="pw-boss-1", is_staff=True)
    env = {"BAD_TOKEN_LIMIT": "20", "ADMIN_LOGIN_FAILURES": "5", "BAD_TOKEN_WINDOW_SECONDS": "3600"}
    servers = [Server(env).start(), Server(env).start()]
    try:
        statuses = [
            httpx.get(
                servers[n % 2].url + "/assembly-line/state",
                headers={"Authorization": header.encode("latin-1")},
                timeout=10,
            ).status_code
            for n, header in enumerate(bad_headers(30))
        ]
        assert statuses.count(401) == 20 and statuses[20:] == [429] * 10
        forms = [login_form(server) for server in servers]
        failed = [post_login(*forms[n % 2], f"guess-{n}").status_code for n in range(6)]
        assert failed == [200] * 4 + [429] * 2
        right = post_login(*forms[0], "pw-boss-1")
        assert right.status_code == 429 and right.headers["Retry-After"] == "900"
    finally:
        for server in servers:
            server.stop()
        reset(ip="127.0.0.1")


@pytest.mark.django_db(transaction=True)
def test_parallel_failed_logins_do_not_hold_up_health(postgres: None, settings: Any) -> None:
    """Sixteen password checks at once (no lockout here, so every one of them hashes) while
    /health is asked every 50 ms: /health answers within a second throughout."""
    need(bool(settings.REDIS_URL), "Redis (REDIS_URL)")
    from axes.utils import reset

    # Production's hasher (tests/settings.py's is one iteration): the server checks a
    # password at the cost its hash was made with.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    boss = get_user_model().objects.create_user("boss", password="pw-boss-1", is_staff=True)
    assert boss.password.split("$")[1] == str(PBKDF2PasswordHasher.iterations)
    server = Server({"ADMIN_LOGIN_FAILURES": "1000"}).start()
    try:
        forms = [login_form(server) for _ in range(16)]
        done: list[int] = []
        threads = [
            threading.Thread(target=lambda f=form: done.append(post_login(*f, "wrong").status_code))
            for form in forms
        ]
        slowest = 0.0
        for thread in threads:
            thread.start()
        time.sleep(0.2)  # the logins are in
        with httpx.Client(base_url=server.url, timeout=30) as probe:
            while any(thread.is_alive() for thread in threads):
                started = time.monotonic()
                assert probe.get("/health").status_code == 200
                slowest = max(slowest, time.monotonic() - started)
                time.sleep(0.05)
        assert done == [200] * 16
        print(f"slowest /health during 16 parallel failed logins: {slowest:.3f} s")
        assert slowest < 1.0, f"/health took {slowest:.2f} s"
    finally:
        server.stop()
        reset(ip="127.0.0.1")  # other tests' servers log in from there too


@pytest.mark.django_db(transaction=True)
def test_while_redis_is_away_logins_and_tokens_are_checked_uncounted(postgres: None) -> None:
    """The line keeps working from PostgreSQL while Redis is away; so do the admin login and
    token checks (the limits count again when Redis is back)."""
    need(RedisServer.available(), "redis-server")
    get_user_model().objects.create_user("boss", password="pw-boss-1", is_staff=True)
    own = RedisServer().start()
    server = Server({"REDIS_URL": own.url}).start()
    try:
        form = login_form(server)
        own.stop()
        assert post_login(*form, "wrong").status_code == 200
        right = post_login(*form, "pw-boss-1")
        assert right.status_code == 302  # logged in
        bad = httpx.get(
            server.url + "/assembly-line/state",
            headers={"Authorization": "Bearer al000.nope"},
            timeout=10,
        )
        assert bad.status_code == 401
    finally:
        server.stop()
        own.stop()

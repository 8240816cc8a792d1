"""SECRET_KEY (issue 16, finding 6): a deployment refuses to start without its own key, the
embedded default makes one key of its own and keeps it, and `manage.py check --deploy` in the
production configuration of the Dockerfile and compose file warns only about what
docs/security.md explains."""

from __future__ import annotations

import os
import re
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from django.contrib import messages
from django.contrib.messages.storage.base import Message
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest
from django.test import override_settings

from deploy.check_image import instructions
from tests.servers import ROOT, Server, free_port

# The constant every installation without SECRET_KEY used to run on.
OLD_CONSTANT = "insecure-embedded-default-key-set-SECRET_KEY-in-production"
REFUSAL = re.compile(r"^unified-assembly-line: SECRET_KEY is not set; with DATABASE_URL set")


def environment(**overrides: str) -> dict[str, str]:
    """This process's environment without the suite's key and servers, plus `overrides`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    return {**env, "DJANGO_SETTINGS_MODULE": "assemblyline.settings", **overrides}


def forged_message_cookie(text: str) -> str:
    """A `messages` cookie as Django signs it, made with the old constant: what anyone who
    read settings.py could send."""
    with override_settings(SECRET_KEY=OLD_CONSTANT):
        storage = CookieStorage(HttpRequest())
        return storage._encode([Message(messages.WARNING, text)])


@pytest.mark.django_db
def test_a_cookie_signed_with_the_old_constant_is_not_trusted(tmp_path: Path) -> None:
    """An installation with no SECRET_KEY (the embedded default) rendered what a cookie signed
    with the public constant said, on the admin's own login page."""
    server = Server(
        env={"SECRET_KEY": "", "DATABASE_URL": "", "REDIS_URL": "", "VAR_DIR": str(tmp_path)}
    ).start()
    try:
        forged = forged_message_cookie("Your password expired: sign in at evil.example")
        page = httpx.get(server.url + "/admin/login/", cookies={"messages": forged}, timeout=10)
        assert page.status_code == 200
        assert "evil.example" not in page.text
        assert "Log in" in page.text
    finally:
        server.stop()


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "manage.py", "check"],
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            "{port}",
            "assemblyline.asgi:application",
        ],
        [sys.executable, "-m", "assemblyline", "serve", "--port", "{port}"],
    ],
    ids=["manage.py", "daphne", "assemblyline-serve"],
)
def test_a_deployment_without_secret_key_refuses_to_start(command: list[str]) -> None:
    port = str(free_port())
    env = environment(DATABASE_URL="postgres://postgres@127.0.0.1:5432/unused", SECRET_KEY="")
    try:
        done = subprocess.run(
            [part.replace("{port}", port) for part in command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("started (or hung) without SECRET_KEY")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and REFUSAL.match(lines[0]), done.stderr


def test_the_embedded_default_makes_its_key_once_and_keeps_it(tmp_path: Path) -> None:
    """Each run prints the key it runs on as its last line (log lines come before)."""
    env = environment(VAR_DIR=str(tmp_path), SECRET_KEY="")
    show = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.SECRET_KEY)"
    )
    keys = [
        subprocess.run(
            [sys.executable, "-c", show],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()[-1]
        for _ in range(2)
    ]
    assert keys[0] == keys[1]
    assert len(keys[0]) >= 50 and keys[0] != OLD_CONSTANT
    kept = tmp_path / "secret_key"
    assert kept.read_text().strip() == keys[0]
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    # Another installation (another VAR_DIR) gets a key of its own.
    other = environment(VAR_DIR=str(tmp_path / "other"), SECRET_KEY="")
    assert (
        subprocess.run(
            [sys.executable, "-c", show],
            cwd=ROOT,
            env=other,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()[-1]
        != keys[0]
    )


def production_environment() -> dict[str, str]:
    """The app's environment in docker-compose.yml on top of the Dockerfile's ENV, with a
    real key where compose asks for one."""
    env = environment()
    for word, args in instructions(ROOT / "Dockerfile"):
        if word == "ENV":
            for pair in args.split():
                key, _, value = pair.partition("=")
                env[key] = value
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for key, value in compose["services"]["app"]["environment"].items():
        env[key] = str(value)
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    env["CSRF_TRUSTED_ORIGINS"] = "http://127.0.0.1:8950"
    env["VAR_DIR"] = env["STATIC_ROOT"] = "/nonexistent"
    return env


def deploy_warnings(env: dict[str, str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "ERRORS:" not in done.stderr, done.stderr
    return set(re.findall(r"\(([\w.]+\.[WE]\d+)\)", done.stderr))


@pytest.mark.parametrize("secure", ["false", "true"])
def test_check_deploy_warns_only_about_what_the_security_doc_explains(secure: str) -> None:
    env = production_environment()
    env["SECURE"] = secure
    found = deploy_warnings(env)
    # Plain HTTP (compose as shipped) lacks the TLS-only settings; behind TLS only the two
    # HSTS choices a platform makes for its whole domain remain.
    expected = (
        {"security.W004", "security.W008", "security.W012", "security.W016"}
        if secure == "false"
        else {"security.W005", "security.W021"}
    )
    assert found == expected
    doc = (ROOT / "docs" / "security.md").read_text()
    assert all(warning in doc for warning in found)

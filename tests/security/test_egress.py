"""Issue 16, finding 3: the live checks must not be a way to make the server send requests
anywhere (SSRF). Each test runs the real checks against real HTTP servers on loopback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from intents.models import Intent
from tests.conftest import SPEC_OK
from tests.verification.fakeservice import FakeService
from verification.checks import live

REFUSED = "refused by LIVE_CHECK_ALLOW"


@pytest.fixture
def service() -> Iterator[FakeService]:
    with FakeService() as svc:
        yield svc


@pytest.fixture
def no_allow(settings: Any) -> None:
    settings.LIVE_CHECK_ALLOW = []  # the default of a deployment: public addresses only


def check(check_class: type[live.Checker], url: str, spec: str = SPEC_OK, **options: Any):
    intent = Intent(id="i-egress", title="egress", spec_text=spec)
    return check_class(level=1, **{"timeout": 2.0, **options}).run(intent, {"deployment_url": url})


def port_of(service: FakeService) -> int:
    return int(service.server.server_address[1])


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:{port}", "127.0.0.1"),
        ("http://[::ffff:127.0.0.1]:{port}", "127.0.0.1"),
        ("http://0.0.0.0:{port}", "0.0.0.0"),
        ("http://10.1.2.3:6379", "10.1.2.3"),
        ("http://192.168.1.1:5432", "192.168.1.1"),
        ("http://172.16.0.1", "172.16.0.1"),
        ("http://100.64.0.1", "100.64.0.1"),
        ("http://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("http://[fd00:ec2::254]", "cloud metadata"),
        ("http://[fe80::1]", "fe80::1"),
        ("http://224.0.0.1", "224.0.0.1"),
        ("http://[::1]:{port}", "::1"),
    ],
)
def test_loopback_private_and_metadata_are_refused_by_default(
    service: FakeService, no_allow: None, url: str, address: str
) -> None:
    result = check(live.HealthCheck, url.format(port=port_of(service)))
    assert not result.passed
    assert REFUSED in result.detail and address in result.detail, result.detail
    assert service.log == []  # nothing reached the loopback service


def test_a_dns_name_resolving_to_loopback_is_refused(service: FakeService, no_allow: None) -> None:
    result = check(live.HealthCheck, f"http://localhost:{port_of(service)}")
    assert not result.passed
    assert REFUSED in result.detail and "localhost is" in result.detail
    assert service.log == []


@pytest.mark.parametrize(
    "allow",
    ["127.0.0.1", "127.0.0.0/8", "127.0.0.1:{port}", "127.0.0.1:{below}-{above}", "localhost"],
)
def test_allowed_when_listed_in_live_check_allow(
    service: FakeService, settings: Any, allow: str
) -> None:
    port = port_of(service)
    settings.LIVE_CHECK_ALLOW = [allow.format(port=port, below=port - 1, above=port + 1)]
    host = "localhost" if allow == "localhost" else "127.0.0.1"
    result = check(live.HealthCheck, f"http://{host}:{port}")
    assert result.passed, result.detail


@pytest.mark.parametrize("allow", ["127.0.0.1:{other}", "10.0.0.0/8", "127.0.0.2"])
def test_an_entry_that_does_not_match_host_and_port_still_refuses(
    service: FakeService, settings: Any, allow: str
) -> None:
    port = port_of(service)
    other = port + 1 if port < 65535 else port - 1
    settings.LIVE_CHECK_ALLOW = [allow.format(other=other)]
    result = check(live.HealthCheck, f"http://127.0.0.1:{port}")
    assert not result.passed and REFUSED in result.detail
    assert service.log == []


@pytest.mark.parametrize(
    "entry", ["127.0.0.1:0", "127.0.0.1:9-1", "10.0.0.0/33", "not a host", "[::1]x", "a:b"]
)
def test_a_bad_live_check_allow_entry_is_a_configuration_error(entry: str) -> None:
    from verification import egress

    with pytest.raises(ImproperlyConfigured, match="LIVE_CHECK_ALLOW entry"):
        egress._rules((entry,))


def test_user_info_in_the_url_is_refused(service: FakeService) -> None:
    host = service.url.removeprefix("http://")
    result = check(live.HealthCheck, f"http://admin:hunter2@{host}")
    assert not result.passed and "user info" in result.detail
    assert "hunter2" not in result.detail
    assert service.log == []  # no request, so no Basic auth made from it


def test_a_spec_path_cannot_smuggle_user_info_or_another_host(service: FakeService) -> None:
    spec = SPEC_OK.replace("**GET /hello**", "**GET /@169.254.169.254/latest**")
    result = check(live.EndpointsCheck, service.url, spec=spec)
    assert result.passed, result.detail  # a path on the service itself, not a host
    assert ("GET", "/@169.254.169.254/latest") in [(m, p) for m, p, _ in service.log]


def test_a_redirect_is_not_followed(service: FakeService) -> None:
    with FakeService() as elsewhere:
        service.mode, service.location = "redirect", elsewhere.url + "/health"
        result = check(live.HealthCheck, service.url)
        assert not result.passed and "status 302" in result.detail
        assert elsewhere.log == []


SPEC_UNSAFE = SPEC_OK.replace(
    "**GET /hello**",
    "**POST /orders**\n**PUT /orders/{id}**\n**PATCH /orders/{id}**\n**DELETE /orders/{id}**",
)


def test_level_1_sends_no_post_put_patch_delete_by_default(service: FakeService) -> None:
    for check_class in (live.HealthCheck, live.EndpointsCheck, live.MalformedBodyCheck):
        result = check(check_class, service.url, spec=SPEC_UNSAFE)
        assert result.passed, result.detail
    assert {method for method, _, _ in service.log} <= {"GET", "HEAD"}
    # Level 5's error probes keep to the UDC /message endpoint, not the spec's paths.
    check(live.NoTracebackCheck, service.url, spec=SPEC_UNSAFE)
    assert not [p for m, p, _ in service.log if m != "GET" and p.startswith("/orders")]


def test_unsafe_methods_are_sent_when_switched_on(service: FakeService, settings: Any) -> None:
    settings.LIVE_CHECK_UNSAFE_METHODS = True
    check(live.EndpointsCheck, service.url, spec=SPEC_UNSAFE)
    assert {"POST", "PUT", "PATCH", "DELETE"} <= {method for method, _, _ in service.log}


def test_a_field_of_the_answer_is_quoted_short_and_escaped(service: FakeService) -> None:
    service.mode = "secret_status"
    result = check(live.HealthCheck, service.url)
    assert not result.passed
    assert FakeService.SECRET not in result.detail
    assert "\x1b" not in result.detail and "\n" not in result.detail
    assert len(result.detail) < 300, result.detail


def test_an_answer_that_is_not_http_is_not_echoed(settings: Any) -> None:
    banner = ("+OK " + "BANNER-OF-THE-SCANNED-PORT " * 80 + "\r\n\r\n").encode()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(banner)

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        result = check(live.HealthCheck, f"http://127.0.0.1:{listener.getsockname()[1]}")
        thread.join(5)
    assert not result.passed
    assert result.detail.count("BANNER-OF-THE-SCANNED-PORT") <= 8, result.detail
    assert len(result.detail) < 400, result.detail


def test_the_connection_goes_to_the_address_that_was_checked(
    service: FakeService, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A name that answers an allowed address to the check and a refused one afterwards
    # (DNS rebinding): the line resolves it once and connects to what it checked.
    settings.LIVE_CHECK_ALLOW = ["127.0.0.1"]
    real = socket.getaddrinfo
    answers = ["127.0.0.1", "10.9.9.9", "10.9.9.9"]

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            return real(answers.pop(0), *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    result = check(live.HealthCheck, f"http://rebind.test:{port_of(service)}")
    assert result.passed, result.detail
    assert len(answers) == 2  # asked once
    assert service.log[0][2]["Host"] == f"rebind.test:{port_of(service)}"

"""Where the live checks may connect, and for how long: the egress policy.

The live checks fetch URLs a caller chose (`deployment_url`, `production_url`, paths from the
spec), so every connection they make goes through `GuardedBackend`: the host is resolved
once, every address it resolves to is checked against `LIVE_CHECK_ALLOW` (unset: public
addresses only), and the socket is opened to an address that was checked, so a second DNS
answer cannot point the request elsewhere. Every read and write of that socket is bounded by
the deadline of the current `deadline()` block (per request and per verification), so a
service that answers one byte a second is cut off at the deadline, not kept alive by each
byte.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import ipaddress
import math
import re
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata services: named in the refusal so an operator sees what was attempted.
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_-]{1,63})*\.?$")


class EgressRefused(httpcore.ConnectError):
    """A connection the policy does not allow (httpx reports it as a ConnectError)."""


class DeadlinePassed(httpcore.ReadTimeout):
    pass


@dataclass(frozen=True)
class Rule:
    """One LIVE_CHECK_ALLOW entry: a network or a host name, and the ports it opens."""

    network: Network | None
    host: str
    ports: range

    def allows(self, host: str, address: IPAddress, port: int) -> bool:
        if port not in self.ports:
            return False
        if self.network is not None:
            return address in self.network
        return host == self.host


def parse_rule(entry: str) -> Rule:
    """`10.0.0.0/8`, `127.0.0.1:8000-8999`, `[::1]:8080`, `::1`, `builds.internal:443`."""
    text, ports = entry.strip().lower(), "1-65535"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError("expected ]:port after an IPv6 address")
            ports = rest[1:]
    elif text.count(":") == 1:
        host, ports = text.split(":")
    else:
        host = text  # a bare IPv6 address or network has no port
    low, _, high = ports.partition("-")
    first, last = int(low), int(high or low)
    if not 1 <= first <= last <= 65535:
        raise ValueError(f"bad port range {ports!r}")
    try:
        return Rule(ipaddress.ip_network(host, strict=False), "", range(first, last + 1))
    except ValueError:
        pass
    if not HOSTNAME.match(host):
        raise ValueError(f"{host!r} is neither an address, a network nor a host name")
    return Rule(None, host.rstrip("."), range(first, last + 1))


@functools.cache
def _rules(entries: tuple[str, ...]) -> tuple[Rule, ...]:
    rules = []
    for entry in entries:
        try:
            rules.append(parse_rule(entry))
        except ValueError as exc:
            raise ImproperlyConfigured(f"LIVE_CHECK_ALLOW entry {entry!r}: {exc}") from None
    return tuple(rules)


def rules() -> tuple[Rule, ...]:
    return _rules(tuple(getattr(settings, "LIVE_CHECK_ALLOW", [])))


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast: not loopback, private, link-local (metadata), CGNAT,
    multicast, unspecified or reserved."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not address.is_multicast and address not in METADATA


def refusal(host: str, address: IPAddress, port: int) -> str | None:
    """Why the policy refuses (host, address, port), or None when it allows it."""
    name = host.lower().rstrip(".")
    if any(rule.allows(name, address, port) for rule in rules()):
        return None
    if is_public(address):
        return None
    what = "cloud metadata address" if address in METADATA else "non-public address"
    return f"refused by LIVE_CHECK_ALLOW: {host} is {address} ({what}), port {port}"


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (once), each checked; EgressRefused if any fails."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror}") from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    for address in addresses:
        why = refusal(host, address, port)
        if why:
            raise EgressRefused(why)
    return addresses


# --- deadlines ----------------------------------------------------------------------------

_deadline: contextvars.ContextVar[float] = contextvars.ContextVar("live_deadline", default=math.inf)
_deadline_what: contextvars.ContextVar[str] = contextvars.ContextVar(
    "live_deadline_what", default=""
)


@contextlib.contextmanager
def deadline(seconds: float, what: str) -> Iterator[None]:
    """Bound every connection made inside the block to `seconds` from now (or an enclosing
    block's deadline, if sooner)."""
    end = time.monotonic() + seconds
    outer = _deadline.get()
    tokens = (
        _deadline.set(min(outer, end)),
        _deadline_what.set(what if end < outer else _deadline_what.get()),
    )
    try:
        yield
    finally:
        _deadline.reset(tokens[0])
        _deadline_what.reset(tokens[1])


def remaining(timeout: float | None) -> float:
    """The socket timeout to use now: the caller's, cut to what is left of the deadline."""
    left = _deadline.get() - time.monotonic()
    if left <= 0:
        raise DeadlinePassed(f"timeout: {_deadline_what.get()} passed")
    return left if timeout is None else min(timeout, left)


class GuardedStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self.stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, remaining(timeout))

    def close(self) -> None:
        self.stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return GuardedStream(
            self.stream.start_tls(ssl_context, server_hostname, remaining(timeout))
        )

    def get_extra_info(self, info: str) -> Any:
        return self.stream.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's socket backend, connecting only to addresses the policy allows."""

    def __init__(self) -> None:
        self.backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        remaining(timeout)  # a passed deadline stops before the name is even looked up
        addresses = resolve(host, port)
        error: Exception | None = None
        for address in addresses:  # every one was checked: connect to one of them
            try:
                stream = self.backend.connect_tcp(
                    str(address), port, remaining(timeout), local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            return GuardedStream(stream)
        raise error or httpcore.ConnectError(f"{host} resolves to no address")

    def sleep(self, seconds: float) -> None:
        self.backend.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport on the guarded backend. httpx takes no network backend, so its
    connection pool is replaced by one built the same way on ours; the egress tests
    (tests/security/test_egress.py) fail if that stops taking effect."""

    def __init__(self) -> None:
        super().__init__(trust_env=False)
        if not hasattr(self, "_pool"):
            raise RuntimeError("httpx.HTTPTransport changed: see verification/egress.py")
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=10,
            network_backend=GuardedBackend(),
        )


def live_checks(pool: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a view that runs live checks: the handler runs it on live-check pool `pool`
    (LIVE_CHECK_CONCURRENCY threads each, assemblyline/handlers.py)."""

    def mark(view: Callable[..., Any]) -> Callable[..., Any]:
        view.live_checks = pool  # type: ignore[attr-defined]
        return view

    return mark

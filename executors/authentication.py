"""Bearer tokens: `Authorization: Bearer <token>`, verified by a pluggable backend; and the
limits on guessing (docs/security.md): bad tokens per address here, admin logins by axes."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from redis.exceptions import RedisError
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.request import Request

from executors.models import ApiToken, Role

log = structlog.get_logger("executors.authentication")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's role and, for executor tokens, the executor it acts as.
    `identity` decides ownership (`principal_identity`); `name` is only a label to show."""

    name: str
    role: str
    executor_id: str | None = None
    token_id: int | None = None
    identity: str = ""

    is_authenticated = True
    is_anonymous = False

    def __post_init__(self) -> None:
        # Without one, every such caller would own every other's intents.
        if not self.identity:
            raise ValueError("a Principal needs an identity (see principal_identity)")

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def pk(self) -> str:  # DRF throttles and loggers read user.pk
        return self.identity


def principal_identity(who: Any) -> str:
    """The one unique identity of a caller, which ownership, review and idempotency compare:
    `executor:<executor_id>` for an executor token (every token of an executor is that
    executor), `token:<ApiToken pk>` for any other token, `user:<pk>` for a logged-in Django
    user. Names are not unique (two tokens may both be called "submitter"), so they are only
    labels. `who`: a request (DRF or Django), a Principal, an ApiToken or a user."""
    who = getattr(who, "user", who)  # a request: its authenticated user or principal
    if isinstance(who, Principal):
        return who.identity
    if isinstance(who, ApiToken):
        if who.role == Role.EXECUTOR and who.executor_id:
            return f"executor:{who.executor_id}"
        return f"token:{who.pk}"
    if who is not None and getattr(who, "is_authenticated", False) and who.pk is not None:
        return f"user:{who.pk}"
    raise ValueError("an anonymous caller has no identity")


def principal_for_user(user: Any) -> Principal | None:
    """A logged-in Django user (admin site, dashboard): staff are admins, others viewers."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if isinstance(user, Principal):
        return user
    role = Role.ADMIN if user.is_staff else Role.VIEWER
    return Principal(name=user.get_username(), role=role, identity=principal_identity(user))


def principal_of(request: Request) -> Principal | None:
    return principal_for_user(getattr(request, "user", None))


def token_from_header(value: bytes) -> str | None:
    parts = value.split()
    if not parts or parts[0].lower() != b"bearer":
        return None
    if len(parts) != 2:
        raise AuthenticationFailed("Authorization header must be 'Bearer <token>'")
    try:
        return parts[1].decode("ascii")
    except UnicodeDecodeError:
        raise AuthenticationFailed("token must be ASCII") from None


# Verified tokens, remembered so a busy executor's every request does not cost a database
# lookup: sha256(token) -> (principal, when its verification started). Per process, bounded.
_verified: dict[str, tuple[Principal, float]] = {}
_VERIFIED_MAX = 10_000
DEFAULT_TOKEN_BACKEND = "executors.services.token_authenticate"


@dataclass
class TokenTable:
    """What this process knows of the token table as a whole: its fingerprint, since when
    (monotonic) that fingerprint is known, and when it was last read."""

    fingerprint: tuple[Any, ...] | None = None
    since: float = math.inf
    checked: float = -math.inf


_table = TokenTable()
_table_lock = threading.Lock()  # one look at a time, so the latest look is the one kept


def token_table_fingerprint() -> tuple[Any, ...]:
    """How many tokens, how many revoked, the newest id: any token made, revoked or deleted
    changes it (revoked_at is set once; ids are never reused)."""
    found = ApiToken.objects.aggregate(
        tokens=Count("pk"), revoked=Count("revoked_at"), newest=Max("pk")
    )
    return (found["tokens"], found["revoked"], found["newest"])


def look_at_token_table(now: float, ttl: float) -> None:
    """Read the token table's fingerprint when the last look is `ttl` old or more (one
    query per `ttl` per process, whatever the number of tokens)."""
    if now - _table.checked < ttl:
        return  # a recent look: no lock on every request (checked again under it below)
    with _table_lock:
        if now - _table.checked < ttl:
            return
        started = time.monotonic()
        fingerprint = token_table_fingerprint()
        if fingerprint != _table.fingerprint:
            _table.fingerprint, _table.since = fingerprint, time.monotonic()
        _table.checked = started


def tokens_unchanged_since(moment: float, now: float, ttl: float) -> bool:
    """No token made, revoked or deleted since `moment`, as of a look at most `ttl` ago."""
    look_at_token_table(now, ttl)
    return _table.since <= moment


def verify_token(token: str) -> Principal | None:
    """The token's principal, remembered per process. A revoked or deleted token stops
    working within TOKEN_CACHE_SECONDS: a remembered token is taken at once for that long
    after its verification; after that, while one look at the token table, at most that old,
    says no token changed since it was verified (so a long poll every 30 s costs no token
    lookup); otherwise it is verified again. A TOKEN_BACKEND other than the default is asked
    again after TOKEN_CACHE_SECONDS (its tokens are not in the table)."""
    ttl = settings.TOKEN_CACHE_SECONDS
    local = settings.TOKEN_BACKEND == DEFAULT_TOKEN_BACKEND
    key = hashlib.sha256(token.encode()).hexdigest()
    if ttl > 0:
        cached = _verified.get(key)
        if cached is not None:
            principal, verified_at = cached
            now = time.monotonic()
            if now - verified_at < ttl or (local and tokens_unchanged_since(verified_at, now, ttl)):
                return principal
    if ttl > 0 and local:
        # A look first (when the last is older than the cache time), so the token verified
        # now is covered by the looks that follow.
        look_at_token_table(time.monotonic(), ttl)
    started = time.monotonic()
    backend = import_string(settings.TOKEN_BACKEND)
    verified: Principal | None = backend(token)
    if verified is not None and ttl > 0:
        if len(_verified) >= _VERIFIED_MAX:
            _verified.clear()
        _verified[key] = (verified, started)
    return verified


def forget_verified_tokens() -> None:
    _verified.clear()


def client_address(request: HttpRequest) -> str:
    """The caller's address as Daphne resolved it (behind the proxy, from the X-Forwarded-For
    the proxy set), never a header the caller chose. Limits count by it."""
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def bad_token_key(address: str, now: float) -> str:
    """The cache key counting an address's bad tokens in the window that holds `now`."""
    return f"bad-token:{address}:{int(now // settings.BAD_TOKEN_WINDOW_SECONDS)}"


def bad_token_seen(request: HttpRequest) -> None:
    """Count a bad token against the caller's address; past BAD_TOKEN_LIMIT in this window,
    429 until the window ends. The count lives in the cache (Redis in production, shared by
    every process). Valid tokens never touch it. Without the cache, tokens are still checked,
    only not counted."""
    window = settings.BAD_TOKEN_WINDOW_SECONDS
    now = time.time()
    key = bad_token_key(client_address(request), now)
    try:
        cache.add(key, 0, timeout=window + 1)
        count = cache.incr(key)
    except (RedisError, OSError, ValueError) as exc:
        log.warning("bad_token_not_counted", error=f"{type(exc).__name__}: {exc}")
        return
    if count > settings.BAD_TOKEN_LIMIT:
        wait = max(1, math.ceil(window - now % window))
        raise Throttled(
            wait=wait, detail=f"too many bad tokens from your address; retry in {wait} s"
        )


def login_locked_out(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """django-axes' answer to a locked-out admin login: 429 with Retry-After."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    response = HttpResponse(
        f"Too many failed logins from your address: try again in {math.ceil(seconds / 60)} "
        "minutes.",
        status=429,
        content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = str(seconds)
    return response


class BearerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Principal, Principal] | None:
        try:
            token = token_from_header(get_authorization_header(request))
            if token is None:
                return None
            principal = verify_token(token)
            if principal is None:
                raise AuthenticationFailed("invalid or revoked token")
        except AuthenticationFailed:
            bad_token_seen(request)
            raise
        return principal, principal

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="assembly-line"'


def acting_principal(request: Request) -> Principal:
    """The caller of a view whose permission classes require a principal."""
    principal = principal_of(request)
    assert principal is not None  # the permission classes ran
    return principal


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "executors.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token: `Authorization: Bearer <token>` "
            "(`manage.py createtoken`).",
        }

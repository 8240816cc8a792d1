"""Writes for executors and tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from assemblyline.errors import InvalidInput, NotAllowed, NotFound
from executors.authentication import Principal, principal_identity
from executors.live import live
from executors.models import ApiToken, Executor, Role

# A token's last_used_at is written at most this often: auth must not write per request.
LAST_USED_WRITE_SECONDS = 60


def token_create(
    *, name: str, role: str, executor: Executor | None = None
) -> tuple[ApiToken, str]:
    """Make a token; the plaintext is returned once and never stored."""
    if role not in Role.values:
        raise InvalidInput(f"unknown role {role!r}")
    if role == Role.EXECUTOR and executor is None:
        raise InvalidInput("an executor token must be bound to an executor")
    token, prefix, hashed = ApiToken.generate()
    api_token = ApiToken.objects.create(
        name=name, role=role, executor=executor, prefix=prefix, hashed=hashed
    )
    return api_token, token


def token_revoke(*, api_token: ApiToken) -> None:
    from executors.authentication import forget_verified_tokens

    forget_verified_tokens()  # this process at once; others within TOKEN_CACHE_SECONDS
    ApiToken.objects.filter(pk=api_token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def token_authenticate(token: str) -> Principal | None:
    """The default TOKEN_BACKEND: look the token up by prefix, compare hashes in constant
    time, refuse revoked tokens."""
    prefix = token.split(".", 1)[0]
    api_token = ApiToken.objects.filter(prefix=prefix).first()
    if api_token is None or not api_token.is_active or not api_token.matches(token):
        return None
    now = timezone.now()
    stale = now - timedelta(seconds=LAST_USED_WRITE_SECONDS)
    if api_token.last_used_at is None or api_token.last_used_at < stale:
        ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
    return Principal(
        name=api_token.executor_id or api_token.name,
        role=api_token.role,
        executor_id=api_token.executor_id,
        token_id=api_token.pk,
        identity=principal_identity(api_token),
    )


def executor_for(*, principal: Principal, executor_id: str) -> Executor:
    """The executor a call acts as: an executor token only as itself; admins as any."""
    return executor_get(executor_id=executor_id_for(principal=principal, executor_id=executor_id))


def acting_executor_id(*, principal: Principal, executor_id: str) -> str:
    """`executor_for`, without loading the executor where its existence is known: an executor
    token's own executor exists (its tokens are deleted with it; in the TOKEN_CACHE_SECONDS
    after a deletion, a call then fails on the intent it names: 403 or 409); an admin's pick
    is checked (404)."""
    executor_id = executor_id_for(principal=principal, executor_id=executor_id)
    if principal.role != Role.EXECUTOR:
        executor_get(executor_id=executor_id)
    return executor_id


def executor_id_for(*, principal: Principal, executor_id: str) -> str:
    """`executor_for`'s checks without loading the executor (for a call that loads it
    itself, locked)."""
    if not executor_id:
        raise InvalidInput("executor_id is required")
    if principal.role == Role.EXECUTOR and principal.executor_id != executor_id:
        raise NotAllowed(
            f"this token acts as executor {principal.executor_id!r}, not {executor_id!r}"
        )
    if principal.role not in (Role.EXECUTOR, Role.ADMIN):
        raise NotAllowed("only executor (and admin) tokens may act as an executor")
    return executor_id


def executor_get(*, executor_id: str, queryset: Any = None) -> Executor:
    """The registered executor (404 otherwise), from `queryset` when given (locked, say)."""
    executor = (queryset if queryset is not None else Executor.objects).filter(
        pk=executor_id).first()
    if executor is None:
        raise NotFound(f"executor {executor_id!r} is not registered")
    return executor


# What routes work to an executor: an admin's to set (admin token, createtoken, Django
# admin). An executor token may restate them but not change them.
ROUTING_FIELDS = ("environment", "capabilities", "max_concurrent")


def _routing_changes(executor: Executor, fields: dict[str, Any]) -> list[str]:
    changed = []
    for name in ROUTING_FIELDS:
        if name not in fields:
            continue
        now, asked = getattr(executor, name), fields[name]
        if name == "capabilities":
            now, asked = sorted(set(now)), sorted(set(asked))
        if now != asked:
            changed.append(name)
    return changed


def executor_register(
    *, principal: Principal, executor_id: str, fields: dict[str, Any]
) -> tuple[Executor, bool, str | None]:
    """Register an executor or update its description. An admin may register any executor,
    set any field, and gets a new executor token for a new one. An executor token updates
    only what describes it (executor_type, availability): its routing (ROUTING_FIELDS) is an
    admin's to set, and it never creates an executor. Returns (executor, created,
    token-or-None)."""
    from intents.events import record_executor_event

    acting_as_itself = principal.role == Role.EXECUTOR
    if acting_as_itself and principal.executor_id != executor_id:
        raise NotAllowed(
            f"this token acts as executor {principal.executor_id!r}, not {executor_id!r}"
        )
    now = timezone.now()
    with transaction.atomic():
        if acting_as_itself:
            executor = Executor.objects.select_for_update().filter(pk=executor_id).first()
            if executor is None:  # deleted since the token was verified (token cache)
                raise NotAllowed(
                    f"executor {executor_id!r} is no longer registered; an executor token "
                    "never registers an executor (an admin does)"
                )
            changed = _routing_changes(executor, fields)
            if changed:
                raise NotAllowed(
                    f"an executor may not change its own {', '.join(changed)}: routing is "
                    "set by an admin (admin token, createtoken or Django admin); an executor "
                    "token may update executor_type and availability"
                )
            created = False
        else:
            executor, created = Executor.objects.select_for_update().get_or_create(
                executor_id=executor_id,
                defaults={**fields, "last_heartbeat": now, "online": True},
            )
        if not created:
            for name, value in fields.items():
                setattr(executor, name, value)
            executor.last_heartbeat, executor.online = now, True
            executor.save()
        live.beat(executor.pk)
        token = None
        if created and principal.role == Role.ADMIN:
            _, token = token_create(name=executor_id, role=Role.EXECUTOR, executor=executor)
        record_executor_event(
            executor=executor,
            kind="executor_registered",
            actor=principal.identity,
            payload={"created": created, **fields},
        )
    return executor, created, token


def executor_touch(*, executor_id: str, now: Any = None,
                   executor: Executor | None = None) -> bool:
    """Every executor call is a heartbeat: its Redis key is set with a TTL (live status), and
    the database copy is written behind, at most every HEARTBEAT_WRITE_SECONDS (Redis keeps
    that time, across processes), so a large fleet does not turn heartbeats into a write
    storm. Returns True when the executor was offline before this call (the caller records
    `executor_online`).

    `executor`: its row, when the caller has loaded it (its `online` flag then counts too,
    and it is kept up to date). Without Redis the row is what decides, read here if need be."""
    now = now or timezone.now()
    touched = live.touch(executor_id, settings.HEARTBEAT_WRITE_SECONDS)
    if touched is None:  # Redis not configured or down: PostgreSQL decides
        if executor is None:
            executor = Executor.objects.filter(pk=executor_id).only(
                "last_heartbeat", "online").first()
            if executor is None:
                return False
        last = executor.last_heartbeat
        offline_after = timedelta(seconds=settings.EXECUTOR_OFFLINE_AFTER_SECONDS)
        lapsed = last is None or now - last > offline_after
        write_due = last is None or now - last >= timedelta(
            seconds=settings.HEARTBEAT_WRITE_SECONDS)
    else:
        lapsed, write_due = touched
    came_online = lapsed or (executor is not None and not executor.online)
    if came_online:
        Executor.objects.filter(pk=executor_id).update(last_heartbeat=now, online=True)
    elif write_due:
        Executor.objects.filter(pk=executor_id).update(last_heartbeat=now)
    if executor is not None and (came_online or write_due):
        executor.last_heartbeat, executor.online = now, True
    return came_online


def executor_heartbeat(*, executor: Executor, actor: str) -> Executor:
    """A heartbeat: the executor is alive; its leases are extended."""
    from intents.events import record_executor_event
    from intents.models import WORKING, Intent

    now = timezone.now()
    with transaction.atomic():
        came_online = executor_touch(executor_id=executor.pk, executor=executor, now=now)
        Intent.objects.filter(assigned_to=executor, status__in=WORKING).update(
            lease_expires_at=now + timedelta(seconds=settings.LEASE_SECONDS)
        )
        if came_online:
            record_executor_event(executor=executor, kind="executor_online", actor=actor)
    return executor

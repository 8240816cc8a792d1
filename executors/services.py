"""Writes for executors and tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.errors import InvalidInput, NotAllowed, NotFound
from executors.authentication import Principal, forget_verified_tokens, principal_identity
from executors.live import live
from executors.models import ApiToken, Executor, Role
from executors.selectors import heartbeat_fresh

log = structlog.get_logger("executors.services")

# A token's last_used_at is written at most this often: auth must not write per request.
LAST_USED_WRITE_SECONDS = 60


def token_create(*, name: str, role: str, executor: Executor | None = None) -> tuple[ApiToken, str]:
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


def token_issue(*, api_token: ApiToken) -> str:
    """Give a token described elsewhere (the admin's add form) its secret and store it; the
    plaintext is returned once and never stored."""
    token, api_token.prefix, api_token.hashed = ApiToken.generate()
    api_token.save()
    return token


def token_rename(*, api_token: ApiToken, name: str) -> None:
    """A token's name is only its label; its role and executor never change after it is made
    (they are its identity: what it submitted stays its own). Another role: a new token."""
    ApiToken.objects.filter(pk=api_token.pk).update(name=name)


def executor_save(*, executor: Executor) -> None:
    """An admin sets an executor's routing (environment, capabilities, max_concurrent) and
    description in Django admin; the form has validated the fields."""
    executor.save()


def token_revoke(*, api_token: ApiToken) -> None:
    forget_verified_tokens()  # this process at once; others within TOKEN_CACHE_SECONDS
    ApiToken.objects.filter(pk=api_token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def token_delete(*, api_token: ApiToken) -> None:
    """An admin deletes a token (Django admin): it stops working at once in this process,
    in others within TOKEN_CACHE_SECONDS, as a revoked one does."""
    token_id, name = api_token.pk, api_token.name
    api_token.delete()
    forget_verified_tokens()
    log.info("token_deleted", token_id=token_id, name=name)


def executor_delete(*, executor: Executor) -> None:
    """An admin deletes an executor (Django admin). Its tokens go with it; intents that name
    it keep their place with that name cleared (the foreign keys' SET_NULL), and work it held
    waits for its lease to lapse (the reaper re-queues it). Its live status is dropped."""
    executor_id = executor.pk
    with transaction.atomic():
        executor.delete()
    forget_verified_tokens()
    live.forget(executor_id)
    log.info("executor_deleted", executor_id=executor_id)


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


def executor_get(*, executor_id: str, lock: bool = False) -> Executor:
    """The registered executor (404 otherwise); `lock`: row-locked until the transaction
    ends."""
    queryset = Executor.objects.select_for_update() if lock else Executor.objects
    executor = queryset.filter(pk=executor_id).first()
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
    token-or-None). The caller records its event (intents.services.fleet)."""
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
    return executor, created, token


def executor_provide(
    *, executor_id: str, fields: dict[str, Any], update: bool = True
) -> tuple[Executor, bool]:
    """An executor as an operator sets it up (createtoken, the demo): made with `fields`, or
    (with `update`) its `fields` updated. Returns (executor, created)."""
    executor, created = Executor.objects.get_or_create(executor_id=executor_id, defaults=fields)
    if update and not created and fields:
        Executor.objects.filter(pk=executor_id).update(**fields)
    return executor, created


# The heartbeat's write behind, made by most executor calls (an idle long poll's every one):
# a plain statement, without the ORM's query building (half the statement's CPU).
WRITE_HEARTBEAT = f"UPDATE {Executor._meta.db_table} SET last_heartbeat = %s WHERE executor_id = %s"


def executor_touch(*, executor_id: str, now: Any = None, executor: Executor | None = None) -> bool:
    """Every executor call is a heartbeat: its Redis key is set with a TTL (live status), and
    the database copy is written behind, at most every HEARTBEAT_WRITE_SECONDS (Redis keeps
    that time, across processes), so a large fleet does not turn heartbeats into a write
    storm. Returns True when the executor was offline before this call (the caller records
    `executor_online`).

    `executor`: its row, when the caller has loaded it (its `online` flag then counts too,
    and it is kept up to date). Without Redis the row is what decides, read here if need be."""
    now = now or timezone.now()
    touched = live.touch(executor_id, settings.HEARTBEAT_WRITE_SECONDS)
    return executor_touched(executor_id=executor_id, touched=touched, now=now, executor=executor)


def executor_touched(
    *,
    executor_id: str,
    touched: tuple[bool, bool] | None,
    now: datetime,
    executor: Executor | None = None,
) -> bool:
    """The database's side of `executor_touch`, once its Redis side (`live.touch`, perhaps in
    a round trip shared with other commands) answered `touched`: (lapsed, write_due), or
    None when Redis could not tell. Returns True when the executor was offline before."""
    if touched is None:  # Redis not configured or down: PostgreSQL decides
        if executor is None:
            executor = (
                Executor.objects.filter(pk=executor_id).only("last_heartbeat", "online").first()
            )
            if executor is None:
                return False
        last = executor.last_heartbeat
        lapsed = not heartbeat_fresh(last, now)
        write_due = last is None or now - last >= timedelta(
            seconds=settings.HEARTBEAT_WRITE_SECONDS
        )
    else:
        lapsed, write_due = touched
    came_online = lapsed or (executor is not None and not executor.online)
    if came_online:
        Executor.objects.filter(pk=executor_id).update(last_heartbeat=now, online=True)
    elif write_due:
        with connection.cursor() as cursor:
            cursor.execute(WRITE_HEARTBEAT, [now, executor_id])
    if executor is not None and (came_online or write_due):
        executor.last_heartbeat, executor.online = now, True
    return came_online


def executor_mark_offline(*, executor: Executor) -> bool:
    """The executor is gone: its `online` flag is cleared and its live key dropped. True when
    it was announced online before (the caller then records `executor_offline`)."""
    changed = Executor.objects.filter(pk=executor.pk, online=True).update(online=False)
    live.forget(executor.pk)
    if changed:
        executor.online = False
    return bool(changed)


# Made on every hand-in: plain statements, without the ORM's query building.
COUNT_PASSED = (
    f"UPDATE {Executor._meta.db_table} SET builds_completed = builds_completed + 1, "
    "total_build_seconds = total_build_seconds + %s WHERE executor_id = %s"
)
COUNT_FAILED = (
    f"UPDATE {Executor._meta.db_table} SET builds_failed = builds_failed + 1 WHERE executor_id = %s"
)


def executor_count_phase(*, executor_id: str, passed: bool, seconds: float | None) -> None:
    """An executor's track record: a handed-in phase that passed its gate (and how long it
    took) or failed it."""
    with connection.cursor() as cursor:
        if passed:
            cursor.execute(COUNT_PASSED, [seconds or 0.0, executor_id])
        else:
            cursor.execute(COUNT_FAILED, [executor_id])


def executor_count_phase_sql(
    *, executor_id: str, passed: bool, seconds: float | None, when: str = "TRUE"
) -> tuple[str, list[Any]]:
    """`executor_count_phase` as a statement and its parameters, made only where the SQL
    condition `when` holds (inside a hand-in's one statement: where its intent was written,
    intents/services/hotpath.py)."""
    if passed:
        return f"{COUNT_PASSED} AND ({when})", [seconds or 0.0, executor_id]
    return f"{COUNT_FAILED} AND ({when})", [executor_id]

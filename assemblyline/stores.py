"""The settings' database and Redis entries (DATABASES, CHANNEL_LAYERS, CACHES), built from
their URLs: PostgreSQL or the embedded SQLite, Redis (directly or through Sentinel) or
in-process memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from assemblyline.env import envbool, envfloat, envint


def databases(database_url: str, var_dir: Path) -> dict[str, dict[str, Any]]:
    """PostgreSQL at DATABASE_URL; without it, SQLite under VAR_DIR."""
    if not database_url:
        var_dir.mkdir(parents=True, exist_ok=True)
        return {
            "default": {
                "ENGINE": "django_prometheus.db.backends.sqlite3",
                "NAME": str(var_dir / "assembly-line.sqlite3"),
                # SQLite allows one writer: wait for the lock instead of failing at once.
                "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
            }
        }
    default: dict[str, Any] = dict(dj_database_url.parse(database_url))
    default.setdefault("OPTIONS", {})
    if default["ENGINE"] == "django.db.backends.postgresql":
        # django-prometheus's wrapper of the same backend: query and connection metrics.
        default["ENGINE"] = "django_prometheus.db.backends.postgresql"
        # A lost PostgreSQL connection must fail fast (503), not hang the request.
        default["OPTIONS"].setdefault("connect_timeout", 5)
        # Under ASGI every request runs in its own thread, so persistent per-thread
        # connections would pile up: a psycopg pool per process instead (Django 5.1+).
        if envbool("DB_POOL", True):
            default["OPTIONS"]["pool"] = {
                "min_size": envint("DB_POOL_MIN", 2),
                "max_size": envint("DB_POOL_MAX", 20),
                "timeout": envfloat("DB_POOL_TIMEOUT", 10.0),
            }
        else:
            default["CONN_HEALTH_CHECKS"] = True
    return {"default": default}


def redis_db(redis_url: str) -> str:
    return urlparse(redis_url).path.strip("/") or "0"


def redis_backends(
    redis_url: str, host: str | dict[str, object]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """CHANNEL_LAYERS and CACHES on Redis: `host` is the URL, or Sentinel's description of the
    primary (the cache then takes its pool from the sentinels, core/runtime/cache.py)."""
    # Redis pub/sub channels are shared by all of a server's databases: the prefix carries the
    # database number, so two lines on one Redis (say tests and a benchmark) never cross-talk.
    channel_layers = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [host], "prefix": f"assemblyline.{redis_db(redis_url)}"},
        }
    }
    caches = {
        "default": {
            "BACKEND": "core.runtime.cache.ProcessRedisCache",
            "LOCATION": redis_url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    return channel_layers, caches


def sentinel_addresses(entries: list[str]) -> list[tuple[str, int]]:
    """REDIS_SENTINELS' `host:port` entries (IPv6 hosts in brackets)."""
    addresses = []
    for entry in entries:
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit():
            raise ImproperlyConfigured(f"REDIS_SENTINELS wants host:port,..., not {entry!r}")
        addresses.append((host.strip("[]"), int(port)))
    return addresses


def sentinel_primary(
    redis_url: str, sentinels: list[tuple[str, int]], master: str, password: str
) -> dict[str, object]:
    """One description of the primary the sentinels name: the channel layer's host entry, and
    the app's own pools (core/redis_clients.py) take it too. From REDIS_URL only the password
    and the database number are used."""
    url = urlparse(redis_url)
    primary: dict[str, object] = {
        "sentinels": sentinels,
        "master_name": master,
        "db": int(redis_db(redis_url)),
        "socket_connect_timeout": 0.5,
        "sentinel_kwargs": {
            "socket_connect_timeout": 0.5,
            "socket_timeout": 0.5,
            **({"password": password} if password else {}),
        },
    }
    if url.password:
        primary["password"] = unquote(url.password)
    if url.username:
        primary["username"] = unquote(url.username)
    return primary

"""Typed readers of environment variables for the settings: unset or empty gives the default,
a value that does not parse raises ImproperlyConfigured naming the variable."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


def envfloat(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def envlist(name: str, default: list[str]) -> list[str]:
    """Comma-separated; unset or empty → the default; `none` → an empty list."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.strip().lower() == "none":
        return []
    return [item.strip() for item in value.split(",") if item.strip()]


def envmap(name: str, default: dict[str, str]) -> dict[str, str]:
    """`key:value,key:value` → dict, e.g. PHASE_ROUTING=build:local,test:server."""
    value = os.environ.get(name)
    if value is None:
        return default
    pairs = [item.split(":", 1) for item in value.split(",") if item.strip()]
    if any(len(pair) != 2 for pair in pairs):
        raise ImproperlyConfigured(f"{name} must look like key:value,key:value, not {value!r}")
    return {key.strip(): val.strip() for key, val in pairs}

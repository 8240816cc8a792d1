"""The platform's SERVICE_REGISTRY.json (DESIGN §8): find a service in it, and create or update
our own entry in place, keeping every other entry as it is, written atomically (a temporary
file in the same directory, then os.replace)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import structlog
from django.conf import settings
from django.utils import timezone

log = structlog.get_logger("assemblyline.registry")

REGISTRY_VERSION = "1.0"


def read(path: str | Path) -> dict[str, Any]:
    """The registry as a dict; a missing file is an empty registry."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"registry_version": REGISTRY_VERSION, "services": []}
    if not isinstance(data, dict) or not isinstance(data.get("services", []), list):
        raise ValueError(f"{path}: not a service registry (an object with a services list)")
    data.setdefault("services", [])
    return data


def find(name: str, path: str | None = None) -> dict[str, Any] | None:
    path = path if path is not None else settings.SERVICE_REGISTRY_PATH
    if not path:
        return None
    for entry in read(path)["services"]:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    return None


def service_url(entry: dict[str, Any]) -> str:
    return str(entry.get("url_production") or entry.get("url_local") or "").rstrip("/")


def our_entry(status: str = "active") -> dict[str, Any]:
    now = timezone.now().isoformat()
    return {
        "name": settings.SERVICE_NAME,
        "description": settings.SERVICE_DESCRIPTION,
        "status": status,
        "port": settings.SERVICE_PORT,
        "url_local": settings.SERVICE_URL_LOCAL,
        "url_production": settings.SERVICE_URL_PRODUCTION,
        "tech_stack": ["python", "django", "channels", "postgresql", "redis"],
        "dependencies": ["postgresql", "redis"],
        "created_at": now,
        "last_deployed": now,
        "version": settings.SERVICE_VERSION,
    }


def register(path: str | Path, entry: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Create or update `entry` (by name) in the registry at `path`. An existing entry keeps
    its created_at and any field we do not set. Returns (the entry written, created?)."""
    path = Path(path)
    data = read(path)
    services = data["services"]
    created = True
    for index, existing in enumerate(services):
        if isinstance(existing, dict) and existing.get("name") == entry["name"]:
            merged = {
                **existing,
                **entry,
                "created_at": existing.get("created_at", entry["created_at"]),
            }
            services[index] = merged
            entry, created = merged, False
            break
    else:
        services.append(entry)
    data["registry_version"] = data.get("registry_version", REGISTRY_VERSION)
    data["last_updated"] = timezone.now().isoformat()
    data["total_services"] = len(services)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".registry-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return entry, created


def register_on_start() -> None:
    """The start-up option: never stops the service from starting, says why it failed."""
    if not (settings.REGISTER_ON_START and settings.SERVICE_REGISTRY_PATH):
        return
    try:
        entry, created = register(settings.SERVICE_REGISTRY_PATH, our_entry())
    except (OSError, ValueError) as exc:
        log.warning("registry_failed", path=settings.SERVICE_REGISTRY_PATH, error=str(exc))
        return
    log.info(
        "registered",
        path=settings.SERVICE_REGISTRY_PATH,
        created=created,
        url_local=entry["url_local"],
    )

"""Patches of frameworks' private parts, one module each. Each names the versions it was
written for (WRITTEN_FOR: distribution → "major.minor"); `check_versions()` runs at start-up
(assemblyline/serve.py, assemblyline/asgi.py) and refuses to start on other versions, so an
upgrade is a decision to re-read the patch, not a surprise. tests/ops/test_runtime.py holds a
test per patch that fails if it stops working."""

from __future__ import annotations

from importlib.metadata import version

from django.core.exceptions import ImproperlyConfigured

from core.runtime import asgi, autobahn_log, cache, channels_group, channels_session, cycles

PATCHES = (asgi, autobahn_log, cache, channels_group, channels_session, cycles)


def mismatches() -> list[str]:
    """Each patch whose framework is not at the version it was written for."""
    found = []
    for module in PATCHES:
        for distribution, written_for in module.WRITTEN_FOR.items():
            installed = ".".join(version(distribution).split(".")[:2])
            if installed != written_for:
                found.append(
                    f"{module.__name__} was written for {distribution} {written_for}; "
                    f"{installed} is installed"
                )
    return found


def check_versions() -> None:
    found = mismatches()
    if found:
        raise ImproperlyConfigured(
            "; ".join(found) + ": re-read the patch, then update its WRITTEN_FOR"
        )

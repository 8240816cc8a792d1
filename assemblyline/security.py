"""The settings' security pieces that are more than a value (docs/security.md): the embedded
default's secret key and the Content-Security-Policy."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

# Scripts only from our own origin, so text an intent carries can never run as code. Inline
# styles stay allowed: the admin and Swagger UI use them, and they cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}


def secret_key(*, configured: str, database_url: str, var_dir: Path) -> str:
    """SECRET_KEY as configured; a deployment (it has a database of its own) must never run on
    a key anyone can read, and the embedded default makes its own."""
    if configured:
        return configured
    if database_url:
        raise SystemExit(
            "unified-assembly-line: SECRET_KEY is not set; with DATABASE_URL set it is required "
            "(make one: python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    return embedded_secret_key(var_dir / "secret_key")


def embedded_secret_key(path: Path) -> str:
    """The embedded default's key: made once at random and kept in VAR_DIR (mode 0600), so
    sessions survive a restart and no two installations share a key. Two processes starting
    at once agree: the first file linked into place wins."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(50))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = path.read_text().strip()
    if not key:
        raise ImproperlyConfigured(f"{path} is empty: delete it and a new key is made")
    return key

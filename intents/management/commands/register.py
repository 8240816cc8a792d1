"""`python manage.py register [--path FILE]`: create or update this service's entry in the
platform's SERVICE_REGISTRY.json, in place, keeping every other entry; written atomically."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core import registry


class Command(BaseCommand):
    help = "Register this service in the platform's SERVICE_REGISTRY.json."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--path",
            default=settings.SERVICE_REGISTRY_PATH,
            help="the registry file (default: SERVICE_REGISTRY_PATH)",
        )
        parser.add_argument("--status", default="active")
        parser.add_argument("--url-local", default=settings.SERVICE_URL_LOCAL)
        parser.add_argument("--url-production", default=settings.SERVICE_URL_PRODUCTION)

    def handle(
        self,
        *args: Any,
        path: str,
        status: str,
        url_local: str,
        url_production: str,
        **options: Any,
    ) -> None:
        if not path:
            raise CommandError("no registry: give --path or set SERVICE_REGISTRY_PATH")
        entry = {
            **registry.our_entry(status),
            "url_local": url_local,
            "url_production": url_production,
        }
        try:
            written, created = registry.register(path, entry)
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot register in {path}: {exc}") from exc
        verb = "created" if created else "updated"
        self.stdout.write(f"{verb} {written['name']} in {path}")

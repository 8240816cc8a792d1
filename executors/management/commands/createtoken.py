"""python manage.py createtoken --role ROLE [--executor-id ID] ...: prints the token alone."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from executors.models import ExecutorEnvironment, ExecutorType, Role
from executors.services import executor_provide, token_create


class Command(BaseCommand):
    help = "Create an API token (and, for executor tokens, the executor). Prints the token."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--executor-id", default=None)
        parser.add_argument("--environment", choices=ExecutorEnvironment.values, default=None)
        parser.add_argument("--executor-type", choices=ExecutorType.values, default=None)
        parser.add_argument("--capabilities", default="", help="comma-separated")
        parser.add_argument("--max-concurrent", type=int, default=None)
        parser.add_argument("--name", default=None, help="a label for the token")

    def handle(self, *args: Any, **options: Any) -> None:
        role = options["role"]
        executor_id = options["executor_id"]
        if role == Role.EXECUTOR and not executor_id:
            raise CommandError("--executor-id is required for an executor token")
        if role != Role.EXECUTOR and executor_id:
            raise CommandError("--executor-id goes with --role executor only")
        with transaction.atomic():
            executor = None
            if executor_id:
                defaults: dict[str, Any] = {}
                for key in ("environment", "executor_type", "max_concurrent"):
                    if options[key] is not None:
                        defaults[key] = options[key]
                if options["executor_type"] is None and options["environment"] == "server":
                    defaults["executor_type"] = ExecutorType.SERVER_AI
                if options["capabilities"]:
                    defaults["capabilities"] = sorted(
                        {c.strip() for c in options["capabilities"].split(",") if c.strip()}
                    )
                executor, _ = executor_provide(executor_id=executor_id, fields=defaults)
            name = options["name"] or executor_id or f"{role}-token"
            _, token = token_create(name=name, role=role, executor=executor)
        self.stdout.write(token)

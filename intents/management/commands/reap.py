"""`python manage.py reap [--loop]`: one reaper pass (or the loop) outside the server."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from intents.reaper import reap_single_flight


class Command(BaseCommand):
    help = "Re-queue work whose lease lapsed, announce lost executors, run the stall/SLA sweeps."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="keep reaping until stopped")
        parser.add_argument(
            "--interval",
            type=float,
            default=settings.REAPER_INTERVAL_SECONDS,
            help="seconds between passes with --loop",
        )

    def handle(self, *args: Any, loop: bool, interval: float, **options: Any) -> None:
        while True:
            result = reap_single_flight()
            if result.skipped:
                self.stdout.write("another process is reaping; skipped")
            else:
                self.stdout.write(
                    f"re-queued {result.requeued_count}, offline {len(result.offline)}, "
                    f"stalled {len(result.sweep.stalled)}, "
                    f"review overdue {len(result.sweep.overdue)}"
                )
            if not loop:
                return
            time.sleep(interval)

"""Tuning of a serving process, called by the serve entry point (assemblyline/serve.py) after
the application is imported, never at import."""

from __future__ import annotations

import gc
import sys

from django.conf import settings

from core.runtime.autobahn_log import plain_highlights


def tune_process() -> None:
    """Freeze what start-up made and collect the young generation less often (the ORM
    allocates a lot per request; frequent collections stalled the event loop); shorten the GIL
    switch interval so the loop gets the interpreter back sooner; no colouring of autobahn's
    unlogged debug lines (core/runtime/autobahn_log.py). Measurements: docs/performance.md."""
    gc.freeze()
    gc.set_threshold(settings.GC_GEN0_THRESHOLD, 20, 20)
    if settings.GIL_SWITCH_SECONDS:
        sys.setswitchinterval(settings.GIL_SWITCH_SECONDS)
    plain_highlights()

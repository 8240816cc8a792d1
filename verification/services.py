"""The verification app's writes: its record of runs. The gates (intents) call these."""

from __future__ import annotations

from typing import Any

from verification.models import VerificationRun


def verification_run(
    *, intent_id: str, phase: str, level: int, passed: bool, checks: dict[str, Any], gate: bool
) -> VerificationRun:
    """A run's record, not saved yet (a hand-in on PostgreSQL writes it in its one statement:
    intents/services/hotpath.py)."""
    return VerificationRun(
        intent_id=intent_id, phase=phase, level=level, passed=passed, checks=checks, gate=gate
    )


def verification_run_record(run: VerificationRun) -> VerificationRun:
    """Store a run's record."""
    run.save(force_insert=True)
    return run

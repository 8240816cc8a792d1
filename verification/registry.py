"""The checker registry: ASSEMBLY_LINE_VERIFIERS loaded like AUTH_PASSWORD_VALIDATORS."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from verification import egress
from verification.base import Checker, CheckResult

if TYPE_CHECKING:
    from intents.models import Intent

LEVELS: list[str | int] = ["spec", 1, 2, 3, 4, 5, 6]


@functools.cache
def get_checkers() -> tuple[Checker, ...]:
    checkers = []
    for entry in settings.ASSEMBLY_LINE_VERIFIERS:
        try:
            cls = import_string(str(entry["NAME"]))
        except ImportError as exc:
            raise ImproperlyConfigured(f"verifier {entry.get('NAME')!r}: {exc}") from exc
        level = entry.get("LEVEL")
        if level not in LEVELS:
            raise ImproperlyConfigured(f"verifier {entry['NAME']}: LEVEL must be one of {LEVELS}")
        options: dict[str, Any] = dict(entry.get("OPTIONS") or {})  # type: ignore[call-overload]
        checkers.append(cls(level=level, **options))
    return tuple(checkers)


@receiver(setting_changed)
def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting == "ASSEMBLY_LINE_VERIFIERS":
        get_checkers.cache_clear()


@dataclass
class VerificationOutcome:
    passed: bool
    # The highest numeric level asked for (0 when only the spec check ran).
    level: int
    # The numeric levels asked for whose blocking checks all passed (vacuously when a level
    # has no checker registered).
    levels_passed: list[int] = field(default_factory=list)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def quality_score(self) -> float | None:
        if not self.checks:
            return None
        return sum(1 for c in self.checks.values() if c["passed"]) / len(self.checks)

    @property
    def failures(self) -> dict[str, str]:
        return {
            name: c["detail"]
            for name, c in self.checks.items()
            if not c["passed"] and c["blocking"]
        }

    def verified_level(self, previous: int) -> int:
        """The highest level passed in an unbroken run from level 1, given the level the
        intent had already reached before this run."""
        reached = previous
        for level in sorted(self.levels_passed):
            if level <= reached + 1:
                reached = max(reached, level)
        return reached


def run_levels(
    intent: Intent, artifacts: dict[str, Any], levels: list[str | int]
) -> VerificationOutcome:
    """Run every registered check of the given levels against the intent and its artifacts
    (the merged artifacts, including what is being handed in). No lock may be held here:
    checks may make network calls."""
    checks: dict[str, dict[str, Any]] = {}
    failed_levels: set[int] = set()
    # One deadline for every live request of this run: later checks fail fast once it passed.
    with egress.deadline(
        settings.LIVE_CHECK_DEADLINE, f"LIVE_CHECK_DEADLINE ({settings.LIVE_CHECK_DEADLINE:g} s)"
    ):
        results = [
            (checker, _run_one(checker, intent, artifacts))
            for checker in get_checkers()
            if checker.level in levels
        ]
    for checker, result in results:
        checks[checker.name] = {
            "passed": result.passed,
            "detail": result.detail,
            "level": checker.level,
            "blocking": checker.blocking,
        }
        if isinstance(checker.level, int) and not result.passed and checker.blocking:
            failed_levels.add(checker.level)
    numeric = sorted(lv for lv in levels if isinstance(lv, int))
    return VerificationOutcome(
        passed=all(c["passed"] or not c["blocking"] for c in checks.values()),
        level=max(numeric, default=0),
        levels_passed=[lv for lv in numeric if lv not in failed_levels],
        checks=checks,
    )


def _run_one(checker: Checker, intent: Intent, artifacts: dict[str, Any]) -> CheckResult:
    try:
        return checker.run(intent, artifacts)
    except Exception as exc:  # a broken checker fails its check, never the request
        return CheckResult(False, f"checker error: {type(exc).__name__}: {exc}")


def gate_levels(phase: str) -> list[str | int]:
    return list(settings.ASSEMBLY_LINE_GATES.get(phase, []))

"""Checks that judge what the executor reported in its artifacts (levels 3, 4 and 5)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from verification.base import Checker, CheckResult

if TYPE_CHECKING:
    from intents.models import Intent


def _report(artifacts: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = artifacts.get(key)
    return value if isinstance(value, dict) else None


def _number(report: dict[str, Any], key: str) -> float | None:
    value = report.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    # NaN compares false with every bound, so it would pass them all: not a number here.
    return number if math.isfinite(number) else None


class TestCoverageCheck(Checker):
    """Level 3: tests ran, none failed, coverage above the threshold."""

    __test__ = False  # not a pytest test class
    name = "test_coverage"

    def run(self, intent: Intent, artifacts: dict[str, Any]) -> CheckResult:
        results = _report(artifacts, "test_results")
        if results is None:
            return CheckResult(False, "no test_results reported")
        passed, failed, coverage = (_number(results, k) for k in ("passed", "failed", "coverage"))
        min_coverage = float(self.options.get("min_coverage", 80.0))
        if passed is None or failed is None or coverage is None:
            return CheckResult(False, "test_results needs numeric passed, failed and coverage")
        if passed <= 0:
            return CheckResult(False, "no test passed")
        if failed > 0:
            return CheckResult(False, f"{failed:g} test(s) failed")
        if coverage <= min_coverage:
            return CheckResult(False, f"coverage {coverage:g}% is not above {min_coverage:g}%")
        return CheckResult(True, f"{passed:g} passed, 0 failed, coverage {coverage:g}%")


class CodeQualityCheck(Checker):
    """Level 4: the quality report; findings are warnings unless configured to block."""

    name = "code_quality"

    def __init__(self, **options: Any) -> None:
        options.setdefault("blocking", False)
        super().__init__(**options)

    def run(self, intent: Intent, artifacts: dict[str, Any]) -> CheckResult:
        report = _report(artifacts, "quality")
        if report is None:
            return CheckResult(False, "no quality report")
        lint, types = _number(report, "lint_errors"), _number(report, "type_errors")
        if lint is None or types is None:
            return CheckResult(False, "quality needs numeric lint_errors and type_errors")
        warnings = report.get("warnings") or []
        findings = []
        if lint:
            findings.append(f"{lint:g} lint error(s)")
        if types:
            findings.append(f"{types:g} type error(s)")
        if warnings:
            findings.append(f"{len(warnings)} warning(s)")
        if findings:
            return CheckResult(False, ", ".join(findings))
        return CheckResult(True, "no lint or type errors, no warnings")


class SecurityScanCheck(Checker):
    """Level 5 (reported part): no high-severity finding and no secret in the scan."""

    name = "security_scan"

    def run(self, intent: Intent, artifacts: dict[str, Any]) -> CheckResult:
        report = _report(artifacts, "security")
        if report is None:
            return CheckResult(False, "no security scan reported")
        high, secrets = _number(report, "high"), _number(report, "secrets")
        if high is None or secrets is None:
            return CheckResult(False, "security needs numeric high and secrets")
        if high or secrets:
            return CheckResult(False, f"{high:g} high-severity finding(s), {secrets:g} secret(s)")
        medium, low = report.get("medium", 0), report.get("low", 0)
        return CheckResult(True, f"no high finding, no secret ({medium} medium, {low} low)")

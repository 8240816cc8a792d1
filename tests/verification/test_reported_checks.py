"""The checks of reported data: the spec (inline and files under SPECS_ROOT, one failing case
per missing section) and levels 3, 4 and 5 at, above and below their thresholds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from intents.models import Intent
from tests.conftest import SPEC_OK
from verification.checks.reported import CodeQualityCheck, SecurityScanCheck, TestCoverageCheck
from verification.checks.spec import SpecCompleteCheck

SECTIONS = ["Purpose", "Requirements", "API Specs", "Dependencies", "Success Criteria"]


def spec_check() -> SpecCompleteCheck:
    return SpecCompleteCheck(level="spec", required_sections=SECTIONS)


def without_section(section: str) -> str:
    lines, skipping = [], False
    for line in SPEC_OK.splitlines():
        if line.startswith("## "):
            skipping = line[3:].strip() == section
        if not skipping:
            lines.append(line)
    return "\n".join(lines) + "\n- [ ] still has a criterion\n**GET /health**\n"


def test_a_complete_spec_file_passes(settings: Any) -> None:
    result = spec_check().run(Intent(id="i", spec_path="demo.md"), {})
    assert result.passed, result.detail
    assert result.detail.startswith("file demo.md")


@pytest.mark.parametrize("section", SECTIONS)
def test_each_missing_section_fails_from_a_file(settings: Any, section: str) -> None:
    (Path(settings.SPECS_ROOT) / "partial.md").write_text(without_section(section))
    result = spec_check().run(Intent(id="i", spec_path="partial.md"), {})
    assert not result.passed
    assert f"missing sections: {section}" in result.detail


def test_spec_needs_an_endpoint_and_checkbox_criteria() -> None:
    text = SPEC_OK.replace("**GET /health**", "").replace("**GET /hello**", "")
    text = text.replace("- [ ]", "-")
    result = spec_check().run(Intent(id="i", spec_text=text), {})
    assert not result.passed
    assert "no endpoint documented" in result.detail
    assert "no checkbox success criteria" in result.detail


@pytest.mark.parametrize(
    ("spec_path", "expected"),
    [
        ("nope.md", "not found under SPECS_ROOT"),
        ("../../etc/passwd", "leaves SPECS_ROOT"),
        ("", "no spec_text and no spec_path"),
    ],
)
def test_spec_file_problems_are_explained(spec_path: str, expected: str) -> None:
    result = spec_check().run(Intent(id="i", spec_path=spec_path or None), {})
    assert not result.passed
    assert expected in result.detail


def test_inline_spec_text_in_artifacts_wins() -> None:
    result = spec_check().run(Intent(id="i", spec_path="nope.md"), {"spec_text": SPEC_OK})
    assert result.passed, result.detail


@pytest.mark.parametrize(
    ("report", "passed", "detail"),
    [
        ({"passed": 10, "failed": 0, "coverage": 80.1}, True, "coverage 80.1%"),
        ({"passed": 10, "failed": 0, "coverage": 80.0}, False, "is not above 80%"),
        ({"passed": 10, "failed": 0, "coverage": 79.9}, False, "is not above 80%"),
        ({"passed": 10, "failed": 1, "coverage": 95}, False, "1 test(s) failed"),
        ({"passed": 0, "failed": 0, "coverage": 95}, False, "no test passed"),
        ({"passed": "10", "failed": 0, "coverage": 95}, False, "numeric"),
        (None, False, "no test_results reported"),
    ],
)
def test_level_3_thresholds(report: Any, passed: bool, detail: str) -> None:
    artifacts = {} if report is None else {"test_results": report}
    result = TestCoverageCheck(level=3, min_coverage=80).run(Intent(id="i"), artifacts)
    assert result.passed is passed
    assert detail in result.detail


def test_level_3_threshold_is_an_option() -> None:
    report = {"test_results": {"passed": 3, "failed": 0, "coverage": 70}}
    assert TestCoverageCheck(level=3, min_coverage=60).run(Intent(id="i"), report).passed
    assert not TestCoverageCheck(level=3, min_coverage=70).run(Intent(id="i"), report).passed


@pytest.mark.parametrize(
    ("report", "passed", "detail"),
    [
        ({"lint_errors": 0, "type_errors": 0, "warnings": []}, True, "no lint"),
        ({"lint_errors": 1, "type_errors": 0}, False, "1 lint error(s)"),
        (
            {"lint_errors": 0, "type_errors": 2, "warnings": ["w"]},
            False,
            "2 type error(s), 1 warning(s)",
        ),
        (None, False, "no quality report"),
    ],
)
def test_level_4_findings_warn_unless_configured_to_block(
    report: Any, passed: bool, detail: str
) -> None:
    artifacts = {} if report is None else {"quality": report}
    warning = CodeQualityCheck(level=4)
    assert warning.blocking is False
    result = warning.run(Intent(id="i"), artifacts)
    assert result.passed is passed and detail in result.detail
    assert CodeQualityCheck(level=4, blocking=True).blocking is True


@pytest.mark.parametrize(
    ("report", "passed", "detail"),
    [
        ({"high": 0, "medium": 2, "low": 5, "secrets": 0}, True, "2 medium, 5 low"),
        ({"high": 1, "medium": 0, "low": 0, "secrets": 0}, False, "1 high-severity"),
        ({"high": 0, "medium": 0, "low": 0, "secrets": 1}, False, "1 secret(s)"),
        ({"high": None, "secrets": 0}, False, "numeric"),
        (None, False, "no security scan reported"),
    ],
)
def test_level_5_reported_scan(report: Any, passed: bool, detail: str) -> None:
    artifacts = {} if report is None else {"security": report}
    result = SecurityScanCheck(level=5).run(Intent(id="i"), artifacts)
    assert result.passed is passed and detail in result.detail

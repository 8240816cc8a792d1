"""The Assembly Line SOP's spec-completeness check: the gate out of SPEC."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.conf import settings

from verification.base import Checker, CheckResult, Subject

ENDPOINT = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE)\s+/\S*")
CHECKBOX = re.compile(r"^\s*[-*]\s+\[[ xX]\]", re.MULTILINE)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def read_spec(intent: Subject, artifacts: dict[str, Any]) -> tuple[str | None, str]:
    """The spec text and where it came from: inline text first, then SPECS_ROOT/spec_path."""
    inline = artifacts.get("spec_text") or intent.spec_text
    if inline:
        return str(inline), "inline spec_text"
    if not intent.spec_path:
        return None, "no spec_text and no spec_path"
    root = Path(settings.SPECS_ROOT).resolve()
    path = (root / intent.spec_path).resolve()
    if not path.is_relative_to(root):
        return None, f"spec_path {intent.spec_path!r} leaves SPECS_ROOT"
    try:
        return path.read_text(encoding="utf-8"), f"file {intent.spec_path}"
    except FileNotFoundError:
        return None, f"spec file {intent.spec_path!r} not found under SPECS_ROOT"
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"spec file {intent.spec_path!r} unreadable: {exc}"


class SpecCompleteCheck(Checker):
    """The spec has the SOP's sections, documents an endpoint and has checkbox criteria."""

    name = "spec_complete"

    def run(self, intent: Subject, artifacts: dict[str, Any]) -> CheckResult:
        text, source = read_spec(intent, artifacts)
        if text is None:
            return CheckResult(False, source)
        headings = [h.strip().lower() for h in HEADING.findall(text)]
        required = self.options.get("required_sections", [])
        missing = [
            section
            for section in required
            if not any(h == section.lower() or h.startswith(section.lower()) for h in headings)
        ]
        problems = []
        if missing:
            problems.append("missing sections: " + ", ".join(missing))
        if not ENDPOINT.search(text):
            problems.append("no endpoint documented (e.g. 'GET /health')")
        if not CHECKBOX.search(text):
            problems.append("no checkbox success criteria ('- [ ] ...')")
        if problems:
            return CheckResult(False, f"{source}: " + "; ".join(problems))
        return CheckResult(True, f"{source}: all {len(required)} sections, endpoints, criteria")

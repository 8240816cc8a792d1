"""What a checker is: a small class with a name, a level and `run(intent, artifacts)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol


class Subject(Protocol):
    """What a check reads of the intent it judges (verification sits below intents)."""

    spec_path: str
    spec_text: str


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    detail: str


class Checker:
    """Base class of every check. Options come from the settings entry's OPTIONS."""

    name: ClassVar[str] = ""
    # Set from the settings entry: "spec" or 1..6.
    level: str | int = 0
    # A non-blocking check is reported but does not stop the gate (level 4 by default).
    blocking: bool = True

    def __init__(self, *, level: str | int, blocking: bool = True, **options: Any) -> None:
        self.level = level
        self.blocking = blocking
        self.options = options

    def run(self, intent: Subject, artifacts: dict[str, Any]) -> CheckResult:
        raise NotImplementedError

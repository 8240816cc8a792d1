"""Typed views of the API's answers. Each keeps the full JSON in `raw` (the API adds fields
over time; nothing is lost)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Intent:
    id: str
    title: str
    status: str
    current_phase: str
    priority: int
    attempts: int
    assigned_to: str | None
    verification_level: int
    spec_text: str | None
    artifacts: dict[str, Any]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Intent:
        return cls(
            id=data["id"],
            title=data.get("title", ""),
            status=data["status"],
            current_phase=data["current_phase"],
            priority=int(data.get("priority", 5)),
            attempts=int(data.get("attempts", 0)),
            assigned_to=data.get("assigned_to"),
            verification_level=int(data.get("verification_level") or 0),
            spec_text=data.get("spec_text"),
            artifacts=dict(data.get("artifacts") or {}),
            raw=data,
        )


@dataclass(frozen=True)
class Work:
    """What `next_work` got: an intent and its handoff, or nothing and why."""

    assigned: bool
    intent: Intent | None
    handoff: dict[str, Any]
    reason: str
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Work:
        intent = Intent.from_json(data["intent"]) if data.get("assigned") else None
        return cls(
            bool(data.get("assigned")),
            intent,
            dict(data.get("handoff") or {}),
            str(data.get("reason", "")),
            data,
        )


@dataclass(frozen=True)
class Submitted:
    intent_id: str
    status: str
    current_phase: str
    estimated_start: str
    replayed: bool
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Completion:
    completed: bool
    auto_advanced: bool
    next_phase: str
    status: str
    gate: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Completion:
        return cls(
            bool(data["completed"]),
            bool(data["auto_advanced"]),
            data["next_phase"],
            data.get("status", ""),
            data.get("gate"),
            data,
        )


@dataclass(frozen=True)
class Verification:
    passed: bool
    level: int
    checks: dict[str, dict[str, Any]]
    can_advance: bool
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verification:
        return cls(
            bool(data["passed"]),
            int(data["level"]),
            dict(data["checks"]),
            bool(data["can_advance"]),
            data,
        )

"""The API's operations, each described once (a `Call`: what it sends and how its answer is
read), and what the sync and async clients share: settings, headers, backoff, the stream's
frames."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from assembly_line_client import errors
from assembly_line_client.models import Completion, Intent, Submitted, Verification, Work

T = TypeVar("T")
USER_AGENT = "assembly-line-client/1.0"


@dataclass
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, Any] | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None


def _json(response: httpx.Response) -> Any:
    return response.json()


def _submitted(response: httpx.Response) -> Submitted:
    data = response.json()
    return Submitted(
        data["intent_id"],
        data["status"],
        data.get("current_phase", ""),
        data.get("estimated_start", ""),
        response.headers.get("Idempotent-Replayed") == "true",
        data,
    )


def _work(response: httpx.Response) -> Work:
    return Work.from_json(response.json())


def _completion(response: httpx.Response) -> Completion:
    return Completion.from_json(response.json())


def _verification(response: httpx.Response) -> Verification:
    return Verification.from_json(response.json())


def _intent(response: httpx.Response) -> Intent:
    return Intent.from_json(response.json())


class Calls:
    """What each API operation sends and how its answer is read."""

    @staticmethod
    def submit(
        title: str,
        *,
        spec_path: str | None = None,
        spec_text: str | None = None,
        priority: int = 5,
        environment_preference: str = "either",
        requires_human_review: bool = False,
        required_capabilities: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> Call[Submitted]:
        body: dict[str, Any] = {
            "title": title,
            "priority": priority,
            "environment_preference": environment_preference,
            "requires_human_review": requires_human_review,
        }
        if spec_path:
            body["spec_path"] = spec_path
        if spec_text:
            body["spec_text"] = spec_text
        if required_capabilities:
            body["required_capabilities"] = required_capabilities
        # Retrying a submit is safe: the key makes the service answer the first result.
        key = idempotency_key or str(uuid.uuid4())
        return Call(
            "POST", "/assembly-line/intent", _submitted, body=body, headers={"Idempotency-Key": key}
        )

    @staticmethod
    def register(executor_id: str, **details: Any) -> Call[dict[str, Any]]:
        body = {"executor_id": executor_id, **{k: v for k, v in details.items() if v is not None}}
        return Call("POST", "/assembly-line/executors/register", _json, body=body)

    @staticmethod
    def heartbeat(executor_id: str) -> Call[dict[str, Any]]:
        return Call(
            "POST", "/assembly-line/executors/heartbeat", _json, body={"executor_id": executor_id}
        )

    @staticmethod
    def next_work(executor_id: str, wait: float = 0) -> Call[Work]:
        params: dict[str, Any] = {"executor_id": executor_id}
        if wait:
            params["wait"] = wait
        return Call(
            "GET",
            "/assembly-line/work/next",
            _work,
            params=params,
            timeout=wait + 15 if wait else None,
        )

    @staticmethod
    def progress(
        intent_id: str, executor_id: str, phase: str, progress: float, message: str = ""
    ) -> Call[dict[str, Any]]:
        return Call(
            "POST",
            "/assembly-line/work/progress",
            _json,
            body={
                "intent_id": intent_id,
                "executor_id": executor_id,
                "phase": phase,
                "progress": progress,
                "message": message[:500],
            },
        )

    @staticmethod
    def complete(
        intent_id: str,
        executor_id: str,
        artifacts: dict[str, Any] | None = None,
        *,
        status: str = "completed",
        phase: str | None = None,
    ) -> Call[Completion]:
        body: dict[str, Any] = {
            "intent_id": intent_id,
            "executor_id": executor_id,
            "status": status,
            "artifacts": artifacts or {},
        }
        if phase:
            body["phase"] = phase
        return Call("POST", "/assembly-line/work/complete", _completion, body=body, timeout=120)

    @staticmethod
    def release(
        intent_id: str, executor_id: str, *, phase: str | None = None, reason: str = ""
    ) -> Call[dict[str, Any]]:
        body: dict[str, Any] = {
            "intent_id": intent_id,
            "executor_id": executor_id,
            "reason": reason[:500],
        }
        if phase:
            body["phase"] = phase
        return Call("POST", "/assembly-line/work/release", _json, body=body)

    @staticmethod
    def verify(
        intent_id: str, level: int, phase: str, artifacts: dict[str, Any] | None = None
    ) -> Call[Verification]:
        body: dict[str, Any] = {"intent_id": intent_id, "verification_level": level, "phase": phase}
        if artifacts:
            body["artifacts"] = artifacts
        return Call("POST", "/assembly-line/verify", _verification, body=body, timeout=120)

    @staticmethod
    def state() -> Call[dict[str, Any]]:
        return Call("GET", "/assembly-line/state", _json)

    @staticmethod
    def intent(intent_id: str) -> Call[Intent]:
        # Quoted: an id is one path segment ("../state" must not name another endpoint).
        return Call("GET", f"/assembly-line/intents/{quote(intent_id, safe='')}", _intent)

    @staticmethod
    def cancel(intent_id: str, reason: str = "") -> Call[dict[str, Any]]:
        return Call(
            "POST",
            f"/assembly-line/intents/{quote(intent_id, safe='')}/cancel",
            _json,
            body={"reason": reason},
        )


def answer(call: Call[T], response: httpx.Response) -> T:
    if response.is_success:
        return call.parse(response)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    raise errors.from_response(response.status_code, body)


def retryable(response: httpx.Response) -> bool:
    return response.status_code == 503


class ClientBase:
    """What both clients are configured with, and how they retry and reach the stream."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "User-Agent": USER_AGENT}

    def _delay(self, attempt: int) -> float:
        return min(self.max_backoff, self.backoff * 2.0**attempt) * random.uniform(0.5, 1.0)

    def _request_kwargs(self, call: Call[Any]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"params": call.params, "headers": call.headers}
        if call.body is not None:
            kwargs["json"] = call.body
        if call.timeout is not None:
            kwargs["timeout"] = call.timeout
        return kwargs

    def _ws_url(self) -> str:
        # batch=1: events that come together arrive in one frame; `messages` splits them.
        return self.base_url.replace("http", "ws", 1) + "/ws/assembly-line/?batch=1"


def messages(text: str) -> list[dict[str, Any]]:
    """One WebSocket frame as the stream's messages: a `snapshot`, or one `event` message per
    state change (a batched `events` frame is split)."""
    message = json.loads(text)
    if message.get("type") == "events":
        return [{"type": "event", "event": event} for event in message.get("events", [])]
    return [message]

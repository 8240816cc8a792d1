"""One HTTP call of a live check, within the egress policy (verification/egress.py): no
user info in the URL, a time bound from the first byte sent to the last byte read, an answer
of at most MAX_ANSWER_BYTES, and errors quoted only as short escaped excerpts."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from verification import egress

DEFAULT_TIMEOUT = 3.0
# An answer larger than this fails its check; the rest is never read.
MAX_ANSWER_BYTES = 64 * 1024
# The most a check detail quotes of a target's answer.
EXCERPT_CHARS = 200


@dataclass
class Probe:
    """One HTTP call's outcome: the response, or why there is none."""

    response: httpx.Response | None
    error: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.response is not None

    def why(self) -> str:
        return self.error or f"status {self.response.status_code}"  # type: ignore[union-attr]


def short(text: str, limit: int = EXCERPT_CHARS) -> str:
    """`text` escaped (control and non-ASCII characters as \\x.., \\u..) and cut to `limit`
    characters: what a check detail may quote of a target's answer."""
    escaped = ascii(text)[1:-1]
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."


def excerpt(value: Any) -> str:
    """A field of the target's answer as a check detail quotes it: escaped, short."""
    text = ascii(value)
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 3] + "..."


def _read_capped(response: httpx.Response, where: str) -> tuple[bytes | None, str]:
    """The raw answer, read no further than MAX_ANSWER_BYTES, or why it was not read."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        # Decoding a compressed answer could grow it a thousandfold past the cap.
        return None, f"{where}: answer is compressed ({short(encoding, 40)}), identity asked"
    declared = response.headers.get("content-length", "")
    too_big = f"{where}: answer larger than {MAX_ANSWER_BYTES // 1024} KB (not read)"
    if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
        return None, too_big
    body = bytearray()
    for chunk in response.iter_raw():
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            return None, too_big
    return bytes(body), ""


def probe(client: httpx.Client, method: str, url: str, **kwargs: Any) -> Probe:
    """One request within the egress policy (verification/egress.py): no user info, the
    per-request time bound (`client.timeout`, start to last byte) and MAX_ANSWER_BYTES."""
    start = time.perf_counter()
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return Probe(None, f"{method} {short(url, 120)}: invalid URL ({short(str(exc), 80)})", 0.0)
    where = f"{method} {short(str(target.copy_with(userinfo=b'')), 120)}"
    if target.userinfo:
        return Probe(None, f"{where}: user info in the URL is not allowed", 0.0)
    timeout = client.timeout.read or DEFAULT_TIMEOUT
    try:
        with (
            egress.deadline(timeout, f"{timeout:g} s per request"),
            client.stream(method, url, **kwargs) as streamed,
        ):
            body, why = _read_capped(streamed, where)
            if body is None:
                return Probe(None, why, time.perf_counter() - start)
            headers = [
                (k, v) for k, v in streamed.headers.multi_items() if k.lower() != "content-encoding"
            ]
            response = httpx.Response(
                streamed.status_code, headers=headers, content=body, request=streamed.request
            )
    except httpx.ConnectError as exc:
        text = str(exc)
        if "LIVE_CHECK_ALLOW" in text:
            reason = short(text)
        else:
            reason = "refused" if "refused" in text.lower() else f"cannot connect ({short(text)})"
        return Probe(None, f"{where}: {reason}", time.perf_counter() - start)
    except httpx.TimeoutException as exc:
        reason = short(str(exc)) if "passed" in str(exc) else f"timeout after {timeout:g}s"
        return Probe(None, f"{where}: {reason}", time.perf_counter() - start)
    except httpx.HTTPError as exc:
        return Probe(
            None, f"{where}: {type(exc).__name__}: {short(str(exc))}", time.perf_counter() - start
        )
    return Probe(response, "", time.perf_counter() - start)

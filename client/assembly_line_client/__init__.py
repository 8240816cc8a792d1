"""Client library and CLI for unified-assembly-line."""

from assembly_line_client.client import AsyncClient, Client
from assembly_line_client.errors import (
    ApiError,
    Conflict,
    ConnectionFailed,
    Forbidden,
    InvalidInput,
    LineError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
)
from assembly_line_client.models import Completion, Intent, Submitted, Verification, Work

__all__ = [
    "ApiError",
    "AsyncClient",
    "Client",
    "Completion",
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "Intent",
    "InvalidInput",
    "LineError",
    "NotFound",
    "PayloadTooLarge",
    "Submitted",
    "Unauthorized",
    "Unavailable",
    "Verification",
    "Work",
]

"""OpenAPI (drf-spectacular) components every app shares: the one error shape and the error
answers of an endpoint. The apps' answer shapes live beside their views."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(
        help_text="machine-readable, e.g. invalid, not_found, transition_not_allowed"
    )
    message = serializers.CharField()
    status = serializers.IntegerField()
    # DRF's serializer metaclass moves declared fields off the class, so this name does not
    # clash with the base class's attribute of the same name, as the stubs think.
    fields = serializers.DictField(  # type: ignore[assignment]
        required=False, help_text="validation problems by field"
    )
    current = serializers.DictField(required=False, help_text="on 409: the intent's state now")


class ErrorSerializer(serializers.Serializer[Any]):
    error = ErrorDetailSerializer()


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The documented error answers of an endpoint, all in the one error shape."""
    meaning = {
        400: "invalid input (fields says which)",
        401: "no or unknown token",
        403: "the role or executor may not do this",
        404: "no such intent or executor",
        409: "not allowed in the intent's current state (current says what it is)",
        413: "request body too large",
        429: "too many requests (Retry-After says in how many seconds to retry)",
        503: "the database is unavailable",
    }
    if 401 in codes and 429 not in codes:  # where a token is checked, so is the bad-token limit
        meaning[429] = "too many bad tokens from this address; Retry-After says when to retry"
        codes = (*codes, 429)
    return {code: OpenApiResponse(ErrorSerializer, description=meaning[code]) for code in codes}


AUTHED = (400, 401, 403)


def nullable_answer_fields_optional(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Answer fields that may be null are listed as not required (they are always sent).
    OpenAPI 3.0 generators read `nullable` on a required field differently: with default
    options datamodel-code-generator types it as never null and then rejects a real answer
    (`current_work: null` in /state); optional-and-nullable every generator reads as
    "may be null". Request bodies keep their required fields."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") or "required" not in component:
            continue
        nullable = {
            field for field, prop in component.get("properties", {}).items() if prop.get("nullable")
        }
        required = [field for field in component["required"] if field not in nullable]
        if required:
            component["required"] = required
        else:
            del component["required"]
    return result

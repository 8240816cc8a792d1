"""Helpers every API view uses."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


def validate_input(
    serializer_class: type[serializers.Serializer[Any]], data: Any
) -> dict[str, Any]:
    """The serializer's validated data for a JSON object body; a 400 (one error shape) for
    anything else."""
    if not isinstance(data, dict):
        raise serializers.ValidationError({"non_field_errors": ["the body must be a JSON object"]})
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    valid = dict(serializer.validated_data)
    # A serializer and its bound fields point at each other: let them go now, not at the
    # next garbage collection (the fields are made again if asked for).
    serializer.__dict__.pop("fields", None)
    return valid

"""Helpers every API view uses."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from rest_framework import serializers

Fields = dict[str, serializers.Field[Any, Any, Any, Any]]


class FieldsBuiltOnce:
    """A serializer's fields built once per class, and shallow copies for each instance
    (unless it nests serializers). DRF deep-copies every declared field (and a
    ModelSerializer builds them from the model again) for each instance, running each field's
    `__init__` once more: most of a small serializer's CPU on the executor calls
    (docs/performance.md). `bind` then sets what differs per instance on the copy; what the
    copies share (validators, choices, a list's or dict's child) is only read."""

    # Set by get_fields(), in each class's own __dict__.
    _built_fields: ClassVar[Fields]

    def get_fields(self) -> Fields:
        built: Fields | None = type(self).__dict__.get("_built_fields")
        if built is None:
            fresh: Fields = super().get_fields()  # type: ignore[misc]
            if any(isinstance(f, serializers.BaseSerializer) for f in fresh.values()):
                # A nested serializer keeps state of its own (its bound fields): such a
                # class keeps DRF's deep copies, made for each instance.
                return fresh
            built = type(self)._built_fields = fresh
        return {name: copy.copy(field) for name, field in built.items()}


class FlatInputSerializer(FieldsBuiltOnce, serializers.Serializer[Any]):
    """The base of the API's input serializers (flat: no nested serializers)."""


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

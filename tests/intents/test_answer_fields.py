"""An intent's answer (IntentSerializer / IntentFullSerializer) builds its fields once per class
and gives each serializer copies of its own: two answers made side by side, on two threads, are
each their own intent's, field for field as the model holds it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from intents.models import Intent
from intents.serializers import IntentFullSerializer, IntentSerializer

pytestmark = pytest.mark.django_db


def test_each_answer_has_fields_of_its_own_and_says_its_own_intent() -> None:
    first = Intent.objects.create(
        title="first", created_by="user:1", spec_text="a", priority=2, artifacts={"k": 1}
    )
    second = Intent.objects.create(
        title="second", created_by="user:2", spec_text="b", priority=9, phase_progress={"spec": 0.5}
    )
    one, two = IntentFullSerializer(first), IntentFullSerializer(second)
    assert one.fields["title"] is not two.fields["title"]
    assert one.fields["title"].parent is one and two.fields["title"].parent is two
    assert one.fields["assigned_to"].source_attrs == ["assigned_to_id"]

    def answer(intent: Intent) -> dict[str, Any]:
        return dict(IntentFullSerializer(intent).data)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(answer, [first, second] * 50))
    for intent, got in zip([first, second] * 50, answers, strict=True):
        assert (got["id"], got["title"], got["priority"], got["spec_text"]) == (
            intent.id,
            intent.title,
            intent.priority,
            intent.spec_text,
        )
        assert got["artifacts"] == intent.artifacts
        assert got["phase_progress"] == intent.phase_progress
    listed = IntentSerializer([first, second], many=True).data
    assert [row["title"] for row in listed] == ["first", "second"]
    assert "spec_text" not in listed[0]

"""An intent's answer (IntentSerializer / IntentFullSerializer) and the API's input serializers
build their fields once per class and give each serializer copies of its own: two answers made
side by side, on two threads, are each their own intent's, field for field as the model holds
it; two bodies validated side by side each get their own values and their own errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from rest_framework.exceptions import ValidationError

from core.api import validate_input
from intents.apis.executors import ExecutorRegisterApi
from intents.apis.work import WorkCompleteApi, WorkProgressApi
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


def test_each_input_is_validated_with_fields_of_its_own() -> None:
    progress = WorkProgressApi.InputSerializer
    one, two = progress(data={}), progress(data={})
    assert one.fields["progress"] is not two.fields["progress"]
    assert one.fields["progress"].parent is one and two.fields["progress"].parent is two

    def check(n: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "intent_id": f"i-{n}",
            "executor_id": f"e-{n}",
            "phase": ["spec", "build", "test", "production"][n % 4],
            "progress": n / 1000,
        }
        if n % 3 == 0:
            body["progress"] = 1.5 + n  # out of range: this body's own error
        if n % 5 == 0:
            body["message"] = "x" * 501
        try:
            return {"valid": validate_input(progress, body)}
        except ValidationError as exc:
            assert isinstance(exc.detail, dict)
            return {"errors": {k: [str(e) for e in v] for k, v in exc.detail.items()}}

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(check, range(200)))
    for n, got in enumerate(results):
        bad = {k for k, hit in (("progress", n % 3 == 0), ("message", n % 5 == 0)) if hit}
        if not bad:
            assert got["valid"]["intent_id"] == f"i-{n}"
            assert got["valid"]["progress"] == n / 1000
            assert got["valid"]["message"] == ""
        else:
            assert set(got["errors"]) == bad
            if "progress" in bad:
                assert got["errors"]["progress"] == [
                    "Ensure this value is less than or equal to 1.0."
                ]
    # A list's child and a dict field, shared by the copies, still check each body.
    capabilities = ExecutorRegisterApi.InputSerializer
    good = {"executor_id": "e", "environment": "local", "capabilities": ["python", "go"]}
    assert validate_input(capabilities, good)["capabilities"] == ["python", "go"]
    with pytest.raises(ValidationError) as bad_child:
        validate_input(capabilities, {**good, "capabilities": ["python", "x" * 500]})
    assert "capabilities" in bad_child.value.detail
    complete = {"intent_id": "i", "executor_id": "e", "status": "completed", "phase": "spec"}
    assert validate_input(WorkCompleteApi.InputSerializer, complete)["artifacts"] == {}

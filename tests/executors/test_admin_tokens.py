"""A token made in Django admin: shown once, stored as a prefix and a hash, and it works."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.test import Client
from rest_framework.test import APIClient

from executors.models import ApiToken

pytestmark = pytest.mark.django_db


def test_a_token_added_in_admin_is_shown_once_and_authenticates(db: Any) -> None:
    user = get_user_model().objects.create_superuser("ada", "ada@example.com", "pw")
    admin = Client()
    admin.force_login(user)
    answer = admin.post("/admin/executors/apitoken/add/", {"name": "ops", "role": "viewer"})
    assert answer.status_code == 302
    shown = " ".join(str(m) for m in get_messages(answer.wsgi_request))
    token = re.search(r"copy it now\): (\S+)", shown).group(1)  # type: ignore[union-attr]
    stored = ApiToken.objects.get(name="ops")
    assert token.startswith(stored.prefix) and token not in stored.hashed
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/assembly-line/state").status_code == 200


def test_a_made_tokens_role_and_executor_cannot_be_changed_in_admin(db: Any) -> None:
    # Its role and executor are its identity: changing them would hand what it submitted to
    # another principal (issue 16). Its name is a label and may change.
    from executors.services import token_create

    user = get_user_model().objects.create_superuser("ada", "ada@example.com", "pw")
    admin = Client()
    admin.force_login(user)
    api_token, _ = token_create(name="ops", role="viewer")
    page = f"/admin/executors/apitoken/{api_token.pk}/change/"
    assert b'name="role"' not in admin.get(page).content
    answer = admin.post(page, {"name": "ops-renamed", "role": "admin"})
    assert answer.status_code == 302
    api_token.refresh_from_db()
    assert (api_token.name, api_token.role) == ("ops-renamed", "viewer")


def test_an_admin_sets_an_executors_routing_in_admin(db: Any) -> None:
    from executors.models import Executor

    user = get_user_model().objects.create_superuser("ada", "ada@example.com", "pw")
    admin = Client()
    admin.force_login(user)
    Executor.objects.create(executor_id="lap-1", executor_type="claude_code", environment="local")
    page = "/admin/executors/executor/lap-1/change/"
    form = admin.get(page).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update(max_concurrent=4, capabilities="[]")
    answer = admin.post(page, data)
    assert answer.status_code == 302, answer.context["adminform"].form.errors
    assert Executor.objects.get(pk="lap-1").max_concurrent == 4

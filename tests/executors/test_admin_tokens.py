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

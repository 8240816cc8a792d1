"""The per-process token cache (executors/authentication.py): a revoked or deleted token stops
working within TOKEN_CACHE_SECONDS, and past that a remembered token costs one look at the
whole token table per TOKEN_CACHE_SECONDS, not a lookup per token (an idle long poll comes
every 30 s)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from executors import authentication
from executors.authentication import forget_verified_tokens, verify_token
from executors.models import ApiToken, Role
from executors.services import token_create

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[Clock]:
    settings.TOKEN_CACHE_SECONDS = 10
    fake = Clock()
    monkeypatch.setattr(authentication, "time", fake)
    monkeypatch.setattr(authentication, "_table", authentication.TokenTable())
    forget_verified_tokens()
    yield fake
    forget_verified_tokens()


def tokens(count: int) -> list[str]:
    return [token_create(name=f"t{n}", role=Role.SUBMITTER)[1] for n in range(count)]


def test_remembered_tokens_past_the_cache_time_cost_one_look_at_the_table(
    clock: Clock, django_assert_num_queries: Any
) -> None:
    made = tokens(3)
    for token in made:
        assert verify_token(token) is not None
    clock.now += 30  # an idle long poll later
    with django_assert_num_queries(1):
        assert all(verify_token(token) is not None for token in made)
    clock.now += 5
    with django_assert_num_queries(0):
        assert all(verify_token(token) is not None for token in made)


@pytest.mark.parametrize("change", ["revoked", "deleted"])
def test_a_token_changed_by_another_process_stops_within_the_cache_time(
    clock: Clock, change: str
) -> None:
    token, other = tokens(2)
    assert verify_token(token) is not None
    clock.now += 30
    assert verify_token(token) is not None  # the table looked at: unchanged
    # Another process revokes or deletes it: this one's cache is not told.
    tokens_of = ApiToken.objects.filter(name="t0")
    if change == "revoked":
        tokens_of.update(revoked_at=timezone.now())
    else:
        tokens_of.delete()
    clock.now += 9.9
    assert verify_token(token) is not None  # within TOKEN_CACHE_SECONDS of the last look
    clock.now += 0.2
    assert verify_token(token) is None
    assert verify_token(other) is not None


def test_a_token_made_elsewhere_makes_every_remembered_token_verified_again(
    clock: Clock, django_assert_num_queries: Any
) -> None:
    (token,) = tokens(1)
    assert verify_token(token) is not None
    clock.now += 30
    assert verify_token(token) is not None
    tokens(1)
    clock.now += 10
    # The look, then the token itself.
    with django_assert_num_queries(2):
        assert verify_token(token) is not None


def test_another_backend_is_asked_again_after_the_cache_time(clock: Clock, settings: Any) -> None:
    settings.TOKEN_BACKEND = "tests.executors.test_token_cache.counting_backend"
    asked.clear()
    assert verify_token("vault-token") is not None
    clock.now += 9
    assert verify_token("vault-token") is not None
    assert len(asked) == 1
    clock.now += 2
    assert verify_token("vault-token") is not None
    assert len(asked) == 2


asked: list[str] = []


def counting_backend(token: str) -> authentication.Principal:
    asked.append(token)
    return authentication.Principal(name="vault", role=Role.VIEWER, identity="vault:1")

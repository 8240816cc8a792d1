"""core/runtime/: each framework patch runs on the versions it was written for, a mismatch
stops the start, and importing the application tunes nothing (assemblyline/serve.py does)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from channels_redis.pubsub import RedisPubSubLoopLayer
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from core import runtime
from core.runtime import channels_group

ROOT = Path(__file__).resolve().parents[2]


def test_every_patch_is_on_the_versions_it_was_written_for() -> None:
    assert runtime.mismatches() == []
    runtime.check_versions()


def test_a_framework_at_another_version_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channels_group, "WRITTEN_FOR", {"channels_redis": "0.1"})
    with pytest.raises(ImproperlyConfigured, match="channels_group was written for"):
        runtime.check_versions()


@override_settings(CHANNEL_LAYERS={"default": {"CONFIG": {"prefix": "assemblyline.7"}}})
def test_the_group_channel_is_the_one_channels_redis_subscribes_to() -> None:
    layer = RedisPubSubLoopLayer(hosts=["redis://127.0.0.1:1"], prefix="assemblyline.7")
    assert channels_group.redis_group_channel("line") == layer._get_group_channel_name("line")


def test_importing_the_application_tunes_nothing() -> None:
    # A fresh interpreter: the pytest process has imported much already.
    code = (
        "import gc, json, sys; before = (gc.get_threshold(), sys.getswitchinterval()); "
        "import assemblyline.asgi; "
        "print(json.dumps([before, (gc.get_threshold(), sys.getswitchinterval()), "
        "gc.get_freeze_count()]))"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "assemblyline.settings",
        "SECRET_KEY": "test",
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    before, after, frozen = json.loads(out.strip().splitlines()[-1])
    assert after == before
    assert frozen == 0

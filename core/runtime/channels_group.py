"""The Redis pub/sub channel channels-redis's pub/sub layer uses for a group, so a broadcast
from synchronous code is one PUBLISH (intents/events.py), without the layer's event loop."""

from __future__ import annotations

from django.conf import settings

WRITTEN_FOR = {"channels_redis": "4.3"}


def redis_group_channel(group: str) -> str:
    """As `RedisPubSubChannelLayer._get_group_channel_name` names it."""
    prefix = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "asgi")
    return f"{prefix}__group__{group}"

"""Intents in Django admin (registered on import: Django's admin autodiscovery imports this)."""

from intents.admin import intent, review_queue

__all__ = ["intent", "review_queue"]

from django.apps import AppConfig


class IntentsConfig(AppConfig):
    name = "intents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from intents.metrics import register_collector

        register_collector()

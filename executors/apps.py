from django.apps import AppConfig


class ExecutorsConfig(AppConfig):
    name = "executors"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the bearer scheme with drf-spectacular (OpenApiAuthenticationExtension).
        import assemblyline.schema  # noqa: F401

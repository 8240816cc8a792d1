from django.apps import AppConfig


class VerificationConfig(AppConfig):
    name = "verification"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from verification import egress

        egress.rules()  # a bad LIVE_CHECK_ALLOW entry stops the start with its reason

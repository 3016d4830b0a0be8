from django.apps import AppConfig


class DjangoPolarConfig(AppConfig):
    name = "django_polar"
    label = "django_polar"
    verbose_name = "Polar billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers system checks; importing is the registration.
        from . import checks  # noqa: F401

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """The demo's user model lives alone here so the notes app works with any user model."""

    name = "example_project.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

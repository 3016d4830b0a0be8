from django.apps import AppConfig


class NotesConfig(AppConfig):
    """Jotter, the demo product: notes, teams, pricing and billing pages."""

    name = "example_project.notes"
    label = "notes"
    verbose_name = "Jotter notes"
    default_auto_field = "django.db.models.BigAutoField"

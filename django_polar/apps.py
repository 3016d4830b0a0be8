from django.apps import AppConfig


class DjangoPolarConfig(AppConfig):
    name = "django_polar"
    label = "django_polar"
    verbose_name = "Polar billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers system checks; importing is the registration.
        from . import checks

        if checks.tasks_framework_available():
            from . import signals, tasks

            signals.usage_flush_requested.connect(
                tasks.enqueue_usage_flush, dispatch_uid="django_polar.enqueue_usage_flush"
            )
            tasks.connect_customer_sync()

"""System checks (``manage.py check``): configuration mistakes surface before the first request.

Messages name the setting and the fix; they never contain a secret's value.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from .conf import DEFAULTS, PUBLIC_CREDENTIALS, raw_settings, setting_errors

# A setting whose problem has its own id; every other invalid key is E001.
_KEY_IDS = {"SERVER": "django_polar.E002", "API_VERSION": "django_polar.E003"}
# ``settings`` is used for Django's own DEBUG only; POLAR is read through conf.


@register(Tags.compatibility)
def check_settings(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Each invalid POLAR key, as an Error instead of an ImproperlyConfigured crash."""
    return [
        Error(
            message,
            hint="Fix settings.POLAR as the message says (keys are documented in django_polar.conf).",
            id=_KEY_IDS.get(key, "django_polar.E001"),
        )
        for key, message in setting_errors(raw_settings())
    ]


@register(Tags.security)
def check_credentials(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Missing access token or webhook secret: the app cannot call Polar or accept webhooks."""
    raw = raw_settings()
    raw = raw if isinstance(raw, dict) else {}
    messages: list[CheckMessage] = []
    if not raw.get("ACCESS_TOKEN"):
        messages.append(
            Warning(
                "POLAR['ACCESS_TOKEN'] is not set: calls to Polar will fail.",
                hint="Create an organization access token in Polar (Settings > Developers) and "
                "set POLAR['ACCESS_TOKEN'] from the environment.",
                id="django_polar.W001",
            )
        )
    if not raw.get("WEBHOOK_SECRET"):
        messages.append(
            Warning(
                "POLAR['WEBHOOK_SECRET'] is not set: every webhook will be refused.",
                hint="In Polar's dashboard (Settings > Webhooks) add an endpoint with the URL "
                "https://<your site>/polar/webhook/ (the django_polar:webhook URL), format Raw, "
                "all events; then set POLAR['WEBHOOK_SECRET'] to the secret Polar shows.",
                id="django_polar.W002",
            )
        )
    return messages


@register(Tags.security)
def check_emulator(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """The emulator takes fake payments: never with DEBUG off (a production deployment)."""
    raw = raw_settings()
    if (
        isinstance(raw, dict)
        and raw.get("SERVER", DEFAULTS["SERVER"]) == "emulator"
        and not settings.DEBUG
    ):
        return [
            Error(
                "POLAR['SERVER'] is 'emulator' while DEBUG is False: no real payment would ever "
                "be taken.",
                hint="Set POLAR['SERVER'] to 'sandbox' or 'production' for deployments; use the "
                "emulator only in development (DEBUG = True) and tests.",
                id="django_polar.E004",
            )
        ]
    return []


@register(Tags.security)
def check_public_credentials(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """The demo's token or webhook secret (public: they are in the repository) outside the
    emulator: anyone could forge a webhook that makes a user ``subscribed()``."""
    raw = raw_settings()
    if not isinstance(raw, dict) or raw.get("SERVER", DEFAULTS["SERVER"]) == "emulator":
        return []
    return [
        Error(
            f"POLAR['{key}'] is a public demo credential (published with django-polar) while "
            "POLAR['SERVER'] is not 'emulator': anyone can forge webhooks or use it.",
            hint=f"Set POLAR['{key}'] from the environment to the value Polar's dashboard "
            "shows (Settings > Developers for the token, Settings > Webhooks for the secret).",
            id="django_polar.E006",
        )
        for key in ("ACCESS_TOKEN", "WEBHOOK_SECRET")
        if isinstance(raw.get(key), str) and raw[key] in PUBLIC_CREDENTIALS
    ]


def tasks_framework_available() -> bool:
    """True when ``django.tasks`` (Django 6) or the ``django_tasks`` backport is importable."""
    return any(
        importlib.util.find_spec(name) is not None for name in ("django.tasks", "django_tasks")
    )


@register(Tags.compatibility)
def check_tasks(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Background work (webhook processing, sync) needs Django's tasks framework."""
    if tasks_framework_available():
        return []
    return [
        Error(
            "Neither django.tasks (Django 6) nor the django_tasks backport is installed.",
            hint="pip install django-polar[tasks] (or upgrade to Django 6), then add "
            "'django_tasks' to INSTALLED_APPS and configure TASKS.",
            id="django_polar.E005",
        )
    ]


def _immediate_backend() -> bool:
    """Whether the default task backend is Django's immediate one (also when TASKS is
    unset: Django and the backport default to it)."""
    configured = getattr(settings, "TASKS", None) or {}
    backend = (configured.get("default") or {}).get("BACKEND", ".ImmediateBackend")
    return str(backend).endswith(".ImmediateBackend")


@register(Tags.compatibility)
def check_customer_sync(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Customer changes sent by task with the immediate backend are sent by cron only."""
    raw = raw_settings() or {}
    if not isinstance(raw, dict) or not tasks_framework_available():
        return []
    sync = raw.get("CUSTOMER_SYNC", DEFAULTS["CUSTOMER_SYNC"])
    on_delete = raw.get("CUSTOMER_ON_DELETE", DEFAULTS["CUSTOMER_ON_DELETE"])
    if (sync != "task" and on_delete == "keep") or sync == "inline":
        return []
    if not _immediate_backend():
        return []
    sent = [
        *(["email and name changes"] if sync == "task" else []),
        *(["deletions"] if on_delete != "keep" else []),
    ]
    return [
        Warning(
            f"Billables' {' and '.join(sent)} reach Polar only through `manage.py "
            "polar_customers push`: they are sent by task and the task backend is the "
            "immediate one, which would make the saving request wait on Polar.",
            hint="Run `manage.py polar_customers push` from cron, use a worker task backend, "
            "or set POLAR['CUSTOMER_SYNC'] to 'inline' (development) or 'off'.",
            id="django_polar.W011",
        )
    ]


@register(Tags.compatibility)
def check_usage_sending(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Usage sent by task with the immediate backend is sent by nobody but cron."""
    raw = raw_settings()
    sending = (
        (raw or {}).get("USAGE_SENDING", DEFAULTS["USAGE_SENDING"])
        if isinstance(raw or {}, dict)
        else None
    )
    if sending != "task" or not tasks_framework_available():
        return []
    if not _immediate_backend():
        return []
    return [
        Warning(
            "Recorded usage is sent to Polar only by `manage.py polar_usage flush`: "
            "POLAR['USAGE_SENDING'] is 'task' and the task backend is the immediate one, "
            "which would make each request wait on Polar.",
            hint="Run `manage.py polar_usage flush` from cron every minute, use a worker "
            "task backend, or set POLAR['USAGE_SENDING'] = 'inline' (development).",
            id="django_polar.W010",
        )
    ]

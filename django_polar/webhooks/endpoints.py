"""This site's webhook endpoint in Polar: its URL, finding it, registering it.

``manage.py polar_webhooks register`` and ``polar_webhooks doctor`` both start from the
public URL of the webhook view (``POLAR["SITE_URL"]`` or ``--url`` plus the path of
``django_polar:webhook``), and find the endpoint whose URL is exactly that one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.urls import reverse

from ..client import get_client
from ..conf import polar_settings
from ..errors import WebhookEndpointError
from ..signals import EVENT_TYPES

#: Every event type an endpoint can subscribe to. Polar's ``WebhookEventType``
#: (server/polar/models/webhook_endpoint.py, the spec's enum) has no
#: ``subscription.migrated`` (polar-sdk 1.0.2 only): asking for it is a 422.
SUBSCRIBABLE_EVENTS: tuple[str, ...] = tuple(t for t in EVENT_TYPES if t != "subscription.migrated")


def webhook_url(site_url: str | None = None) -> str:
    """The public URL of this site's webhook view, from ``site_url`` (the site's origin,
    e.g. ``https://example.com``) or ``POLAR["SITE_URL"]``. A URL that already ends with
    the view's path is taken as is."""
    base = site_url or polar_settings.SITE_URL
    if not base:
        raise WebhookEndpointError(
            "No site URL: pass --url https://<your site> or set POLAR['SITE_URL'] to the "
            "public origin of this site (Polar must reach the webhook view there)."
        )
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise WebhookEndpointError(
            f"{base!r} is not an absolute URL; give the site's origin, e.g. https://example.com."
        )
    path = reverse("django_polar:webhook")
    if parts.path.rstrip("/") == path.rstrip("/"):
        return base
    return base.rstrip("/") + path


def find_endpoint(url: str) -> dict[str, Any] | None:
    """This organization's endpoint whose URL is ``url`` (trailing slash aside), or None."""
    wanted = url.rstrip("/")
    for endpoint in get_client().list_webhook_endpoints():
        if str(endpoint.get("url", "")).rstrip("/") == wanted:
            return endpoint
    return None


def register(url: str, *, name: str | None = None) -> dict[str, Any]:
    """Create the endpoint for ``url`` in Polar: every event type, the raw format (the
    only one the webhook view reads). Refuses when one already exists for that URL: a
    second endpoint would deliver every event twice, under another secret. Returns
    Polar's endpoint, whose ``secret`` is shown only here."""
    existing = find_endpoint(url)
    if existing is not None:
        state = "enabled" if existing.get("enabled") else "DISABLED"
        raise WebhookEndpointError(
            f"Polar already has an endpoint for {url} (id {existing.get('id')}, {state}); "
            "not creating a second one. Run `manage.py polar_webhooks doctor` to check it, "
            "or delete it in Polar's dashboard first to start over with a new secret."
        )
    body: dict[str, Any] = {"url": url, "format": "raw", "events": list(SUBSCRIBABLE_EVENTS)}
    if name:
        body["name"] = name
    return get_client().create_webhook_endpoint(body)

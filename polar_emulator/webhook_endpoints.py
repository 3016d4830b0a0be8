"""Webhook endpoints as the API manages them: create, update, reset the secret, delete,
and the delivery history (webhook/service.py, webhook/schemas.py)."""

from __future__ import annotations

import ipaddress
import string
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import APIError, invalid, not_found
from .spec_tables import tables
from .store import iso
from .validation import Body

if TYPE_CHECKING:
    from .core import Emulator
    from .webhooks import Endpoint

FORMATS = ("raw", "discord", "slack")
# webhook/schemas.py LOCALHOST_HOSTS and _is_blocked_webhook_host: no local or private
# destinations.
LOCALHOST_HOSTS = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def generate_secret(rng: Any) -> str:
    """webhook/constants.py WEBHOOK_SECRET_PREFIX and kit/crypto.py generate_token: random
    letters and digits after ``whsec_``. The emulator draws 44 (valid base64, so the
    standard signing scheme can key with it) from its seeded generator."""
    alphabet = string.ascii_letters + string.digits
    return "whsec_" + "".join(rng.choice(alphabet) for _ in range(44))


def check_url(value: Any, loc: list[Any]) -> str:
    """``EndpointURL``: an https URL (``HttpsUrl``) whose host is not local or private."""
    if not isinstance(value, str):
        raise invalid(loc, "URL input should be a string or URL", "url_type")
    url = value.strip()
    parts = urlsplit(url)
    if not url or len(url) > 2083 or not parts.netloc:
        raise invalid(
            loc, "Input should be a valid URL, relative URL without a base", "url_parsing"
        )
    if parts.scheme != "https":
        raise invalid(loc, "URL scheme should be 'https'", "url_scheme")
    host = (parts.hostname or "").lower()
    blocked = host in LOCALHOST_HOSTS
    try:
        blocked = blocked or not ipaddress.ip_address(host.strip("[]")).is_global
    except ValueError:
        pass
    if blocked:
        raise invalid(
            loc, "Value error, Webhook URLs cannot point to localhost or private IP addresses."
        )
    return url


class WebhookEndpoints:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def _events(self, body: Body, *, required: bool) -> list[str] | None:
        raw = body.get("events", required=required)
        if raw is None:
            return None
        if not isinstance(raw, list):
            raise invalid(["body", "events"], "Input should be a valid list", "list_type")
        types = tuple(tables()["webhook_event_types"])
        return [Body({"t": t}, ("body", "events", i)).choice("t", types) for i, t in enumerate(raw)]

    def api_endpoints(self) -> list[Endpoint]:
        return [e for e in self.emu.webhooks.endpoints if e.url is not None]

    def get(self, endpoint_id: str) -> Endpoint:
        found = next((e for e in self.api_endpoints() if e.id == endpoint_id), None)
        if found is None:
            raise not_found()
        return found

    def create(self, data: Any) -> Endpoint:
        body = Body(data)
        url = check_url(body.get("url", required=True), ["body", "url"])
        fmt = body.choice("format", FORMATS, required=True)
        events = self._events(body, required=True) or []
        name = body.str("name")
        organization_id = body.uuid("organization_id")
        if organization_id is not None and organization_id != self.emu.store.organization["id"]:
            raise invalid(["body", "organization_id"], "Organization not found.")
        endpoint = self.emu.webhooks.add_endpoint(
            url, secret=generate_secret(self.emu.store.rng), events=events
        )
        endpoint.events = frozenset(events)  # an empty list subscribes to nothing
        endpoint.url = url
        endpoint.name = name
        endpoint.format = fmt
        endpoint.created_at = iso(self.emu.clock.now())
        return endpoint

    def update(self, endpoint: Endpoint, data: Any) -> Endpoint:
        """Only the fields sent, and not null, change (``exclude_unset, exclude_none``)."""
        body = Body(data)
        if body.get("url") is not None:
            endpoint.url = endpoint.target = check_url(body.get("url"), ["body", "url"])
        if body.get("name") is not None:
            endpoint.name = body.str("name")
        if body.get("format") is not None:
            endpoint.format = body.choice("format", FORMATS)
        events = self._events(body, required=False)
        if events is not None:
            endpoint.events = frozenset(events)
        if body.get("enabled") is not None:
            enabled = body.bool("enabled")
            if enabled and not endpoint.enabled and endpoint.url is not None:
                # webhook/service.py ``update_endpoint``: enabling checks the URL again.
                try:
                    check_url(endpoint.url, ["body", "enabled"])
                except APIError:
                    raise invalid(
                        ["body", "enabled"],
                        "Cannot enable a webhook endpoint with an invalid URL. "
                        "Please update the URL first.",
                    ) from None
            # Events skipped while it was disabled stay skipped (only a redelivery sends
            # them); events emitted while disabled were never made (``_get_event_target_
            # endpoints`` selects enabled endpoints).
            endpoint.enabled = enabled
        endpoint.modified_at = iso(self.emu.clock.now())
        return endpoint

    def reset_secret(self, endpoint: Endpoint) -> Endpoint:
        endpoint.secret = generate_secret(self.emu.store.rng)
        endpoint.modified_at = iso(self.emu.clock.now())
        return endpoint

    def delete(self, endpoint: Endpoint) -> None:
        self.emu.webhooks.endpoints.remove(endpoint)

    def render(self, endpoint: Endpoint) -> dict[str, Any]:
        return {
            "created_at": endpoint.created_at,
            "modified_at": endpoint.modified_at,
            "id": endpoint.id,
            "url": endpoint.url,
            "name": endpoint.name,
            "api_version": self.emu.api_version,
            "format": endpoint.format,
            "secret": endpoint.secret,
            "organization_id": self.emu.store.organization["id"],
            "events": sorted(endpoint.events or ()),
            "enabled": endpoint.enabled,
            # Secrets made now are keyed the Standard Webhooks way (polar-sdk 1.0.2 field).
            "uses_standard_webhook_signature": endpoint.scheme == "standard",
        }

    def render_delivery(self, delivery: dict[str, Any]) -> dict[str, Any]:
        event = self.emu.webhooks.webhook_events[delivery["_webhook_event_id"]]
        out = {k: v for k, v in delivery.items() if not k.startswith("_")}
        out["webhook_event"] = {k: v for k, v in event.items() if not k.startswith("_")}
        return out

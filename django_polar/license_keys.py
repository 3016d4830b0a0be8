"""License keys for desktop and CLI apps sold through Polar: validate, activate, deactivate.

    from django_polar import license_keys
    activation = license_keys.activate(key, label="Ada's laptop")
    license_keys.validate(key, activation_id=activation["id"])
    license_keys.deactivate(key, activation["id"])

By default these use Polar's customer-portal endpoints, which need no organization token
(what a desktop app itself could call) and allow 3 requests a second; ``portal=False`` uses
the organization endpoints (``license_keys:write``). Calls are paced under that limit
per process, and a 429 is retried after its ``Retry-After`` by the client. Polar's refusals
become typed errors: ``LicenseKeyInvalid``, ``LicenseKeyRevoked``, ``LicenseKeyExpired``,
``LicenseKeyLimitReached``, ``LicenseKeyConditionsMismatch`` (all ``LicenseKeyError``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .client import get_client
from .conf import polar_settings
from .errors import (
    LicenseKeyConditionsMismatch,
    LicenseKeyError,
    LicenseKeyExpired,
    LicenseKeyInvalid,
    LicenseKeyLimitReached,
    LicenseKeyRevoked,
    PolarAPIError,
    PolarNotFoundError,
    PolarPermissionError,
    PolarValidationError,
)
from .pacing import Pacer

#: Polar: "3 requests per second for unauthenticated license key validation, activation,
#: and deactivation endpoints" (docs, API overview > Rate Limits).
PORTAL_PER_MINUTE = 180
_portal_pacer = Pacer(PORTAL_PER_MINUTE)


def _organization_id(organization_id: str | None) -> str:
    found = organization_id or polar_settings.ORGANIZATION_ID
    if not found:
        raise ImproperlyConfigured(
            "License key calls need the organization: set POLAR['ORGANIZATION_ID'] to your "
            "organization's id (Polar's organization settings) or pass organization_id."
        )
    return str(found)


def _error(exc: PolarAPIError) -> LicenseKeyError:
    """Polar's answer as a typed error (server/polar/license_key/service.py messages)."""
    message = exc.message
    lowered = message.lower()
    kwargs = {"status": exc.status, "detail": exc.detail}
    if "expired" in lowered:
        return LicenseKeyExpired(message, **kwargs)
    if "no longer active" in lowered:
        return LicenseKeyRevoked(message, **kwargs)
    if "conditions" in lowered:
        return LicenseKeyConditionsMismatch(message, **kwargs)
    if (
        "limit" in lowered
        or "more usages" in lowered
        or "support activations" in lowered
        or exc.status == 400
    ):
        return LicenseKeyLimitReached(message, **kwargs)
    if isinstance(exc, PolarPermissionError) and exc.scope:
        raise exc  # the organization token lacks a scope: a setup problem, not the key's
    return LicenseKeyInvalid(message, **kwargs)


def _call(action: str, body: dict[str, Any], portal: bool) -> Any:
    """One call, paced on the customer-portal endpoints; Polar's refusals typed."""
    if portal:
        _portal_pacer.acquire()
    method = getattr(get_client(), f"{action}_license_key")
    try:
        return method(body, portal=portal)
    except (PolarNotFoundError, PolarPermissionError, PolarValidationError) as exc:
        raise _error(exc) from None
    except PolarAPIError as exc:
        if exc.status == 400:
            raise _error(exc) from None
        raise


def validate(
    key: str,
    *,
    activation_id: str | None = None,
    benefit_id: str | None = None,
    customer_id: str | None = None,
    conditions: Mapping[str, Any] | None = None,
    increment_usage: int | None = None,
    organization_id: str | None = None,
    portal: bool = True,
) -> dict[str, Any]:
    """Polar's ``ValidatedLicenseKey`` for a key that is granted, unexpired and (when
    given) matches the activation, benefit, customer and conditions."""
    body: dict[str, Any] = {"key": key, "organization_id": _organization_id(organization_id)}
    for name, value in (
        ("activation_id", activation_id),
        ("benefit_id", benefit_id),
        ("customer_id", customer_id),
        ("conditions", dict(conditions) if conditions else None),
        ("increment_usage", increment_usage),
    ):
        if value is not None:
            body[name] = value
    validated: dict[str, Any] = _call("validate", body, portal)
    return validated


def activate(
    key: str,
    label: str,
    *,
    conditions: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
    organization_id: str | None = None,
    portal: bool = True,
) -> dict[str, Any]:
    """Reserve one of the key's activations (a device); returns the activation, whose
    ``id`` the app stores and passes to ``validate`` afterwards."""
    body: dict[str, Any] = {
        "key": key,
        "organization_id": _organization_id(organization_id),
        "label": label,
    }
    if conditions:
        body["conditions"] = dict(conditions)
    if meta:
        body["meta"] = dict(meta)
    activation: dict[str, Any] = _call("activate", body, portal)
    return activation


def deactivate(
    key: str, activation_id: str, *, organization_id: str | None = None, portal: bool = True
) -> None:
    """Free an activation (the user moves to another device)."""
    body = {
        "key": key,
        "organization_id": _organization_id(organization_id),
        "activation_id": activation_id,
    }
    _call("deactivate", body, portal)


def get(license_key_id: str) -> dict[str, Any]:
    """The license key itself (with activations), by the id a grant carries (org token)."""
    return get_client().get_license_key(license_key_id)

"""How the API describes itself to drf-spectacular: the error responses each kind of view
can give, and the settings of the document (``openapi.SchemaView`` serves it).

Every status a view can answer is listed with its body, so a client generated from the
schema (and Schemathesis in CI: scripts/fuzz_api.py) knows them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse, extend_schema

from .. import __version__
from .serializers import ErrorSerializer

TITLE = "django-polar billing API"

#: drf-spectacular settings for this API's document only (the host's own
#: SPECTACULAR_SETTINGS describe the host's API, not this one).
SETTINGS: dict[str, Any] = {
    "TITLE": TITLE,
    "VERSION": __version__,
    "DESCRIPTION": "Billing state and actions of the signed-in customer (django-polar). "
    "Every error, whatever its status, has the body `Error`.",
    # Request bodies have serializers of their own already (CheckoutRequest, SwapRequest ...).
    "COMPONENT_SPLIT_REQUEST": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",  # the default hook, kept
        "django_polar.api.schema.no_nul_in_request_strings",
    ],
    "SCHEMA_PATH_PREFIX": "",
    "ENUM_NAME_OVERRIDES": {
        "SubscriptionStatus": "django_polar.api.serializers.SUBSCRIPTION_STATUSES",
        "OrderStatus": "django_polar.api.serializers.ORDER_STATUSES",
        "BillingReason": "django_polar.api.serializers.BILLING_REASONS",
        "BenefitType": "django_polar.api.serializers.BENEFIT_TYPES",
        "RecurringInterval": "django_polar.api.serializers.RECURRING_INTERVALS",
        "Proration": "django_polar.api.serializers.PRORATIONS",
        "AmountType": "django_polar.api.serializers.AMOUNT_TYPES",
        "CancellationReason": "django_polar.api.serializers.CANCELLATION_REASONS",
    },
    "TAGS": [
        {"name": "billing", "description": "The whole billing state in one call."},
        {"name": "catalog", "description": "What is for sale."},
        {"name": "subscriptions", "description": "The customer's subscriptions and changes."},
        {"name": "orders", "description": "Purchases and invoices."},
        {"name": "benefits", "description": "What the customer was granted."},
        {"name": "checkout", "description": "Buying: a Polar checkout session."},
        {"name": "portal", "description": "Polar's customer portal."},
        {"name": "license keys", "description": "License keys of desktop and CLI apps."},
    ],
}

ERROR_MEANINGS = {
    400: "Invalid input (the body or a query parameter); `fields` names each bad field.",
    401: "Not signed in (authentication classes that send a challenge).",
    403: "Not signed in, no billing account, a missing CSRF token, or (license keys) a key "
    "that cannot be activated (revoked, expired, out of activations, conditions unmet).",
    404: "No such object of this customer (or a page past the last, or no such license key).",
    409: "The object's state does not allow this action (e.g. already canceled, or an "
    "invoice for an order without a billing name and address).",
    415: "The body is not JSON (Content-Type: application/json).",
    429: "Too many requests; try again after Retry-After seconds.",
    502: "Polar answered something unexpected.",
    503: "Polar is unreachable, failing or rate limiting; try again after Retry-After.",
}


#: DRF refuses a NUL character in any string it parses (ProhibitNullCharactersValidator:
#: PostgreSQL cannot store one), so the schema says so of every string a request sends.
NO_NUL = "^[^\\x00]*$"


def no_nul_in_request_strings(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular hook: ``pattern: NO_NUL`` on each free-text string of a request body.

    Without it the schema accepts ``"\\u0000"`` where the view answers 400, and a generated
    client (or Schemathesis) reads that as the API breaking its own contract.
    """
    components = result.get("components", {}).get("schemas", {})
    seen: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
            return
        if not isinstance(node, dict):
            return
        ref = node.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in seen:
                seen.add(name)
                visit(components.get(name))
            return
        if node.get("type") == "string" and not {"enum", "pattern", "format"} & node.keys():
            node["pattern"] = NO_NUL
        for key in ("properties", "items", "allOf", "anyOf", "oneOf", "additionalProperties"):
            child = node.get(key)
            visit(
                list(child.values()) if key == "properties" and isinstance(child, dict) else child
            )

    for item in result.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict) and "requestBody" in operation:
                for media in operation["requestBody"].get("content", {}).values():
                    visit(media.get("schema"))
    return result


F = TypeVar("F", bound=Callable[..., Any])


def documented(**kwargs: Any) -> Callable[[F], F]:
    """``extend_schema`` built on drf-spectacular's AutoSchema even when the project's
    ``DEFAULT_SCHEMA_CLASS`` is DRF's own (which drf-spectacular would extend otherwise,
    and fail): a reusable app cannot ask the project to change that setting."""

    def decorator(func: F) -> F:
        context = getattr(func, "kwargs", None)
        if context is None:
            context = {}
            func.kwargs = context  # type: ignore[attr-defined]
        context.setdefault("schema", AutoSchema)
        return extend_schema(**kwargs)(func)

    return decorator


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """The documented error responses for ``statuses``, all with the ``Error`` body."""
    return {
        code: OpenApiResponse(response=ErrorSerializer, description=ERROR_MEANINGS[code])
        for code in statuses
    }


#: What any endpoint that needs a signed-in customer can answer.
SIGNED_IN = (401, 403)
#: A list: bad ``page``/``limit`` (400), a page past the last (404).
LISTED = (400, 401, 403, 404)
#: An action that calls Polar: its validation error (400), a state conflict (409), Polar
#: failing (502) or busy (503).
CALLS_POLAR = (400, 401, 403, 409, 502, 503)

"""Every public exception of django-polar, and the redaction every message goes through.

Callers catch by meaning (``PolarNotFoundError``, ``PolarValidationError``...) and read Polar's
own words in ``detail``; nothing here ever holds the request, its headers or the token.
The exceptions of the app's own rooms (customer link, checkout, webhooks, sync) live here
too, so a module that only needs to catch one never imports the module that raises it.
The old import paths (``django_polar.billable.CustomerConflictError``,
``django_polar.checkout.CheckoutError``, ``django_polar.webhooks.verify.VerificationError``
...) name these same classes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"
# Polar credentials: organization/personal/customer tokens, refresh tokens, webhook secrets.
_TOKEN_RE = re.compile(r"polar_[a-z]{2,4}_[A-Za-z0-9_\-]{6,}|whsec_[A-Za-z0-9+/=_\-]{6,}")


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Replace the given secrets and anything shaped like a Polar token in ``text``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _TOKEN_RE.sub(REDACTED, text)


def redact_data(value: Any, secrets: Iterable[str | None] = ()) -> Any:
    """``redact`` applied to every string inside JSON-like data."""
    secrets = tuple(secrets)
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, list):
        return [redact_data(item, secrets) for item in value]
    if isinstance(value, dict):
        return {key: redact_data(item, secrets) for key, item in value.items()}
    return value


class PolarError(Exception):
    """Base class of everything the client raises.

    ``retry_after`` is, when known, the seconds after which trying again makes sense
    (Polar's Retry-After, or the backoff the client stopped at); views answer 503 with it.
    """

    retry_after: float | None = None


class PolarNetworkError(PolarError):
    """Polar could not be reached (connection refused, DNS, TLS, timeout) within the call's
    retries, deadline and retry budget."""

    def __init__(
        self, message: str, *, method: str, path: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.retry_after = retry_after


class PolarTimeoutError(PolarNetworkError):
    """Polar did not answer within the read timeout or the call's overall deadline."""


class PolarAPIError(PolarError):
    """Polar answered with an error status.

    ``detail`` is Polar's message (a string) or, for 422, the list of validation errors;
    ``error`` is Polar's error code such as ``"ResourceNotFound"`` when it sent one.
    """

    def __init__(
        self,
        *,
        status: int,
        detail: Any,
        method: str,
        path: str,
        error: str | None = None,
        message: str | None = None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.method = method
        self.path = path
        self.error = error
        self.message = message or describe_detail(detail) or "no details given"
        super().__init__(self._sentence())

    def _sentence(self) -> str:
        return f"Polar answered {self.status} to {self.method} {self.path}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, method={self.method!r}, path={self.path!r})"


class PolarAuthenticationError(PolarAPIError):
    """401: the access token is missing, wrong, revoked or for the other server."""

    def _sentence(self) -> str:
        return (
            f"{super()._sentence()} Check POLAR['ACCESS_TOKEN'] and that it was created on the "
            "server POLAR['SERVER'] points at (sandbox tokens do not work in production)."
        )


class PolarPermissionError(PolarAPIError):
    """403: not allowed; ``scope`` names the missing token scope when Polar said so."""

    def __init__(self, *, scope: str | None = None, **kwargs: Any) -> None:
        self.scope = scope
        super().__init__(**kwargs)

    def _sentence(self) -> str:
        sentence = super()._sentence()
        if self.scope or self.error == "insufficient_scope":
            needed = f"the scope {self.scope}" if self.scope else "a scope this endpoint requires"
            sentence += (
                f" The access token lacks {needed}; create a token with it in Polar's "
                "organization settings (Settings > Developers) and update POLAR['ACCESS_TOKEN']."
            )
        return sentence


class PolarNotFoundError(PolarAPIError):
    """404: no such object (or it belongs to another organization)."""


class PolarValidationError(PolarAPIError):
    """422: Polar rejected the input; ``errors`` is the list of ``{loc, msg, type}`` dicts."""

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self.detail if isinstance(self.detail, list) else []


class PolarRateLimitError(PolarAPIError):
    """429: too many requests; ``retry_after`` is Polar's hint in seconds (or None)."""

    def __init__(self, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(**kwargs)


class PolarServerError(PolarAPIError):
    """5xx: Polar failed; safe requests were already retried (``retry_after``: when to try
    again, from Retry-After or the backoff the retry budget stopped at)."""

    def __init__(self, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(**kwargs)


class PolarUnexpectedResponseError(PolarAPIError):
    """Polar (or something in front of it: a proxy, a maintenance page) answered with a
    body that is not the JSON the endpoint returns; ``status`` is the status it came with."""


class UnstorableWebhookBody(ValueError):
    """An authentic webhook body the database cannot hold as JSON (NaN, NUL characters,
    lone surrogates, absurd nesting): stored as a malformed event instead."""


def describe_detail(detail: Any) -> str:
    """Turn Polar's ``detail`` into one readable line (422 lists become ``loc: msg; ...``)."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict) and "msg" in item:
                loc = ".".join(str(part) for part in item.get("loc", ()))
                parts.append(f"{loc}: {item['msg']}" if loc else str(item["msg"]))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    if detail is None:
        return ""
    return str(detail)


def error_class(status: int) -> type[PolarAPIError]:
    """The most specific error class for an HTTP status."""
    if status >= 500:
        return PolarServerError
    return {
        401: PolarAuthenticationError,
        403: PolarPermissionError,
        404: PolarNotFoundError,
        422: PolarValidationError,
        429: PolarRateLimitError,
    }.get(status, PolarAPIError)


# -- the app's own failures ------------------------------------------------------------


class CustomerConflictError(Exception):
    """Polar already has a customer with this email that the app may not link.

    Email is never an identity key, so the app refuses to link it (unless the billable's
    ``polar_may_claim_customer_by_email()`` allows it and the customer has no external id);
    the project must resolve the conflict (e.g. in Polar's dashboard) or change the email.
    """


class WebhookEndpointError(Exception):
    """Registering or checking this site's webhook endpoint cannot go on: no site URL, or
    Polar already has an endpoint for it (``polar_webhooks register`` never makes a
    second one)."""


class AlreadySubscribedError(ValueError):
    """``subscribe_free()`` for a billable that already has a valid subscription of that
    type to another product: a second one would bill and grant side by side (Polar
    itself allows it); change plans with ``subscription.swap()`` instead."""


class CheckoutError(ValueError):
    """The checkout was asked for something it cannot do (a programming error)."""


class ClaimError(Exception):
    """A guest purchase cannot be linked to this billable: the claim is unknown to this
    browser, already redeemed, the checkout is not paid yet, or the Polar customer that
    bought belongs to another billable (or this billable already has another one)."""


class UnknownProductError(CheckoutError):
    """Not a Polar product id nor a slug of POLAR["PRODUCTS"]."""


class ReservedMetadataKeyError(CheckoutError):
    """Metadata used a key the app owns (e.g. the subscription type)."""


class RefundNotAllowedError(ValueError):
    """A refund Polar refuses, caught before asking it: the benefits of a subscription's
    order can only be revoked by cancelling the subscription (Polar answers 400
    ``RevokeSubscriptionBenefitsProhibited``)."""


class VerificationError(Exception):
    """The request is not an authentic Polar webhook (answer 403)."""

    status = 403


class MalformedRequest(VerificationError):
    """The request is not even shaped like a webhook (answer 400)."""

    status = 400


class MalformedEvent(ValueError):
    """An authentic event whose body is not ``{"type": str, "data": {...}}``."""


class PacerStopped(Exception):
    """Raised to workers once a run is stopped, instead of starting another request."""


class StoredRowMissing(Exception):
    """An object the mirror reported written has no row (see ``Syncer._write_checked``)."""


class WorkerLost(Exception):
    """A task worker died (SIGKILL, OOM, a lost machine) while running a webhook task; the
    task is marked failed with this and ``polar_webhooks retry-failed`` applies the event."""


# -- usage, credits, license keys -------------------------------------------------------------


class InvalidUsageEvent(ValueError):
    """A usage event Polar would refuse (its ``EventMetadataInput`` rules), raised when it
    is recorded so the caller sees the mistake instead of a row that never ingests."""


class LicenseKeyError(PolarError):
    """A license key Polar refused; ``status`` and ``detail`` are Polar's answer."""

    def __init__(self, message: str, *, status: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class LicenseKeyInvalid(LicenseKeyError):
    """No such key in the organization (mistyped, or another organization's)."""


class LicenseKeyRevoked(LicenseKeyError):
    """The key exists but is no longer active (its benefit grant was revoked or disabled)."""


class LicenseKeyExpired(LicenseKeyError):
    """The key is past its ``expires_at``."""


class LicenseKeyLimitReached(LicenseKeyError):
    """Activation or usage limit reached (``activate`` past ``limit_activations``,
    ``validate(increment_usage=...)`` past ``limit_usage``)."""


class LicenseKeyConditionsMismatch(LicenseKeyError):
    """The activation exists but was made for other conditions (another machine)."""


class AgentTokenError(Exception):
    """An agent token is unknown, expired or revoked (the message never holds the token)."""


class AgentToolError(Exception):
    """A tool call that cannot succeed: bad arguments, a refused action, or Polar's error.

    The message is what the assistant reads (Polar's own words when Polar refused);
    ``retry_after`` carries Polar's hint in seconds on a rate limit.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

"""The Polar API client: the only code in django-polar that speaks HTTP to Polar.

    from django_polar.client import get_client
    product = get_client().get_product(product_id)

Methods return Polar's JSON as plain dicts; ``list_*`` methods are lazy generators over every
item. Requests that are safe to repeat are retried with exponential backoff and jitter; errors
become the typed exceptions of ``django_polar.errors`` (re-exported here); the access token never
appears in a message, a repr or a log line.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from django.core.exceptions import ImproperlyConfigured

from . import __version__
from .conf import DEFAULT_API_VERSION, polar_settings
from .errors import (
    PolarAPIError,
    PolarAuthenticationError,
    PolarError,
    PolarNetworkError,
    PolarNotFoundError,
    PolarPermissionError,
    PolarRateLimitError,
    PolarServerError,
    PolarValidationError,
    error_class,
    redact,
    redact_data,
)

__all__ = [
    "PolarAPIError",
    "PolarAuthenticationError",
    "PolarClient",
    "PolarError",
    "PolarNetworkError",
    "PolarNotFoundError",
    "PolarPermissionError",
    "PolarRateLimitError",
    "PolarServerError",
    "PolarValidationError",
    "get_client",
    "use_transport",
]

logger = logging.getLogger("django_polar.client")

PAGE_LIMIT = 100
RETRY_STATUSES = frozenset({502, 503, 504})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
USER_AGENT = (
    f"django-polar/{__version__} httpx/{httpx.__version__} "
    f"python/{sys.version_info.major}.{sys.version_info.minor}"
)

Json = dict[str, Any]


def _path(template: str, *ids: str) -> str:
    """Fill ``{}`` slots with URL-quoted ids (an external id may hold '/', '?' or spaces)."""
    for value in ids:
        if value is None or str(value) == "":
            raise ValueError(f"an id is required to build {template!r}")
    return template.format(*(quote(str(value), safe="") for value in ids))


def _params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _missing_scope(response: httpx.Response, body: Any) -> str | None:
    """The scope a 403 names: JSON ``scope``/``required_scopes`` or ``WWW-Authenticate``."""
    if isinstance(body, dict):
        for key in ("scope", "required_scopes", "scopes"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, list) and value:
                return " ".join(str(item) for item in value)
    challenge = response.headers.get("WWW-Authenticate", "")
    marker = 'scope="'
    if marker in challenge:
        return challenge.split(marker, 1)[1].split('"', 1)[0] or None
    return None


class PolarClient:
    """A pooled, thread-safe Polar API client (one per process via ``get_client()``).

    ``sleep`` and ``jitter`` are injectable so tests assert the waits instead of sleeping.
    """

    def __init__(
        self,
        *,
        access_token: str,
        base_url: str,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        retry_max_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._token = access_token
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.retry_max_wait = retry_max_wait
        self._sleep = sleep
        self._jitter = jitter
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            headers={
                "Authorization": f"Bearer {access_token}",
                "Polar-Version": api_version,
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
            },
        )

    def __repr__(self) -> str:
        return f"<PolarClient {self.base_url} Polar-Version={self.api_version}>"

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def __enter__(self) -> PolarClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------

    def backoff(self, retry: int) -> float:
        """Wait before retry number ``retry`` (0-based): base*2^retry, jittered to [50%, 100%]."""
        ceiling = min(self.retry_max_wait, self.retry_backoff * (2**retry))
        return ceiling / 2 + self._jitter() * ceiling / 2

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send one API request (with retries) and return the decoded JSON, or None if empty.

        ``idempotent`` defaults to True for GET; pass True for a POST that Polar de-duplicates.
        A 429 or a failed connection attempt is retried for every method: Polar never saw it.
        """
        method = method.upper()
        safe = method in SAFE_METHODS if idempotent is None else idempotent
        shown = redact(path, [self._token])
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = timeout
        retry = 0
        while True:
            started = time.monotonic()
            try:
                response = self._http.request(
                    method, path, params=_params(params or {}), json=json, **extra
                )
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                reason = redact(f"{type(exc).__name__}: {exc}", [self._token])
                if (safe or never_sent) and retry < self.max_retries:
                    self._wait(self.backoff(retry), retry, method, shown, reason)
                    retry += 1
                    continue
                raise PolarNetworkError(
                    f"Could not reach Polar for {method} {shown} ({reason}) "
                    f"after {retry + 1} attempt(s); check POLAR['SERVER'] and the network.",
                    method=method,
                    path=shown,
                ) from None
            elapsed = (time.monotonic() - started) * 1000
            logger.debug(
                "Polar %s %s -> %s in %.0f ms", method, shown, response.status_code, elapsed
            )
            if response.is_success:
                return response.json() if response.content else None
            wait = self._retry_wait(response, retry, safe)
            if wait is None:
                raise self._api_error(response, method, shown)
            self._wait(wait, retry, method, shown, f"status {response.status_code}")
            retry += 1

    def _retry_wait(self, response: httpx.Response, retry: int, safe: bool) -> float | None:
        if retry >= self.max_retries:
            return None
        if response.status_code == 429:
            hinted = parse_retry_after(response.headers.get("Retry-After"))
            if hinted is None:
                return self.backoff(retry)
            return min(hinted, self.retry_max_wait)
        if response.status_code in RETRY_STATUSES and safe:
            return self.backoff(retry)
        return None

    def _wait(self, seconds: float, retry: int, method: str, path: str, reason: str) -> None:
        logger.info(
            "Polar %s %s failed (%s); retry %d of %d in %.2f s",
            method,
            path,
            reason,
            retry + 1,
            self.max_retries,
            seconds,
        )
        self._sleep(seconds)

    def _api_error(self, response: httpx.Response, method: str, path: str) -> PolarAPIError:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:500]
        if isinstance(body, dict):
            detail = body.get("detail", body.get("error_description"))
            error = body.get("error") if isinstance(body.get("error"), str) else None
        else:
            detail, error = body, None
        status = response.status_code
        kwargs: dict[str, Any] = {
            "status": status,
            "detail": redact_data(detail or response.reason_phrase, [self._token]),
            "method": method,
            "path": path,
            "error": error,
        }
        cls = error_class(status)
        if cls is PolarPermissionError:
            kwargs["scope"] = _missing_scope(response, body)
        elif cls is PolarRateLimitError:
            kwargs["retry_after"] = parse_retry_after(response.headers.get("Retry-After"))
        return cls(**kwargs)

    # -- pagination --------------------------------------------------------------------------

    def get_page(self, path: str, page: int = 1, limit: int = PAGE_LIMIT, **params: Any) -> Json:
        """One raw page ``{"items": [...], "pagination": {...}}`` of a list endpoint."""
        return self.request("GET", path, params={**params, "page": page, "limit": limit})

    def paginate(self, path: str, **params: Any) -> Iterator[Json]:
        """Yield every item of a list endpoint, one page in memory at a time."""
        page = 1
        while True:
            data = self.get_page(path, page=page, **params)
            items = data.get("items") or []
            yield from items
            max_page = (data.get("pagination") or {}).get("max_page") or 0
            if not items or page >= max_page:
                return
            page += 1

    # -- products ----------------------------------------------------------------------------

    def list_products(self, **params: Any) -> Iterator[Json]:
        return self.paginate("/v1/products/", **params)

    def get_product(self, product_id: str) -> Json:
        return self.request("GET", _path("/v1/products/{}", product_id))

    def create_product(self, body: Json) -> Json:
        return self.request("POST", "/v1/products/", json=body)

    def update_product(self, product_id: str, body: Json) -> Json:
        return self.request("PATCH", _path("/v1/products/{}", product_id), json=body)

    # -- benefits ----------------------------------------------------------------------------

    def list_benefits(self, **params: Any) -> Iterator[Json]:
        return self.paginate("/v1/benefits/", **params)

    def get_benefit(self, benefit_id: str) -> Json:
        return self.request("GET", _path("/v1/benefits/{}", benefit_id))

    def create_benefit(self, body: Json) -> Json:
        return self.request("POST", "/v1/benefits/", json=body)

    def update_benefit(self, benefit_id: str, body: Json) -> Json:
        return self.request("PATCH", _path("/v1/benefits/{}", benefit_id), json=body)

    def list_benefit_grants(self, **params: Any) -> Iterator[Json]:
        return self.paginate("/v1/benefit-grants/", **params)

    # -- customers ---------------------------------------------------------------------------

    def create_customer(self, body: Json) -> Json:
        return self.request("POST", "/v1/customers/", json=body)

    def get_customer(self, customer_id: str) -> Json:
        return self.request("GET", _path("/v1/customers/{}", customer_id))

    def get_customer_by_external_id(self, external_id: str) -> Json:
        return self.request("GET", _path("/v1/customers/external/{}", external_id))

    def update_customer(self, customer_id: str, body: Json) -> Json:
        return self.request("PATCH", _path("/v1/customers/{}", customer_id), json=body)

    def update_customer_by_external_id(self, external_id: str, body: Json) -> Json:
        return self.request("PATCH", _path("/v1/customers/external/{}", external_id), json=body)

    def list_customers(
        self, *, email: str | None = None, query: str | None = None, **params: Any
    ) -> Iterator[Json]:
        return self.paginate("/v1/customers/", email=email, query=query, **params)

    def delete_customer(self, customer_id: str, *, anonymize: bool | None = None) -> None:
        self.request(
            "DELETE", _path("/v1/customers/{}", customer_id), params={"anonymize": anonymize}
        )

    def get_customer_state(self, customer_id: str) -> Json:
        return self.request("GET", _path("/v1/customers/{}/state", customer_id))

    def get_customer_state_by_external_id(self, external_id: str) -> Json:
        return self.request("GET", _path("/v1/customers/external/{}/state", external_id))

    def create_customer_session(self, body: Json) -> Json:
        return self.request("POST", "/v1/customer-sessions/", json=body)

    # -- checkouts ---------------------------------------------------------------------------

    def create_checkout(self, body: Json) -> Json:
        return self.request("POST", "/v1/checkouts/", json=body)

    def get_checkout(self, checkout_id: str) -> Json:
        return self.request("GET", _path("/v1/checkouts/{}", checkout_id))

    def create_checkout_link(self, body: Json) -> Json:
        return self.request("POST", "/v1/checkout-links/", json=body)

    # -- subscriptions -----------------------------------------------------------------------

    def list_subscriptions(self, **params: Any) -> Iterator[Json]:
        return self.paginate("/v1/subscriptions/", **params)

    def get_subscription(self, subscription_id: str) -> Json:
        return self.request("GET", _path("/v1/subscriptions/{}", subscription_id))

    def update_subscription(self, subscription_id: str, body: Json) -> Json:
        """One SubscriptionUpdate variant: ``{"cancel_at_period_end": True}``, ``{"product_id":
        ..., "proration_behavior": "invoice"}``, ``{"seats": 5}``, ``{"discount_id": ...}``..."""
        return self.request("PATCH", _path("/v1/subscriptions/{}", subscription_id), json=body)

    def revoke_subscription(self, subscription_id: str) -> Json:
        return self.request("DELETE", _path("/v1/subscriptions/{}", subscription_id))

    # -- customer seats ----------------------------------------------------------------------

    def list_seats(self, subscription_id: str) -> Json:
        """``{"seats": [...], "available_seats": n, "total_seats": n}``."""
        return self.request(
            "GET", "/v1/customer-seats", params={"subscription_id": subscription_id}
        )

    def assign_seat(self, body: Json) -> Json:
        """``{"subscription_id", "email" | "external_member_id" | ..., "immediate_claim"}``."""
        return self.request("POST", "/v1/customer-seats", json=body)

    def revoke_seat(self, seat_id: str) -> Json:
        return self.request("DELETE", _path("/v1/customer-seats/{}", seat_id))

    def resend_seat_invitation(self, seat_id: str) -> Json:
        return self.request("POST", _path("/v1/customer-seats/{}/resend", seat_id), json={})

    def get_seat_claim_info(self, invitation_token: str) -> Json:
        return self.request("GET", _path("/v1/customer-seats/claim/{}", invitation_token))

    def claim_seat(self, invitation_token: str) -> Json:
        """``{"seat": ..., "customer_session_token": ...}``; the token is single use."""
        return self.request(
            "POST", "/v1/customer-seats/claim", json={"invitation_token": invitation_token}
        )

    def list_members(self, **params: Any) -> Iterator[Json]:
        return self.paginate("/v1/members/", **params)

    # -- orders, refunds, discounts ----------------------------------------------------------

    def list_orders(self, **params: Any) -> Iterator[Json]:
        return self.paginate("/v1/orders/", **params)

    def get_order(self, order_id: str) -> Json:
        return self.request("GET", _path("/v1/orders/{}", order_id))

    def generate_invoice(self, order_id: str) -> Any:
        return self.request("POST", _path("/v1/orders/{}/invoice", order_id))

    def get_invoice(self, order_id: str) -> Json:
        return self.request("GET", _path("/v1/orders/{}/invoice", order_id))

    def create_refund(self, body: Json) -> Json:
        return self.request("POST", "/v1/refunds/", json=body)

    def create_discount(self, body: Json) -> Json:
        return self.request("POST", "/v1/discounts/", json=body)

    # -- usage -------------------------------------------------------------------------------

    def ingest_events(self, events: list[Json]) -> Json:
        """Send usage events; retried only when every event carries an ``external_id``."""
        deduplicated = all(event.get("external_id") for event in events)
        return self.request(
            "POST", "/v1/events/ingest", json={"events": events}, idempotent=deduplicated
        )

    def list_events(self, **params: Any) -> Iterator[Json]:
        return self.paginate("/v1/events/", **params)

    def list_meters(self, **params: Any) -> Iterator[Json]:
        return self.paginate("/v1/meters/", **params)

    def list_customer_meters(self, **params: Any) -> Iterator[Json]:
        return self.paginate("/v1/customer-meters/", **params)

    # -- license keys ------------------------------------------------------------------------

    def validate_license_key(self, body: Json) -> Json:
        """Validate a key; a read (retried) unless it increments usage."""
        safe = not body.get("increment_usage")
        return self.request("POST", "/v1/license-keys/validate", json=body, idempotent=safe)

    def activate_license_key(self, body: Json) -> Json:
        return self.request("POST", "/v1/license-keys/activate", json=body)

    def deactivate_license_key(self, body: Json) -> None:
        self.request("POST", "/v1/license-keys/deactivate", json=body)

    def list_license_keys(self, **params: Any) -> Iterator[Json]:
        return self.paginate("/v1/license-keys/", **params)


# -- the process-wide client -------------------------------------------------------------------

_lock = threading.Lock()
_cached: tuple[tuple[Any, ...], PolarClient] | None = None
_transports: list[httpx.BaseTransport] = []


def _client_config() -> tuple[Any, ...]:
    s = polar_settings
    transport = _transports[-1] if _transports else None
    return (
        s.ACCESS_TOKEN, s.base_url, s.API_VERSION, s.TIMEOUT, s.CONNECT_TIMEOUT,
        s.MAX_RETRIES, s.RETRY_BACKOFF, s.RETRY_MAX_WAIT, transport,
    )  # fmt: skip


def get_client() -> PolarClient:
    """The shared client for the current settings (rebuilt when settings or transport change)."""
    global _cached
    config = _client_config()
    cached = _cached
    if cached is not None and cached[0] == config:
        return cached[1]
    token, base_url, version, timeout, connect, retries, backoff, max_wait, transport = config
    if not token and polar_settings.SERVER != "emulator" and transport is None:
        raise ImproperlyConfigured(
            "POLAR['ACCESS_TOKEN'] is not set; create an organization access token in Polar "
            "(Settings > Developers) and put it in settings.POLAR."
        )
    with _lock:
        if _cached is None or _cached[0] != config:
            client = PolarClient(
                access_token=token, base_url=base_url, api_version=version, timeout=timeout,
                connect_timeout=connect, transport=transport, max_retries=retries,
                retry_backoff=backoff, retry_max_wait=max_wait,
            )  # fmt: skip
            _cached = (config, client)
        return _cached[1]


@contextlib.contextmanager
def use_transport(transport: httpx.BaseTransport) -> Iterator[httpx.BaseTransport]:
    """Route ``get_client()`` through ``transport`` (every thread) inside the block.

    The emulator uses this in tests; blocks nest, the innermost wins.
    """
    with _lock:
        _transports.append(transport)
    try:
        yield transport
    finally:
        with _lock:
            _transports.remove(transport)

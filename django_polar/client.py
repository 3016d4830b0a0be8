"""The Polar API client: the only code in django-polar that speaks HTTP to Polar.

    from django_polar.client import get_client
    product = get_client().get_product(product_id)

Methods return Polar's JSON as plain dicts; ``list_*`` methods are lazy generators over every
item. Requests that are safe to repeat are retried with exponential backoff and jitter; errors
become the typed exceptions of ``django_polar.errors`` (re-exported here); the access token never
appears in a message, a repr or a log line.

Every call has an overall deadline (all attempts, waits and slow bytes included) and a budget
for the waits between attempts. Both are small by default, for web requests; commands and
tasks enter ``background()`` for the larger BACKGROUND_* ones. Past either, the call raises
at once, with ``retry_after`` saying when trying again makes sense:

    with background():          # a management command, a task
        get_client().list_products()
"""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import logging
import random
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import certifi
import httpcore
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
    PolarTimeoutError,
    PolarUnexpectedResponseError,
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
    "PolarTimeoutError",
    "PolarUnexpectedResponseError",
    "PolarValidationError",
    "background",
    "call_budget",
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


# -- deadlines -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallBudget:
    """Seconds one call may take in all (``deadline``) and spend waiting between attempts
    (``retry_sleep``); None is no limit."""

    deadline: float | None
    retry_sleep: float | None


_budget: contextvars.ContextVar[CallBudget | None] = contextvars.ContextVar(
    "polar_call_budget", default=None
)
#: The monotonic time the current call must end by, read by every socket read and write.
_call_ends_at: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "polar_call_ends_at", default=None
)


@contextlib.contextmanager
def call_budget(deadline: float | None, retry_sleep: float | None) -> Iterator[CallBudget]:
    """Calls inside the block (this thread or task) get this budget instead of the client's."""
    budget = CallBudget(deadline, retry_sleep)
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


def background() -> contextlib.AbstractContextManager[CallBudget]:
    """The budget of work nobody waits on: BACKGROUND_DEADLINE and BACKGROUND_RETRY_BUDGET.
    Management commands and tasks run inside it; web requests never should."""
    return call_budget(polar_settings.BACKGROUND_DEADLINE, polar_settings.BACKGROUND_RETRY_BUDGET)


def _bounded(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` cut to what is left of the current call; ``error`` once nothing is."""
    ends_at = _call_ends_at.get()
    if ends_at is None:
        return timeout
    left = ends_at - time.monotonic()
    if left <= 0:
        raise error("the call's deadline passed")
    return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write ends by the call's deadline: httpx's timeouts
    bound one read, so a server sending a byte every few seconds could hold a call forever."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class DeadlineBackend(httpcore.SyncBackend):
    """httpcore's socket backend, handing out ``DeadlineStream``s."""

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, *args: Any, **kwargs: Any
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(super().connect_tcp(host, port, bounded, *args, **kwargs))


def deadline_transport() -> httpx.HTTPTransport:
    """httpx's transport with its connection pool on ``DeadlineBackend`` (httpx has no
    option for a network backend, so the pool it built is replaced by an equal one)."""
    transport = httpx.HTTPTransport()
    transport._pool = httpcore.ConnectionPool(
        ssl_context=ssl.create_default_context(cafile=certifi.where()),
        max_connections=httpx.Limits().max_connections,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=DeadlineBackend(),
    )
    return transport


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
    ``deadline`` and ``retry_budget`` (seconds, None: no limit) are the budget of a call
    made outside ``call_budget()``/``background()``; ``get_client()`` sets the web ones.
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
        deadline: float | None = None,
        retry_budget: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._token = access_token
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.retry_max_wait = retry_max_wait
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.budget = CallBudget(deadline, retry_budget)
        self._sleep = sleep
        self._jitter = jitter
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport if transport is not None else deadline_transport(),
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
        require: str | None = None,
        session_token: str | None = None,
    ) -> Any:
        """Send one API request (with retries) and return the decoded JSON, or None if empty.

        ``session_token``: authenticate as a customer (or member) session instead of the
        organization, for the customer portal's endpoints; it is redacted like the token.

        ``require`` names a key the answer must be an object with (``"id"`` for a Polar
        object): anything else is a ``PolarUnexpectedResponseError``, never a crash later.

        ``idempotent`` defaults to True for GET; pass True for a POST that Polar de-duplicates.
        A 429 or a failed connection attempt is retried for every method: Polar never saw it.
        Retries stop when the wait would pass the call's deadline or retry budget; the error
        then carries ``retry_after``.
        """
        method = method.upper()
        safe = method in SAFE_METHODS if idempotent is None else idempotent
        secrets = [self._token, session_token] if session_token else [self._token]
        shown = redact(path, secrets)
        budget = _budget.get() or self.budget
        started = time.monotonic()
        ends_at = None if budget.deadline is None else started + budget.deadline
        outer = _call_ends_at.get()
        if outer is not None and (ends_at is None or outer < ends_at):
            ends_at = outer  # a call inside a call never outlives the outer one
        token = _call_ends_at.set(ends_at)
        try:
            response = self._attempts(
                method, path, shown, safe, params, json, timeout, budget, ends_at, session_token
            )
        finally:
            _call_ends_at.reset(token)
        return self._decoded(response, method, shown, require)

    def _attempt_timeout(self, timeout: float | None, ends_at: float | None) -> httpx.Timeout:
        read = self.timeout if timeout is None else timeout
        connect = self.connect_timeout if timeout is None else timeout
        if ends_at is not None:
            left = max(ends_at - time.monotonic(), 0.001)
            read, connect = min(read, left), min(connect, left)
        return httpx.Timeout(read, connect=connect)

    def _attempts(
        self,
        method: str,
        path: str,
        shown: str,
        safe: bool,
        params: Mapping[str, Any] | None,
        json: Any,
        timeout: float | None,
        budget: CallBudget,
        ends_at: float | None,
        session_token: str | None = None,
    ) -> httpx.Response:
        """The first 2xx answer; raises for the rest once retrying is not allowed or
        affordable."""
        headers = {"Authorization": f"Bearer {session_token}"} if session_token else None
        retry = 0
        slept = 0.0

        def affordable(wait: float) -> bool:
            if budget.retry_sleep is not None and slept + wait > budget.retry_sleep:
                return False
            return ends_at is None or time.monotonic() + wait < ends_at

        while True:
            started = time.monotonic()
            try:
                response = self._http.request(
                    method,
                    path,
                    params=_params(params or {}),
                    json=json,
                    headers=headers,
                    timeout=self._attempt_timeout(timeout, ends_at),
                )
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
                reason = redact(f"{type(exc).__name__}: {exc}", [self._token])
                wait = self.backoff(retry)
                if (safe or never_sent) and retry < self.max_retries and affordable(wait):
                    self._wait(wait, retry, method, shown, reason)
                    slept += wait
                    retry += 1
                    continue
                timed_out = isinstance(exc, httpx.TimeoutException)
                cls = PolarTimeoutError if timed_out else PolarNetworkError
                raise cls(
                    f"Could not reach Polar for {method} {shown} ({reason}) "
                    f"after {retry + 1} attempt(s) in {time.monotonic() - started:.1f} s; "
                    "check POLAR['SERVER'] and the network.",
                    method=method,
                    path=shown,
                    retry_after=wait,
                ) from None
            elapsed = (time.monotonic() - started) * 1000
            logger.debug(
                "Polar %s %s -> %s in %.0f ms", method, shown, response.status_code, elapsed
            )
            if response.is_success:
                return response
            retry_wait = self._retry_wait(response, retry, safe)
            if retry_wait is None or not affordable(retry_wait):
                later = retry_wait if retry_wait is not None else self.backoff(retry)
                raise self._api_error(response, method, shown, retry_after=later)
            self._wait(retry_wait, retry, method, shown, f"status {response.status_code}")
            slept += retry_wait
            retry += 1

    def _decoded(
        self, response: httpx.Response, method: str, path: str, require: str | None
    ) -> Any:
        """The JSON of a 2xx answer; a proxy's or maintenance page's HTML, or an object
        without the ``require``d key, is an error carrying the status it came with."""
        data = None
        if response.content:
            try:
                data = response.json()
            except ValueError:
                kind = response.headers.get("Content-Type", "no Content-Type").split(";")[0]
                raise PolarUnexpectedResponseError(
                    status=response.status_code,
                    detail=f"the answer is not JSON ({kind}); a proxy or maintenance page?",
                    method=method,
                    path=path,
                ) from None
        if require is not None and not (isinstance(data, dict) and data.get(require)):
            raise PolarUnexpectedResponseError(
                status=response.status_code,
                detail=f"the answer is not an object with {require!r}",
                method=method,
                path=path,
            )
        return data

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

    def _api_error(
        self, response: httpx.Response, method: str, path: str, *, retry_after: float | None = None
    ) -> PolarAPIError:
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
        hinted = parse_retry_after(response.headers.get("Retry-After"))
        if cls is PolarPermissionError:
            kwargs["scope"] = _missing_scope(response, body)
        elif cls is PolarRateLimitError or cls is PolarServerError:
            kwargs["retry_after"] = hinted if hinted is not None else retry_after
        return cls(**kwargs)

    # -- pagination --------------------------------------------------------------------------

    def get_page(self, path: str, page: int = 1, limit: int = PAGE_LIMIT, **params: Any) -> Json:
        """One raw page ``{"items": [...], "pagination": {...}}`` of a list endpoint."""
        data = self.request("GET", path, params={**params, "page": page, "limit": limit})
        if not isinstance(data, dict) or not isinstance(data.get("items", []), list):
            raise PolarUnexpectedResponseError(
                status=200,
                detail="a list page without an 'items' list",
                method="GET",
                path=redact(path, [self._token]),
            )
        return data

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
        return self.request("GET", _path("/v1/products/{}", product_id), require="id")

    def create_product(self, body: Json) -> Json:
        return self.request("POST", "/v1/products/", json=body, require="id")

    def update_product(self, product_id: str, body: Json) -> Json:
        return self.request("PATCH", _path("/v1/products/{}", product_id), json=body, require="id")

    # -- benefits ----------------------------------------------------------------------------

    def list_benefits(self, **params: Any) -> Iterator[Json]:
        return self.paginate("/v1/benefits/", **params)

    def get_benefit(self, benefit_id: str) -> Json:
        return self.request("GET", _path("/v1/benefits/{}", benefit_id), require="id")

    def create_benefit(self, body: Json) -> Json:
        return self.request("POST", "/v1/benefits/", json=body, require="id")

    def update_benefit(self, benefit_id: str, body: Json) -> Json:
        return self.request("PATCH", _path("/v1/benefits/{}", benefit_id), json=body, require="id")

    def list_benefit_grants(self, **params: Any) -> Iterator[Json]:
        return self.paginate("/v1/benefit-grants/", **params)

    # -- customers ---------------------------------------------------------------------------

    def create_customer(self, body: Json) -> Json:
        return self.request("POST", "/v1/customers/", json=body, require="id")

    def get_customer(self, customer_id: str) -> Json:
        return self.request("GET", _path("/v1/customers/{}", customer_id), require="id")

    def get_customer_by_external_id(self, external_id: str) -> Json:
        return self.request("GET", _path("/v1/customers/external/{}", external_id), require="id")

    def update_customer(self, customer_id: str, body: Json) -> Json:
        return self.request(
            "PATCH", _path("/v1/customers/{}", customer_id), json=body, require="id"
        )

    def update_customer_by_external_id(self, external_id: str, body: Json) -> Json:
        return self.request(
            "PATCH", _path("/v1/customers/external/{}", external_id), json=body, require="id"
        )

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
        return self.request(
            "POST", "/v1/customer-sessions/", json=body, require="customer_portal_url"
        )

    # -- checkouts ---------------------------------------------------------------------------

    def create_checkout(self, body: Json) -> Json:
        return self.request("POST", "/v1/checkouts/", json=body, require="id")

    def get_checkout(self, checkout_id: str) -> Json:
        return self.request("GET", _path("/v1/checkouts/{}", checkout_id), require="id")

    def create_checkout_link(self, body: Json) -> Json:
        return self.request("POST", "/v1/checkout-links/", json=body, require="id")

    # -- subscriptions -----------------------------------------------------------------------

    def list_subscriptions(self, **params: Any) -> Iterator[Json]:
        return self.paginate("/v1/subscriptions/", **params)

    def get_subscription(self, subscription_id: str) -> Json:
        return self.request("GET", _path("/v1/subscriptions/{}", subscription_id), require="id")

    def update_subscription(self, subscription_id: str, body: Json) -> Json:
        """One SubscriptionUpdate variant: ``{"cancel_at_period_end": True}``, ``{"product_id":
        ..., "proration_behavior": "invoice"}``, ``{"seats": 5}``, ``{"discount_id": ...}``..."""
        return self.request(
            "PATCH", _path("/v1/subscriptions/{}", subscription_id), json=body, require="id"
        )

    def revoke_subscription(self, subscription_id: str) -> Json:
        return self.request("DELETE", _path("/v1/subscriptions/{}", subscription_id), require="id")

    def create_subscription(self, body: Json) -> Json:
        """Subscribe a customer to a *free* recurring product (a paid one needs a checkout):
        ``{"product_id": ..., "customer_id" or "external_customer_id": ...}``."""
        return self.request("POST", "/v1/subscriptions/", json=body)

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

    # The customer portal's seats: what a team's billing manager does with a customer or
    # member session token (``create_customer_session``), not the organization token.
    def portal_list_seats(
        self, session_token: str, *, subscription_id: str | None = None, order_id: str | None = None
    ) -> Json:
        """``{"seats", "available_seats", "total_seats"}`` of the session customer's own
        subscription (or order); any member of the team may list."""
        params = {"subscription_id": subscription_id} if subscription_id else {"order_id": order_id}
        return self.request(
            "GET", "/v1/customer-portal/seats", params=params, session_token=session_token
        )

    def portal_assign_seat(self, session_token: str, body: Json) -> Json:
        """Like ``assign_seat``; a member session must be an owner's or billing manager's."""
        return self.request(
            "POST", "/v1/customer-portal/seats", json=body, session_token=session_token
        )

    def portal_revoke_seat(self, session_token: str, seat_id: str) -> Json:
        return self.request(
            "DELETE",
            _path("/v1/customer-portal/seats/{}", seat_id),
            session_token=session_token,
        )

    def portal_resend_seat_invitation(self, session_token: str, seat_id: str) -> Json:
        return self.request(
            "POST",
            _path("/v1/customer-portal/seats/{}/resend", seat_id),
            json={},
            session_token=session_token,
        )

    # The customer portal's members: a member session of the team's owner or billing
    # manager (a customer session is refused).
    def portal_list_members(self, session_token: str, *, page: int = 1) -> Json:
        return self.request(
            "GET",
            "/v1/customer-portal/members",
            params={"page": page, "limit": 100},
            session_token=session_token,
        )

    def portal_add_member(self, session_token: str, body: Json) -> Json:
        """``{"email", "name"?, "role"?}``; never an owner; an existing email is returned."""
        return self.request(
            "POST", "/v1/customer-portal/members", json=body, session_token=session_token
        )

    def portal_update_member(self, session_token: str, member_id: str, body: Json) -> Json:
        return self.request(
            "PATCH",
            _path("/v1/customer-portal/members/{}", member_id),
            json=body,
            session_token=session_token,
        )

    def portal_remove_member(self, session_token: str, member_id: str) -> None:
        self.request(
            "DELETE",
            _path("/v1/customer-portal/members/{}", member_id),
            session_token=session_token,
        )

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
        return self.request("GET", _path("/v1/orders/{}", order_id), require="id")

    def generate_invoice(self, order_id: str) -> Any:
        return self.request("POST", _path("/v1/orders/{}/invoice", order_id))

    def get_invoice(self, order_id: str) -> Json:
        return self.request("GET", _path("/v1/orders/{}/invoice", order_id))

    def update_order(self, order_id: str, body: Json) -> Json:
        """Set the invoice's ``billing_name`` / ``billing_address`` (Polar refuses a new
        country or state once an address is set)."""
        return self.request("PATCH", _path("/v1/orders/{}", order_id), json=body)

    def get_receipt(self, order_id: str) -> Json | None:
        """The receipt PDF's ``{"url"}``; None while Polar is still rendering it (202)."""
        return self.request("GET", _path("/v1/orders/{}/receipt", order_id))

    def list_payment_methods(self, customer_id: str) -> Iterator[Json]:
        """The customer's saved payment methods (cards), the default one flagged."""
        return self.paginate(_path("/v1/customers/{}/payment-methods", customer_id))

    def create_refund(self, body: Json) -> Json:
        return self.request("POST", "/v1/refunds/", json=body, require="id")

    def create_discount(self, body: Json) -> Json:
        return self.request("POST", "/v1/discounts/", json=body, require="id")

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

    @staticmethod
    def _license_path(action: str, portal: bool) -> str:
        """The organization endpoint, or its customer-portal twin (no token needed; 3
        requests a second per client IP)."""
        return f"/v1/{'customer-portal/' if portal else ''}license-keys/{action}"

    def validate_license_key(self, body: Json, *, portal: bool = False) -> Json:
        """Validate a key; a read (retried) unless it increments usage."""
        safe = not body.get("increment_usage")
        path = self._license_path("validate", portal)
        return self.request("POST", path, json=body, idempotent=safe)

    def activate_license_key(self, body: Json, *, portal: bool = False) -> Json:
        return self.request("POST", self._license_path("activate", portal), json=body, require="id")

    def deactivate_license_key(self, body: Json, *, portal: bool = False) -> None:
        self.request("POST", self._license_path("deactivate", portal), json=body)

    def list_license_keys(self, **params: Any) -> Iterator[Json]:
        return self.paginate("/v1/license-keys/", **params)

    # -- webhook endpoints and deliveries ----------------------------------------------------

    def list_webhook_endpoints(self, **params: Any) -> Iterator[Json]:
        return self.paginate("/v1/webhooks/endpoints", **params)

    def create_webhook_endpoint(self, body: Json) -> Json:
        """``{"url": "https://...", "format": "raw", "events": [...]}``; Polar generates the
        signing ``secret`` and answers it once here."""
        return self.request("POST", "/v1/webhooks/endpoints", json=body)

    def get_webhook_endpoint(self, endpoint_id: str) -> Json:
        return self.request("GET", _path("/v1/webhooks/endpoints/{}", endpoint_id))

    def update_webhook_endpoint(self, endpoint_id: str, body: Json) -> Json:
        return self.request("PATCH", _path("/v1/webhooks/endpoints/{}", endpoint_id), json=body)

    def delete_webhook_endpoint(self, endpoint_id: str) -> None:
        self.request("DELETE", _path("/v1/webhooks/endpoints/{}", endpoint_id))

    def list_webhook_deliveries(self, **params: Any) -> Iterator[Json]:
        """Delivery attempts, newest first (filters: ``endpoint_id``, ``succeeded``...)."""
        return self.paginate("/v1/webhooks/deliveries", **params)

    def redeliver_webhook_event(self, event_id: str) -> None:
        """Send a webhook event (the ``webhook-id`` of a delivery) to its endpoint again."""
        self.request("POST", _path("/v1/webhooks/events/{}/redeliver", event_id))

    def get_metrics(self, **params: Any) -> Json:
        """Polar's ``/v1/metrics/`` (``start_date``, ``end_date``, ``interval``, ``metrics``)."""
        return self.request("GET", "/v1/metrics/", params=_params(params))

    def get_license_key(self, license_key_id: str) -> Json:
        """The full key (the mirror's grant only holds Polar's masked ``display_key``)."""
        return self.request("GET", _path("/v1/license-keys/{}", license_key_id))


# -- the process-wide client -------------------------------------------------------------------

_lock = threading.Lock()
_cached: tuple[tuple[Any, ...], PolarClient] | None = None
_transports: list[httpx.BaseTransport] = []


def _client_config() -> tuple[Any, ...]:
    s = polar_settings
    transport = _transports[-1] if _transports else None
    return (
        s.ACCESS_TOKEN, s.base_url, s.API_VERSION, s.TIMEOUT, s.CONNECT_TIMEOUT,
        s.MAX_RETRIES, s.RETRY_BACKOFF, s.RETRY_MAX_WAIT, s.DEADLINE, s.RETRY_BUDGET, transport,
    )  # fmt: skip


def get_client() -> PolarClient:
    """The shared client for the current settings (rebuilt when settings or transport change)."""
    global _cached
    config = _client_config()
    cached = _cached
    if cached is not None and cached[0] == config:
        return cached[1]
    (token, base_url, version, timeout, connect, retries, backoff, max_wait, deadline,
     retry_budget, transport) = config  # fmt: skip
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
                retry_backoff=backoff, retry_max_wait=max_wait, deadline=deadline,
                retry_budget=retry_budget,
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

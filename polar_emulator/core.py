"""The Emulator: one in-memory Polar organization behind an HTTP-shaped ``handle`` call."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from . import api
from .bulk import bulk_seed
from .catalog import Catalog
from .checkouts import Checkouts
from .custom_fields import CustomFields
from .customers import Customers
from .discounts import Discounts
from .dunning import Dunning
from .errors import APIError, invalid, too_many_requests, unauthorized
from .faults import Faults
from .grants import Grants
from .license_keys import LicenseKeys
from .metrics import Metrics
from .orders import Orders
from .organizations import DEFAULT_SUBSCRIPTION_SETTINGS, Organizations
from .payments import Payments
from .seats import Seats
from .seed import DEFAULT_SEED, apply_seed
from .serializers import Serializer
from .store import Clock, Store, iso
from .subscriptions import Subscriptions
from .usage import Usage
from .webhook_endpoints import WebhookEndpoints
from .webhooks import Endpoint, Target, Webhooks

API_VERSION = "2026-10"
SUPPORTED_VERSIONS = frozenset({API_VERSION})

# Webhook types Polar 2026-10 has but the emulator never sends, and why:
# subscription.migrated — only for subscriptions imported from another billing provider,
# which cannot happen here.
NEVER_EMITTED = frozenset({"subscription.migrated"})


def _organization(store: Store, now: str) -> dict[str, Any]:
    return {
        "created_at": now,
        "modified_at": None,
        "id": store.new_id(),
        "name": "Emulated Organization",
        "slug": "emulated-org",
        "avatar_url": None,
        "proration_behavior": "prorate",
        "allow_customer_updates": True,
        "email": None,
        "website": None,
        "socials": [],
        "status": "active",
        "details_submitted_at": now,
        "onboarding_resubmission_requested_at": None,
        "sso_enforced": False,
        "default_presentment_currency": "usd",
        "default_tax_behavior": "location",
        # The member model on (organization.is_member_model_enabled, which
        # customer_seat/service.py follows); seat-based pricing is always enabled here
        # (check_seat_feature_enabled never refuses).
        "feature_settings": {"member_model_enabled": True},
        "subscription_settings": dict(DEFAULT_SUBSCRIPTION_SETTINGS),
        "customer_email_settings": {
            k: True
            for k in (
                "order_confirmation",
                "payment_method_expiration_reminder",
                "subscription_cancellation",
                "subscription_confirmation",
                "subscription_cycled",
                "subscription_cycled_after_trial",
                "subscription_past_due",
                "subscription_paused",
                "subscription_resumed",
                "subscription_renewal_reminder",
                "subscription_revoked",
                "subscription_trial_conversion_reminder",
                "subscription_uncanceled",
                "subscription_updated",
            )
        },
        "customer_portal_settings": {
            "usage": {"show": True},
            "subscription": {"update_seats": True, "update_plan": True},
        },
        "dispute_settings": {"auto_accept_below_amount": None},
        "embed_hosts": [],
        "country": "US",
        "account_id": None,
        "payout_account_id": None,
        "capabilities": {
            k: True
            for k in (
                "checkout_payments",
                "subscription_renewals",
                "payouts",
                "refunds",
                "api_access",
                "dashboard_access",
            )
        },
    }


class Emulator:
    """A faithful, stateful, in-memory Polar API 2026-10.

    ``seed``: a catalog description (see ``seed.py``) or ``"default"``.
    ``access_token``: the only bearer token accepted; None accepts any non-empty token.
    ``token_scopes``: the scopes that token holds (e.g. ``{"products:read"}``); an operation
    needing none of them answers 403 ``insufficient_scope``, as Polar does. None: all scopes.
    ``frozen_clock``: time moves only through ``emu.clock.advance`` (deterministic tests).
    ``autodeliver``: flush pending webhooks after every API call and control action.
    """

    api_version = API_VERSION

    def __init__(
        self,
        seed: dict[str, Any] | str | None = None,
        *,
        base_url: str = "http://127.0.0.1:8765",
        access_token: str | None = None,
        token_scopes: Iterable[str] | None = None,
        frozen_clock: bool = False,
        clock: Clock | None = None,
        autodeliver: bool = True,
        tax_rate_bps: int = 0,
        rng_seed: int | None = None,
        _store: Store | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.access_token = access_token
        self.token_scopes = frozenset(token_scopes) if token_scopes is not None else None
        self.autodeliver = autodeliver
        #: The bearer token of the request being answered (None: no bearer token).
        self.request_token: str | None = None
        self.tax_rate_bps = tax_rate_bps
        self.clock = clock or Clock(frozen=frozen_clock)
        self.store = _store or Store(rng_seed)
        self.ids: dict[str, str] = {}
        # One seed makes ids and faults (shuffle, error and duplicate rates) repeatable.
        self.faults = Faults(rng=random.Random(rng_seed))
        self._lock = threading.RLock()
        self._dirty_customers: list[str] = []
        self._depth = 0
        self.ser = Serializer(self)
        self.organizations = Organizations(self)
        self.catalog = Catalog(self)
        self.discounts = Discounts(self)
        self.custom_fields = CustomFields(self)
        self.customers = Customers(self)
        self.checkouts = Checkouts(self)
        self.subscriptions = Subscriptions(self)
        self.dunning = Dunning(self)
        self.orders = Orders(self)
        self.grants = Grants(self)
        self.license_keys = LicenseKeys(self)
        self.seats = Seats(self)
        self.usage = Usage(self)
        self.payments = Payments(self)
        self.webhooks = Webhooks(self)
        self.webhook_endpoints = WebhookEndpoints(self)
        self.metrics = Metrics(self)
        if not self.store.organization:
            self.store.organization = _organization(self.store, iso(self.clock.now()))
        self.clock.listeners.append(self.tick)
        if isinstance(seed, str) and seed != "default":
            raise ValueError(f"seed must be 'default', a seed dict or None, not {seed!r}")
        if seed is not None:
            self.seed(DEFAULT_SEED if isinstance(seed, str) else seed)

    # events -----------------------------------------------------------------------
    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        self.webhooks.emit(event_type, data)

    def state_changed(self, customer_id: str) -> None:
        """Mark a customer so one customer.state_changed goes out when the action ends."""
        if customer_id not in self._dirty_customers:
            self._dirty_customers.append(customer_id)

    @contextmanager
    def action(self) -> Iterator[None]:
        """Run a state change atomically-ish: lock, then announce state changes, then deliver."""
        with self._lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    dirty, self._dirty_customers = self._dirty_customers, []
                    for customer_id in dirty:
                        customer = self.store.customers.get(customer_id)
                        if customer is not None and customer["deleted_at"] is None:
                            self.emit(
                                "customer.state_changed", self.ser.customer_state(customer_id)
                            )
        if self._depth == 0 and self.autodeliver:
            self.webhooks.deliver()

    @property
    def sent_events(self) -> list[dict[str, Any]]:
        """Every webhook event emitted, in order: {"type", "timestamp", "api_version", "data"}."""
        return self.webhooks.sent_events

    def event_types(self) -> list[str]:
        return [e["type"] for e in self.sent_events]

    # webhooks ---------------------------------------------------------------------
    def add_webhook_endpoint(
        self,
        target: Target,
        *,
        secret: str,
        scheme: str = "standard",
        events: list[str] | None = None,
    ) -> Endpoint:
        """Deliver signed events to a URL (real HTTP POST) or a callable(body, headers) -> status."""
        return self.webhooks.add_endpoint(target, secret=secret, scheme=scheme, events=events)

    def route_webhook_url(self, url: str, target: Target) -> None:
        """An endpoint made through ``POST /v1/webhooks/endpoints`` (Polar accepts public
        https URLs only) delivers to ``target`` (a local URL or a callable) instead of
        its URL: the emulator sends nothing off this machine."""
        self.webhooks.route(url, target)

    def deliver(self, *, force: bool = False) -> int:
        """Flush due webhook deliveries (``force``: ignore retry backoff). Returns successes."""
        return self.webhooks.deliver(force=force)

    # time -------------------------------------------------------------------------
    def tick(self) -> None:
        """Apply everything the clock made due: renewals, period ends, trials, expiries."""
        with self.action():
            self.orders.run_jobs()
            for _ in range(10000):
                for checkout in list(self.store.checkouts.values()):
                    self.checkouts.expire_if_due(checkout)
                if not self.subscriptions.tick():
                    break

    # HTTP -------------------------------------------------------------------------
    def handle(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one HTTP request like Polar would. ``path`` may carry a query string.
        HEAD is answered as GET without the body."""
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        method = method.upper()
        if self.faults.latency:
            time.sleep(self.faults.latency)
        try:
            status, payload = self._handle(
                "GET" if method == "HEAD" else method, path, headers, body
            )
            out_headers: dict[str, str] = {}
        except APIError as err:
            status, payload, out_headers = err.status, err.body, dict(err.headers)
        if status == 204 or payload is None:
            return status, out_headers, b""
        out_headers["content-type"] = "application/json"
        return status, out_headers, b"" if method == "HEAD" else json.dumps(payload).encode()

    def _handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, Any]:
        retry_after = self.faults.rate_limited()
        if retry_after is not None:
            raise too_many_requests(retry_after)
        failure = self.faults.server_error()
        if failure == 429:
            raise too_many_requests(self.faults.retry_after)
        if failure is not None:
            raise APIError(
                failure, {"error": "InternalServerError", "detail": "Emulated server error."}
            )
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        bearer = token.strip() if scheme.lower() == "bearer" else None
        public = self._public_path(path)
        if (
            scheme.lower() != "bearer"
            or not token.strip()
            or (self.access_token is not None and token.strip() != self.access_token)
        ):
            if not public:
                raise unauthorized()
        version = headers.get("polar-version")
        if version is not None and version not in SUPPORTED_VERSIONS:
            raise APIError(
                404, {"error": "ResourceNotFound", "detail": f"Unknown API version: {version}"}
            )
        parts = urlsplit(path)
        query = parse_qs(parts.query, keep_blank_values=True)
        data: Any = None
        if body:
            try:
                data = json.loads(body)
            except ValueError:
                raise invalid(["body", 0], "JSON decode error", "json_invalid") from None
        elif method in ("POST", "PATCH", "PUT"):
            data = None
        with self.action():
            # The customer portal's seat routes read the customer or member session token
            # (set under the emulator's lock, so each request sees its own).
            self.request_token = bearer
            self.orders.run_jobs()
            if (
                data is None
                and method in ("POST", "PATCH")
                and not parts.path.endswith(
                    ("/confirm", "/invoice", "/redeliver", "/secret", "/resend")
                )
            ):
                raise invalid(["body"], "Field required", "missing")
            return api.dispatch(
                self, method, parts.path, query, data, scopes=None if public else self.token_scopes
            )

    @staticmethod
    def _public_path(path: str) -> bool:
        """Polar's checkout client endpoints, and the customer portal's license key
        validate, activate and deactivate (customer_portal/endpoints/license_keys.py), need
        no token. The organization's license key validate, activate and deactivate do: a
        token with ``license_keys:write`` (license_key/endpoints.py, ``LicenseKeysWrite``)."""
        p = urlsplit(path).path
        # The seat claim endpoints are public too (customer_seat/endpoints.py: no auth);
        # the portal's seats take a customer or member session token, checked by the
        # route (customer_portal/auth.py), never the organization's.
        return p.startswith(
            (
                "/v1/checkouts/client/",
                "/v1/customer-seats/claim",
                "/v1/customer-portal/seats",
                "/v1/customer-portal/members",
            )
        ) or p in (
            "/v1/customer-portal/license-keys/validate",
            "/v1/customer-portal/license-keys/activate",
            "/v1/customer-portal/license-keys/deactivate",
        )

    def transport(self) -> httpx.BaseTransport:
        """An httpx transport: ``httpx.Client(transport=emu.transport(), base_url=...)``."""
        return EmulatorTransport(self)

    def api_wsgi_app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        """A WSGI app serving the API (pages are mounted around it by the server)."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        path = environ.get("PATH_INFO", "/")
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        method = environ["REQUEST_METHOD"].upper()
        # HEAD is GET without the body (as on Polar), with the GET answer's headers.
        status, out_headers, payload = self.handle(
            "GET" if method == "HEAD" else method, path, headers, body
        )
        reason = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content"}.get(
            status, "Error"
        )
        start_response(
            f"{status} {reason}", [*out_headers.items(), ("Content-Length", str(len(payload)))]
        )
        return [] if method == "HEAD" else [payload]

    # control actions (what Polar's hosted pages and dashboard do) ---------------------
    def seed(self, seed: dict[str, Any]) -> dict[str, str]:
        with self.action():
            return apply_seed(self, seed)

    @staticmethod
    def default_seed() -> dict[str, Any]:
        """The demo catalog: Pro monthly (14-day trial) and yearly, lifetime, team seats,
        metered API plan, pay-what-you-want donation, license key + feature flag benefits."""
        return json.loads(json.dumps(DEFAULT_SEED))

    def product_id(self, key: str) -> str:
        return self.ids[key]

    def bulk_seed(
        self,
        *,
        customers: int = 0,
        subscriptions: int = 0,
        orders: int = 0,
        product_key: str | None = None,
        order_product_key: str | None = None,
        external_ids: bool = False,
    ) -> dict[str, list[str]]:
        """Create thousands of customers, active subscriptions and paid orders fast, for
        sync tests and benchmarks: the objects the API serves, without checkouts and
        without webhooks. Returns their ids by kind. See ``bulk.bulk_seed``."""
        with self.action():
            return bulk_seed(
                self,
                customers=customers,
                subscriptions=subscriptions,
                orders=orders,
                product_key=product_key,
                order_product_key=order_product_key,
                external_ids=external_ids,
            )

    def pay_checkout(
        self,
        checkout_id_or_client_secret: str,
        *,
        email: str | None = None,
        name: str | None = None,
        amount: int | None = None,
        seats: int | None = None,
        discount_code: str | None = None,
        billing_address: dict[str, Any] | None = None,
        billing_name: str | None = None,
        tax_id: str | None = None,
        custom_field_data: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Press Pay on the hosted checkout; returns the checkout as the API shows it.

        Polar's page cannot be paid without a billing country when a payment form is
        shown (checkout/service.py ``_get_required_confirm_fields``), so the buyer gives
        ``billing_address`` or, by default, ``{"country": "US"}``. The page sends its
        custom fields as filled in: the checkout's ``custom_field_data`` (prefilled by the
        merchant), updated with ``custom_field_data``."""
        body: dict[str, Any] = {}
        for key, value in (
            ("customer_email", email),
            ("customer_name", name),
            ("customer_billing_name", billing_name),
            ("customer_tax_id", tax_id),
            ("amount", amount),
            ("seats", seats),
            ("discount_code", discount_code),
        ):
            if value is not None:
                body[key] = value
        with self.action():
            checkout = self.checkouts.resolve(checkout_id_or_client_secret)
            if billing_address is not None:
                body["customer_billing_address"] = billing_address
            elif checkout["customer_billing_address"] is None and checkout.get(
                "is_payment_form_required"
            ):
                body["customer_billing_address"] = {"country": "US"}
            body["custom_field_data"] = {
                **checkout["custom_field_data"],
                **(custom_field_data or {}),
            }
            self.checkouts.confirm(checkout, body)
            return self.ser.checkout(checkout["id"])

    def open_checkout_link(
        self, client_secret: str, embed_origin: str | None = None
    ) -> dict[str, Any]:
        """Open a checkout link (what its URL does): a new checkout session, embedded in a
        page at ``embed_origin`` when the embed script opened it."""
        with self.action():
            return self.ser.checkout(
                self.checkouts.open_link(client_secret, embed_origin=embed_origin)["id"]
            )

    def cancel_subscription(
        self, subscription_id: str, *, reason: str | None = None, comment: str | None = None
    ) -> dict[str, Any]:
        """Cancel at period end as the customer does in the portal, with their own
        reason and comment."""
        with self.action():
            sub = self.subscriptions.get(subscription_id)
            self.subscriptions.cancel(sub, reason=reason, comment=comment)
            return self.ser.subscription(subscription_id)

    def uncancel_subscription(self, subscription_id: str) -> dict[str, Any]:
        with self.action():
            self.subscriptions.uncancel(self.subscriptions.get(subscription_id))
            return self.ser.subscription(subscription_id)

    def revoke_subscription(self, subscription_id: str) -> dict[str, Any]:
        with self.action():
            self.subscriptions.revoke(self.subscriptions.get(subscription_id))
            return self.ser.subscription(subscription_id)

    def change_subscription_product(
        self, subscription_id: str, product_id: str, proration_behavior: str | None = None
    ) -> dict[str, Any]:
        with self.action():
            self.subscriptions.change(
                self.subscriptions.get(subscription_id),
                product_id=product_id,
                proration=proration_behavior,
            )
            return self.ser.subscription(subscription_id)

    def change_subscription_seats(
        self, subscription_id: str, seats: int, proration_behavior: str | None = None
    ) -> dict[str, Any]:
        with self.action():
            self.subscriptions.change(
                self.subscriptions.get(subscription_id), seats=seats, proration=proration_behavior
            )
            return self.ser.subscription(subscription_id)

    def configure_organization(
        self,
        *,
        subscription_settings: dict[str, Any] | None = None,
        feature_settings: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Change the organization's settings as the dashboard does (given keys replace
        the current ones), e.g. ``subscription_settings={"allow_multiple_subscriptions":
        True}`` or ``feature_settings={"reset_proration_behavior_enabled": True}``."""
        with self.action():
            self.organizations.configure(
                subscription_settings=subscription_settings, feature_settings=feature_settings
            )
            return self.ser.organization()

    def fail_next_renewal(self, subscription_id: str, *, failed_retries: int | None = None) -> None:
        """The next renewal payment of this subscription is declined -> past_due, and
        Polar's dunning retries (2, 7, 14, 21 days later) decline too: all of them
        (``None``, until ``recover_subscription``; after the last the subscription is
        revoked) or the first ``failed_retries`` ones, the next succeeding."""
        with self.action():
            sub = self.subscriptions.get(subscription_id)
            sub["_fail_next_renewal"] = True
            sub["_declines"] = failed_retries

    def recover_subscription(self, subscription_id: str) -> dict[str, Any]:
        """A past_due subscription's customer updates their card: pending renewal is paid."""
        with self.action():
            self.subscriptions.recover(self.subscriptions.get(subscription_id))
            return self.ser.subscription(subscription_id)

    def customer_session(self, token: str) -> dict[str, Any] | None:
        """The live customer session for a portal token (None if unknown or expired)."""
        with self._lock:
            session = self.customers.session_by_token(token)
            return self.ser.customer_session(session["id"]) if session else None

    def customer_state(self, customer_id: str) -> dict[str, Any]:
        with self._lock:
            return self.ser.customer_state(self.customers.get(customer_id)["id"])

    def checkout(self, checkout_id_or_client_secret: str) -> dict[str, Any]:
        with self._lock:
            checkout = self.checkouts.resolve(checkout_id_or_client_secret)
            return self.ser.checkout(checkout["id"])

    # persistence ------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the whole state (not endpoints or faults) as JSON, for a demo restart."""
        with self._lock:
            blob = {
                "version": 1,
                "store": self.store.dump(),
                "clock": self.clock.dump(),
                "ids": self.ids,
                "base_url": self.base_url,
            }
        tmp = Path(path).with_suffix(".tmp")
        tmp.write_text(json.dumps(blob))
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> Emulator:
        blob = json.loads(Path(path).read_text())
        kwargs.setdefault("base_url", blob.get("base_url", "http://127.0.0.1:8765"))
        emu = cls(clock=Clock.restore(blob["clock"]), _store=Store.restore(blob["store"]), **kwargs)
        emu.ids.update(blob.get("ids", {}))
        return emu


class EmulatorTransport(httpx.BaseTransport):
    """Routes an httpx.Client straight into the emulator: no sockets, same bytes."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        status, headers, body = self.emu.handle(
            request.method, path, dict(request.headers), request.read()
        )
        return httpx.Response(status, headers=headers, content=body, request=request)

"""The Billable mixin: what any model (a user, a team) can do with Polar.

    class User(Billable, AbstractUser): ...

    user.checkout(["pro-monthly"]).redirect()
    user.subscribed()                       # read from the local mirror, one query
    user.subscription().cancel()
    user.redirect_to_customer_portal()

State is always read from the mirror; only actions (checkout, portal, customer
creation, usage) call Polar. Identity is the customer's ``external_id``, derived and
parsed in ``django_polar.identity`` (``BillableIdentity``, which this mixin builds on).
The external-id helpers, ``billable_for_request`` and ``CustomerConflictError`` are still
importable from here (their old path).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.db import models
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.utils import timezone

from . import mirror, usage
from .checkout import CheckoutBuilder
from .client import get_client
from .entitlements import benefit_q
from .errors import (
    AlreadySubscribedError,
    CheckoutError,
    CustomerConflictError,
    PolarNotFoundError,
    PolarValidationError,
    ReservedMetadataKeyError,
)
from .identity import (
    EXTERNAL_ID_SEPARATOR,
    BillableIdentity,
    billable_for_request,
    billable_from_external_id,
    billable_models,
    billables_from_external_ids,
)
from .models import (
    DEFAULT_TYPE,
    SUBSCRIPTION_TYPE_KEY,
    Benefit,
    BenefitGrant,
    Customer,
    Member,
    Order,
    OrderStatus,
    Subscription,
    UsageEvent,
    resolve_product_id,
)
from .models.subscription import SubscriptionQuerySet
from .redirects import see_other

logger = logging.getLogger("django_polar")

#: Old import paths: these names live in ``identity`` and ``errors`` now.
__all__ = [
    "EXTERNAL_ID_SEPARATOR",
    "Billable",
    "BillingStatus",
    "CustomerConflictError",
    "billable_for_request",
    "billable_from_external_id",
    "billable_models",
    "billables_from_external_ids",
    "billing_status_for",
    "prefetch_polar_subscriptions",
]


class Billable(BillableIdentity):
    """Mixin for any model that pays: ``class Team(Billable, models.Model)``.

    Override the ``get_polar_*`` hooks to change what Polar sees; set
    ``polar_external_id_is_pk = True`` on (at most) one model when existing Polar
    customers are already keyed by that model's plain pk.
    """

    #: Polar customer type for new customers: "individual" or "team".
    polar_customer_type: ClassVar[str] = "individual"

    if TYPE_CHECKING:  # set by prefetch_subscriptions
        _polar_subscriptions_cache: list[Subscription]

    def get_polar_email(self) -> str:
        """The email Polar sends receipts to. Default: the ``email`` attribute."""
        return getattr(self, "email", "") or ""

    def get_polar_name(self) -> str:
        """The customer name shown on invoices. Default: full name, else ``str(self)``."""
        get_full_name = getattr(self, "get_full_name", None)
        name = get_full_name() if callable(get_full_name) else ""
        return (name or str(self))[:256]

    def get_polar_customer_metadata(self) -> dict[str, str | int | float | bool]:
        """Extra metadata stored on the Polar customer. Default: none."""
        return {}

    def polar_may_claim_customer_by_email(self) -> bool:
        """Whether a Polar customer with this billable's email and no external id may be
        linked to it (e.g. one created in Polar's dashboard before the app existed).

        Default False: email is not an identity key, and claiming by email would let
        someone who signs up with another person's address take over that person's
        customer (orders, subscriptions, benefits). Return True only when the project has
        verified that this billable owns the address (e.g. a confirmed email flag).
        """
        return False

    # -- the customer ----------------------------------------------------------------------
    def _polar_customer_q(self) -> Q:
        """Rows of this billable's customer: by external id, or by the stored link."""
        opts = self._meta
        return Q(external_id=self.get_polar_external_id()) | Q(
            billable_type__app_label=opts.app_label,
            billable_type__model=opts.model_name,
            billable_id=str(self.pk),
        )

    def _polar_customer_ids(self) -> models.QuerySet[Customer, Any]:
        """A subquery of this billable's customer ids (keeps lookups to one query)."""
        return Customer.objects.filter(self._polar_customer_q()).values("pk")

    @property
    def polar_customer(self) -> Customer | None:
        """The local mirror of this billable's Polar customer, or None (one query)."""
        if self.pk is None:
            return None
        rows = list(Customer.objects.live().filter(self._polar_customer_q())[:2])
        external_id = self.get_polar_external_id()
        # Prefer the row carrying our external id over an older stored link.
        rows.sort(key=lambda c: c.external_id != external_id)
        return rows[0] if rows else None

    def get_or_create_polar_customer(self) -> Customer:
        """Return the Polar customer, creating it (with our external id) if needed.

        A 422 from Polar (the external id or email is taken) means the customer may exist:
        the one with our external id is fetched and linked, never created twice. A customer
        that only shares the email is linked only when ``polar_may_claim_customer_by_email()``
        says so; otherwise ``CustomerConflictError`` is raised.
        """
        customer = self.polar_customer
        if customer is not None:
            return customer
        client = get_client()
        payload: dict[str, Any] = {
            "external_id": self.get_polar_external_id(),
            "email": self.get_polar_email() or None,  # a team customer may have none
            "name": self.get_polar_name() or None,
            "type": self.polar_customer_type,
        }
        metadata = self.get_polar_customer_metadata()
        if metadata:
            payload["metadata"] = metadata
        try:
            data = client.create_customer(payload)
        except PolarValidationError:
            try:
                data = client.get_customer_by_external_id(payload["external_id"])
            except PolarNotFoundError:
                data = self._claim_polar_customer_by_email(payload["email"])
        return self._store_polar_customer(data)

    def _claim_polar_customer_by_email(self, email: str | None) -> dict[str, Any]:
        """Link an existing Polar customer that has this email and no external id yet
        (only when ``polar_may_claim_customer_by_email()`` allows it). A billable without
        an email (a team may have none) has nothing to claim."""
        none_exists = (
            f"Polar refused to create a customer for {self._meta.label} {self.pk} and "
            "none with its external id or email exists; check the customer in Polar."
        )
        if not email:
            raise CustomerConflictError(none_exists)
        if not self.polar_may_claim_customer_by_email():
            raise CustomerConflictError(
                f"Polar refused to create a customer for {self._meta.label} {self.pk}: its "
                "email probably belongs to an existing Polar customer, and email is not an "
                "identity key, so it is not linked. Link it in Polar (set its external id) or "
                "return True from polar_may_claim_customer_by_email() once emails are verified."
            )
        client = get_client()
        external_id = self.get_polar_external_id()
        wanted = email.casefold()
        matches = [
            c
            for c in client.list_customers(email=email)
            if (c.get("email") or "").casefold() == wanted
        ]
        if not matches:
            raise CustomerConflictError(none_exists)
        existing = matches[0]
        if existing.get("external_id") not in (None, "", external_id):
            raise CustomerConflictError(
                f"A Polar customer with the email of {self._meta.label} {self.pk} already "
                "belongs to another billable (different external id); not linking it."
            )
        if existing.get("external_id") != external_id:
            existing = client.update_customer(existing["id"], {"external_id": external_id})
        return existing

    def _store_polar_customer(self, data: dict[str, Any]) -> Customer:
        # The mirror links the row to this billable through its external id.
        return mirror.upsert_customer(data)

    def sync_polar_customer(self) -> Customer:
        """Push the current email, name and metadata to Polar (after a profile change)."""
        customer = self.get_or_create_polar_customer()
        payload: dict[str, Any] = {
            "email": self.get_polar_email(),
            "name": self.get_polar_name() or None,
        }
        metadata = self.get_polar_customer_metadata()
        if metadata:
            payload["metadata"] = metadata
        data = get_client().update_customer(str(customer.pk), payload)
        return self._store_polar_customer(data)

    # -- checkout --------------------------------------------------------------------------
    def checkout(self, products: Any, **options: Any) -> CheckoutBuilder:
        """A checkout builder for one or more products (ids, slugs or Product rows).

        ``options`` are shortcuts for the builder methods: success_url, return_url,
        metadata, customer_metadata, discount, allow_discount_codes, amount, seats,
        embed_origin, type, request.
        """
        return CheckoutBuilder(self, products, **options)

    def subscribe(self, product: Any, type: str = DEFAULT_TYPE, **options: Any) -> CheckoutBuilder:
        """Checkout for a subscription of ``type`` ("default", "swimming" ...)."""
        return self.checkout([product], type=type, **options)

    def charge(self, amount: int, product: Any, **options: Any) -> CheckoutBuilder:
        """Checkout for a pay-what-you-want product at ``amount`` (minor units)."""
        return self.checkout([product], amount=amount, **options)

    def upgrade(self, product: Any, type: str = DEFAULT_TYPE, **options: Any) -> CheckoutBuilder:
        """Checkout that upgrades this billable's free subscription of ``type`` to the paid
        ``product``: on payment Polar moves the same subscription (same id, benefits follow
        the new product) instead of adding a second one. Polar upgrades free
        subscriptions only; a paid one changes plan with ``subscription.swap()``."""
        subscription = self.subscription(type)
        if subscription is None or subscription.ended():
            raise CheckoutError(f"{self!r} has no live subscription of type {type!r} to upgrade.")
        return self.checkout([product], **options).upgrading(subscription)

    def subscribe_free(
        self,
        product: Any,
        type: str = DEFAULT_TYPE,
        metadata: dict[str, str | int | float | bool] | None = None,
    ) -> Subscription:
        """Subscribe to a *free* recurring product without a checkout (a free tier given
        at sign-up): ``POST /v1/subscriptions/``, for this billable's customer (created
        first if needed). Polar's answer is in the mirror on return; the webhooks that
        follow (subscription.created/active/updated) change nothing more.

        Polar refuses a product that is not free or not recurring (``PolarValidationError``
        with its message: a paid plan needs a checkout). Calling it again is harmless: a
        valid subscription of ``type`` to the same product is returned as is, without a
        call. One of ``type`` to another product raises ``AlreadySubscribedError``: Polar
        would make a second, side-by-side subscription; ``swap()`` the existing one.
        """
        product_id = resolve_product_id(product)
        if SUBSCRIPTION_TYPE_KEY in (metadata or {}):
            raise ReservedMetadataKeyError(
                f"{SUBSCRIPTION_TYPE_KEY!r} is set by the app; pass type={type!r} instead."
            )
        existing = self._valid_subscriptions(type)
        for subscription in existing:
            if str(subscription.product_id) == product_id:
                return subscription
        if existing:
            raise AlreadySubscribedError(
                f"{self._meta.label} {self.pk} already has a valid {type!r} subscription "
                f"({existing[0].pk}); swap() it to change plans instead of adding a second."
            )
        customer = self.get_or_create_polar_customer()
        data = get_client().create_subscription(
            {
                "product_id": product_id,
                "customer_id": str(customer.pk),
                "metadata": {**(metadata or {}), SUBSCRIPTION_TYPE_KEY: type},
            }
        )
        return mirror.upsert_subscription(data)

    # -- state, read from the mirror -------------------------------------------------------
    @property
    def subscriptions(self) -> SubscriptionQuerySet:
        """All mirrored subscriptions of this billable, newest first."""
        return Subscription.objects.filter(customer__in=self._polar_customer_ids())

    def _prefetched_subscriptions(self) -> list[Subscription] | None:
        return getattr(self, "_polar_subscriptions_cache", None)

    def _valid_subscriptions(self, type: str | None) -> list[Subscription]:
        prefetched = self._prefetched_subscriptions()
        if prefetched is not None:
            return [s for s in prefetched if (type is None or s.type == type) and s.valid()]
        qs = self.subscriptions.valid()
        if type is not None:
            qs = qs.of_type(type)
        return list(qs)

    def subscribed(
        self, type: str | None = DEFAULT_TYPE, product: Any = None, price: Any = None
    ) -> bool:
        """Whether a subscription of ``type`` grants access now (at most one query).

        ``type=None`` means any type. ``product`` / ``price`` narrow it further.
        """
        subs = self._valid_subscriptions(type)
        if product is not None:
            wanted = _product_ids(product)
            subs = [s for s in subs if str(s.product_id) in wanted]
        if price is not None:
            wanted = _ids(price)
            subs = [s for s in subs if wanted & _subscription_price_ids(s)]
        return bool(subs)

    def subscribed_to_product(self, products: Any, type: str | None = DEFAULT_TYPE) -> bool:
        """Subscribed (valid) to any of ``products`` (ids, slugs or rows)."""
        return self.subscribed(type=type, product=products)

    def subscribed_to_price(self, prices: Any, type: str | None = DEFAULT_TYPE) -> bool:
        """Subscribed (valid) at any of ``prices`` (Polar price ids or Price rows)."""
        return self.subscribed(type=type, price=prices)

    def subscription(self, type: str = DEFAULT_TYPE) -> Subscription | None:
        """The newest subscription of ``type``, whatever its status (or None)."""
        prefetched = self._prefetched_subscriptions()
        if prefetched is not None:
            return next((s for s in prefetched if s.type == type), None)
        return self.subscriptions.of_type(type).select_related("product").first()

    def on_trial(self, type: str = DEFAULT_TYPE) -> bool:
        subscription = self.subscription(type)
        return subscription is not None and subscription.on_trial()

    def on_grace_period(self, type: str = DEFAULT_TYPE) -> bool:
        subscription = self.subscription(type)
        return subscription is not None and subscription.on_grace_period()

    @property
    def orders(self) -> models.QuerySet[Order]:
        """Mirrored orders, newest first."""
        return Order.objects.filter(customer__in=self._polar_customer_ids())

    def has_purchased_product(self, products: Any) -> bool:
        """A paid, not fully refunded order for any of ``products`` exists."""
        return (
            self.orders.filter(paid=True, product_id__in=_product_ids(products))
            .exclude(status=OrderStatus.REFUNDED)
            .exists()
        )

    def _polar_grant_q(self) -> Q:
        """Grants that give this billable access: its customers' own grants, and the
        grants of seats it holds as a team member (a seat's grant carries the member's id
        and is the member's, never the billing manager's): the member's external id is
        this billable's, or the app recorded this billable claiming it."""
        external_id = self.get_polar_external_id()
        members = Member.objects.filter(
            Q(external_id=external_id) | Q(holder_external_id=external_id), is_deleted=False
        )
        return Q(customer__in=self._polar_customer_ids(), member_id__isnull=True) | Q(
            member_id__in=members.values("pk")
        )

    @property
    def benefit_grants(self) -> models.QuerySet[BenefitGrant]:
        """Benefits currently granted (granted and not revoked): this billable's own,
        plus those of the seats it holds as a team member."""
        return BenefitGrant.objects.granted().filter(self._polar_grant_q())

    def has_benefit(self, benefit: Any) -> bool:
        """Whether any grant of the benefit is held now (one query).

        ``benefit``: a Polar benefit id, a Benefit row, or the project's key for it (the
        benefit's metadata ``key`` or ``slug``). Several subscriptions or orders may grant
        one benefit; it stays held until the last of those grants is revoked.
        """
        return self.benefit_grants.filter(
            benefit__in=Benefit.objects.filter(benefit_q(benefit))
        ).exists()

    def benefits(self) -> list[BenefitGrant]:
        """The active grants with their benefit and properties (license key, files ...)."""
        return list(self.benefit_grants.select_related("benefit").order_by("granted_at", "pk"))

    def license_keys(self) -> list[dict[str, Any]]:
        """The license keys of active ``license_keys`` grants, from the mirror:
        ``{"id", "display_key", "benefit_id", "grant_id"}``. Polar's grants carry only the
        key's id; ``django_polar.license_keys.get(id)`` fetches the key itself."""
        keys = []
        for grant in self.benefit_grants.filter(benefit__type="license_keys"):
            props = grant.properties or {}
            keys.append(
                {
                    "id": props.get("license_key_id"),
                    "display_key": props.get("display_key"),
                    "benefit_id": str(grant.benefit_id),
                    "grant_id": str(grant.pk),
                }
            )
        return keys

    def payment_methods(self) -> list[dict[str, Any]]:
        """The customer's saved payment methods as Polar lists them (``GET
        /v1/customers/{id}/payment-methods``): ``{"id", "type", "method_metadata": {"brand",
        "last4", "exp_month", "exp_year"...}, "is_default", ...}``. One Polar call (they
        are not mirrored); ``[]`` without one when there is no Polar customer yet. To add,
        remove or change the default one, send the customer to the portal
        (``redirect_to_customer_portal()``): the API cannot take card details."""
        customer = self.polar_customer
        if customer is None:
            return []
        return list(get_client().list_payment_methods(str(customer.pk)))

    # -- customer portal -------------------------------------------------------------------
    def customer_portal_url(self, return_url: str | None = None) -> str:
        """A fresh, one-hour customer portal URL (creates the customer if needed): where
        the customer sees orders and subscriptions and adds, removes or sets the default
        payment method.

        With Polar's member model a portal session is a member's: a ``team`` customer
        (one that bought seats) must name the member, so the session is opened for the
        team's owner member, whose external id is this billable's. Should the mirror not
        know yet that the customer became a team, Polar's 422 asking for the member is
        answered by asking again with it."""
        customer = self.get_or_create_polar_customer()
        payload: dict[str, Any] = {"customer_id": str(customer.pk)}
        if return_url:
            payload["return_url"] = return_url
        owner = {"external_member_id": self.get_polar_external_id()}
        if customer.type == "team":
            payload.update(owner)
        try:
            return get_client().create_customer_session(payload)["customer_portal_url"]
        except PolarValidationError as exc:
            if "external_member_id" in payload or not any(
                list(e.get("loc") or [])[-1:] == ["member_id"] for e in exc.errors
            ):
                raise
        return get_client().create_customer_session({**payload, **owner})["customer_portal_url"]

    def redirect_to_customer_portal(self, return_url: str | None = None) -> HttpResponseRedirect:
        return see_other(self.customer_portal_url(return_url))

    # -- usage, meters and credits (django_polar.usage) -----------------------------------
    def record_usage(
        self,
        name: str,
        metadata: dict[str, Any] | None = None,
        *,
        timestamp: datetime | None = None,
        external_id: str | None = None,
    ) -> UsageEvent:
        """Record a usage event: one row in the current transaction, no call to Polar.

        Polar's metadata rules are checked here (``InvalidUsageEvent``). Once the
        transaction commits one flush is requested (``POLAR["USAGE_SENDING"]``); the flusher
        sends the row with its stable ``external_id``, which Polar de-duplicates on.
        """
        return usage.record(self, name, metadata, timestamp=timestamp, external_id=external_id)

    #: The earlier name of ``record_usage``.
    ingest_usage = record_usage

    def record_usage_many(self, events: Iterable[str | dict[str, Any]]) -> list[UsageEvent]:
        """Record many events in one INSERT (names, or dicts of name/metadata/timestamp/
        external_id); one bad event records none."""
        return usage.record_many(self, events)

    def meter_time(
        self, name: str, metadata: dict[str, Any] | None = None, *, key: str = "seconds"
    ) -> AbstractContextManager[dict[str, Any]]:
        """``with user.meter_time("render"):`` records the block's elapsed seconds."""
        return usage.meter_time(self, name, metadata, key=key)

    def record_llm_usage(
        self, name: str, *, model: str, input_tokens: int, output_tokens: int, **options: Any
    ) -> UsageEvent:
        """Record one LLM call in Polar's conventional metadata (see ``usage.llm_metadata``:
        ``vendor``, ``cached_input_tokens``, ``cost_cents`` and extra keys are options)."""
        metadata = usage.llm_metadata(
            model=model, input_tokens=input_tokens, output_tokens=output_tokens, **options
        )
        return self.record_usage(name, metadata)

    def meters(self, *, refresh: bool = False) -> list[usage.MeterBalance]:
        """Consumed, credited and balance per meter, from the mirrored customer state
        (``refresh=True`` fetches it from Polar first), with local unsent usage."""
        return usage.meters(self, refresh_state=refresh)

    def meter(self, name_or_id: str, *, refresh: bool = False) -> usage.MeterBalance | None:
        """One meter by Polar id or name, or None."""
        return usage.meter(self, name_or_id, refresh_state=refresh)

    def has_credits(self, meter: str, units: float = 1) -> bool:
        """Whether ``units`` more fit in the meter's balance (no Polar call)."""
        return usage.has_credits(self, meter, units)


# -- helpers shared by views, tags and access ------------------------------------------


def _ids(value: Any) -> set[str]:
    """Polar ids from one id/row or an iterable of them, as strings."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        value = [value]
    return {str(getattr(v, "pk", v)) for v in value}


def _product_ids(value: Any) -> set[str]:
    """Product ids from ids, Product rows or configured slugs."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        value = [value]
    return {resolve_product_id(v) for v in value}


def _subscription_price_ids(subscription: Subscription) -> set[str]:
    prices = (subscription.data or {}).get("prices") or []
    return {str(p.get("id")) for p in prices if isinstance(p, dict) and p.get("id")}


@dataclass(frozen=True)
class BillingStatus:
    """What a listing shows per billable, computed without per-row queries."""

    subscription: Subscription | None
    subscribed: bool
    on_trial: bool
    on_grace_period: bool

    @property
    def status(self) -> str:
        return self.subscription.status if self.subscription else "none"


def prefetch_polar_subscriptions(billables: Iterable[Billable]) -> list[Billable]:
    """Load the subscriptions of many billables in one query and cache them on each.

    Afterwards ``subscribed()``, ``subscription()``, ``on_trial()`` on those instances
    cost no query. Billables of several models may be mixed.
    """
    billables = list(billables)
    if not billables:
        return billables
    q = Q()
    for model, group in _group_by_model(billables).items():
        pks = [str(b.pk) for b in group]
        q |= Q(customer__external_id__in=[b.get_polar_external_id() for b in group])
        q |= Q(
            customer__billable_type__app_label=model._meta.app_label,
            customer__billable_type__model=model._meta.model_name,
            customer__billable_id__in=pks,
        )
    subs = Subscription.objects.filter(q).select_related("customer__billable_type", "product")
    by_external_id: dict[str, list[Subscription]] = {}
    by_link: dict[tuple[str, str | None, str], list[Subscription]] = {}
    for sub in subs:  # newest first (model ordering)
        customer = sub.customer
        if customer.external_id:
            by_external_id.setdefault(customer.external_id, []).append(sub)
        ct = customer.billable_type  # select_related: no query
        if ct is not None and customer.billable_id:
            key = (ct.app_label, ct.model, customer.billable_id)
            by_link.setdefault(key, []).append(sub)
    for billable in billables:
        opts = billable._meta
        found = {
            s.pk: s
            for s in by_external_id.get(billable.get_polar_external_id(), [])
            + by_link.get((opts.app_label, opts.model_name, str(billable.pk)), [])
        }
        billable._polar_subscriptions_cache = sorted(
            found.values(), key=lambda s: s.created_at or timezone.now(), reverse=True
        )
    return billables


def billing_status_for(
    billables: Iterable[Billable], type: str = DEFAULT_TYPE
) -> dict[Any, BillingStatus]:
    """``{pk: BillingStatus}`` for many billables of one model in a constant number of queries."""
    result: dict[Any, BillingStatus] = {}
    for billable in prefetch_polar_subscriptions(billables):
        subscription = billable.subscription(type)
        result[billable.pk] = BillingStatus(
            subscription=subscription,
            subscribed=billable.subscribed(type),
            on_trial=bool(subscription and subscription.on_trial()),
            on_grace_period=bool(subscription and subscription.on_grace_period()),
        )
    return result


def _group_by_model(billables: Sequence[Billable]) -> dict[type[Billable], list[Billable]]:
    groups: dict[type[Billable], list[Billable]] = {}
    for billable in billables:
        groups.setdefault(type(billable), []).append(billable)
    return groups

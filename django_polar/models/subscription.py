"""Subscriptions and the questions pages ask about them."""

from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ..client import get_client
from ..conf import polar_settings
from .base import PolarObject
from .catalog import Product, resolve_product_id
from .customer import Customer

#: Checkout metadata key that names a subscription's type ("default", "swimming" ...).
#: Polar copies checkout metadata onto the subscription, which is how the type lands here.
SUBSCRIPTION_TYPE_KEY = "subscription_type"
DEFAULT_TYPE = "default"


class SubscriptionStatus(models.TextChoices):
    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    PAUSED = "paused"


def _not_ended(now: datetime) -> Q:
    return Q(ends_at__isnull=True) | Q(ends_at__gt=now)


class SubscriptionQuerySet(models.QuerySet):
    def of_type(self, type: str = DEFAULT_TYPE) -> "SubscriptionQuerySet":
        return self.filter(type=type)

    def active(self) -> "SubscriptionQuerySet":
        """Status active, including those canceled at period end but not yet over."""
        return self.filter(_not_ended(timezone.now()), status=SubscriptionStatus.ACTIVE)

    def on_trial(self) -> "SubscriptionQuerySet":
        return self.filter(_not_ended(timezone.now()), status=SubscriptionStatus.TRIALING)

    def past_due(self) -> "SubscriptionQuerySet":
        return self.filter(status=SubscriptionStatus.PAST_DUE)

    def canceled(self) -> "SubscriptionQuerySet":
        """Canceled now or at period end."""
        return self.filter(Q(status=SubscriptionStatus.CANCELED) | Q(cancel_at_period_end=True))

    def on_grace_period(self) -> "SubscriptionQuerySet":
        """Canceled at period end, with the end still ahead."""
        return self.filter(
            cancel_at_period_end=True,
            ends_at__gt=timezone.now(),
            status__in=[SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING],
        )

    def ended(self) -> "SubscriptionQuerySet":
        now = timezone.now()
        return self.filter(
            Q(status=SubscriptionStatus.CANCELED) | Q(ended_at__lte=now) | Q(ends_at__lte=now)
        )

    def valid(self, past_due_grants_access: bool | None = None) -> "SubscriptionQuerySet":
        """Subscriptions that grant access now: active, trialing (and past_due if allowed)."""
        statuses = [SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING]
        if past_due_grants_access is None:
            past_due_grants_access = polar_settings.PAST_DUE_GRANTS_ACCESS
        if past_due_grants_access:
            statuses.append(SubscriptionStatus.PAST_DUE)
        return self.filter(_not_ended(timezone.now()), status__in=statuses)


class Subscription(PolarObject):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="subscriptions")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="subscriptions")
    type = models.CharField(max_length=64, default=DEFAULT_TYPE, db_index=True)
    status = models.CharField(max_length=32, db_index=True)
    amount = models.BigIntegerField(default=0, help_text="minor units")
    currency = models.CharField(max_length=3, blank=True)
    recurring_interval = models.CharField(max_length=16, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    trial_start = models.DateTimeField(null=True, blank=True)
    trial_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    seats = models.IntegerField(null=True, blank=True)
    discount_id = models.UUIDField(null=True, blank=True)
    checkout_id = models.UUIDField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        db_table = "polar_subscription"
        indexes = [models.Index(fields=["customer", "type", "status"])]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.type} subscription {self.id} ({self.status})"

    # -- state, answered from the row (no query) -------------------------------------
    def _not_ended(self) -> bool:
        return self.ends_at is None or self.ends_at > timezone.now()

    def active(self) -> bool:
        return self.status == SubscriptionStatus.ACTIVE and self._not_ended()

    def on_trial(self) -> bool:
        return self.status == SubscriptionStatus.TRIALING and self._not_ended()

    def past_due(self) -> bool:
        return self.status == SubscriptionStatus.PAST_DUE

    def canceled(self) -> bool:
        return self.status == SubscriptionStatus.CANCELED or self.cancel_at_period_end

    def on_grace_period(self) -> bool:
        return (
            self.cancel_at_period_end
            and self.ends_at is not None
            and self.ends_at > timezone.now()
            and self.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)
        )

    def ended(self) -> bool:
        now = timezone.now()
        return (
            self.status == SubscriptionStatus.CANCELED
            or (self.ended_at is not None and self.ended_at <= now)
            or (self.ends_at is not None and self.ends_at <= now)
        )

    def valid(self, past_due_grants_access: bool | None = None) -> bool:
        """Grants access now; the same rule as ``Subscription.objects.valid()`` (SQL)."""
        if past_due_grants_access is None:
            past_due_grants_access = polar_settings.PAST_DUE_GRANTS_ACCESS
        if self.past_due():
            return bool(past_due_grants_access) and self._not_ended()
        return self.active() or self.on_trial()

    def has_product(self, product: "Product | str") -> bool:
        """Whether this subscription is for ``product``: a Product row, a Polar id (str or
        UUID) or a POLAR["PRODUCTS"] slug, like every other product argument."""
        return str(self.product_id) == resolve_product_id(product)

    # -- actions: call Polar, then apply the answer through the mirror ---------------------
    def _update(self, body: dict) -> "Subscription":
        return self._apply(get_client().update_subscription(str(self.pk), body))

    def _apply(self, data: dict) -> "Subscription":
        """Store Polar's answer like a webhook would (same version guard), then reload."""
        from .. import mirror

        mirror.upsert_subscription(data)
        self.refresh_from_db()
        return self

    def swap(self, product: "Product | str", proration: str | None = None) -> "Subscription":
        """Move to another product (id, slug or row); ``proration``: invoice, prorate,
        next_period or reset (None: the organization's default)."""
        body: dict = {"product_id": resolve_product_id(product)}
        if proration is not None:
            body["proration_behavior"] = proration
        return self._update(body)

    def swap_and_invoice(self, product: "Product | str") -> "Subscription":
        """Swap and invoice the difference immediately."""
        return self.swap(product, proration="invoice")

    def cancel(self) -> "Subscription":
        """Cancel at the end of the period; access continues until then (grace period)."""
        return self._update({"cancel_at_period_end": True})

    def resume(self) -> "Subscription":
        """Undo ``cancel()`` during the grace period, or resume a paused subscription."""
        if self.status == SubscriptionStatus.PAUSED:
            return self._update({"resume": True})
        return self._update({"cancel_at_period_end": False})

    def cancel_now(self) -> "Subscription":
        """Cancel and revoke immediately: access ends now."""
        return self._apply(get_client().revoke_subscription(str(self.pk)))

    def update_seats(self, seats: int, proration: str | None = None) -> "Subscription":
        """Change the seat count of a seat-based subscription."""
        body: dict = {"seats": seats}
        if proration is not None:
            body["proration_behavior"] = proration
        return self._update(body)

    # -- seats (seat-based subscriptions) ---------------------------------------------------
    def assigned_seats(self) -> "models.QuerySet[Any]":
        """Seats assigned now (pending or claimed), from the mirror: no Polar call.
        (``seats`` is the purchased seat count, the field Polar names so.)"""
        return (
            self.customer_seats.exclude(status="revoked")
            .select_related("member")
            .order_by("created_at")
        )

    def assign_seat(self, holder: Any, metadata: dict[str, Any] | None = None) -> Any:
        """Assign a seat to an email address or a billable (its external id becomes the
        member's ``external_member_id``, so its claimed benefits are its own). Polar
        sends the invitation; a full subscription is Polar's 400, raised as PolarError."""
        body: dict[str, Any] = {"subscription_id": str(self.pk)}
        if isinstance(holder, str):
            body["email"] = holder
        else:
            body["external_member_id"] = holder.get_polar_external_id()
            body["email"] = holder.get_polar_email()
        if metadata:
            body["metadata"] = metadata
        return _apply_seat(get_client().assign_seat(body))

    def revoke_seat(self, seat: Any) -> Any:
        """Revoke a seat (row or id): its member loses the benefits."""
        return _apply_seat(get_client().revoke_seat(str(getattr(seat, "pk", seat))))

    def resend_invitation(self, seat: Any) -> Any:
        """Send a pending seat's invitation again (Polar's 400 if it is not pending)."""
        return _apply_seat(get_client().resend_seat_invitation(str(getattr(seat, "pk", seat))))

    def apply_discount(self, discount: Any) -> "Subscription":
        """Apply a discount (id or object with ``id``/``pk``) from the next billing cycle.

        To take a discount off, call ``remove_discount()``; None here is refused rather
        than sent to Polar as the string "None".
        """
        discount_id = getattr(discount, "pk", None) or (
            discount.get("id") if isinstance(discount, dict) else discount
        )
        if discount_id is None or discount_id == "":
            raise ValueError(
                "apply_discount() needs a discount id (or an object with id/pk); "
                "to take the discount off, call remove_discount()."
            )
        return self._update({"discount_id": str(discount_id)})

    def remove_discount(self) -> "Subscription":
        return self._update({"discount_id": None})


def _apply_seat(data: dict[str, Any]) -> Any:
    """Store Polar's seat answer like the customer_seat.* webhook would."""
    from .. import mirror

    return mirror.upsert_seat(data)

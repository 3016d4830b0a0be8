"""Subscriptions, orders, refunds and benefit grants, with the objects nested in them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Sum

from ..models import (
    DEFAULT_TYPE,
    SUBSCRIPTION_TYPE_KEY,
    Benefit,
    BenefitGrant,
    Customer,
    Order,
    OrderStatus,
    Product,
    Refund,
    Subscription,
)
from ..models.convert import Fields, as_int, as_uuid, pick, text, to_datetime
from .catalog import upsert_benefit, upsert_price, upsert_product
from .customers import upsert_customer
from .guard import Outcome, ensure_stub, save_snapshot, version_of


def subscription_type(metadata: Any) -> str:
    """The subscription's type, from the checkout metadata Polar copied onto it."""
    if isinstance(metadata, dict) and metadata.get(SUBSCRIPTION_TYPE_KEY) not in (None, ""):
        return text(metadata[SUBSCRIPTION_TYPE_KEY], 64)
    return DEFAULT_TYPE


SUBSCRIPTION_FIELDS: Fields = {
    "status": ("status", lambda v: text(v, 32)),
    "amount": ("amount", as_int),
    "currency": ("currency", lambda v: text(v, 3)),
    "recurring_interval": ("recurring_interval", lambda v: text(v, 16)),
    "current_period_start": ("current_period_start", to_datetime),
    "current_period_end": ("current_period_end", to_datetime),
    "trial_start": ("trial_start", to_datetime),
    "trial_end": ("trial_end", to_datetime),
    "cancel_at_period_end": ("cancel_at_period_end", bool),
    "canceled_at": ("canceled_at", to_datetime),
    "started_at": ("started_at", to_datetime),
    "ends_at": ("ends_at", to_datetime),
    "ended_at": ("ended_at", to_datetime),
    "seats": ("seats", lambda v: as_int(v, None)),
    "discount_id": ("discount_id", as_uuid),
    "checkout_id": ("checkout_id", as_uuid),
    "created_at": ("created_at", to_datetime),
    "past_due_at": ("past_due_at", to_datetime),
    "pause_at_period_end": ("pause_at_period_end", bool),
    "paused_at": ("paused_at", to_datetime),
    "resumes_at": ("resumes_at", to_datetime),
    "customer_cancellation_reason": ("customer_cancellation_reason", lambda v: text(v, 32)),
    "customer_cancellation_comment": ("customer_cancellation_comment", text),
}

ORDER_FIELDS: Fields = {
    "status": ("status", lambda v: text(v, 32)),
    "paid": ("paid", bool),
    "billing_reason": ("billing_reason", lambda v: text(v, 32)),
    "subtotal_amount": ("subtotal_amount", as_int),
    "discount_amount": ("discount_amount", as_int),
    "net_amount": ("net_amount", as_int),
    "tax_amount": ("tax_amount", as_int),
    "total_amount": ("total_amount", as_int),
    "refunded_amount": ("refunded_amount", as_int),
    "refunded_tax_amount": ("refunded_tax_amount", as_int),
    "currency": ("currency", lambda v: text(v, 3)),
    "invoice_number": ("invoice_number", lambda v: text(v, 64)),
    "is_invoice_generated": ("is_invoice_generated", bool),
    "checkout_id": ("checkout_id", as_uuid),
    "metadata": ("metadata", lambda v: v if isinstance(v, dict) else {}),
    "custom_field_data": ("custom_field_data", lambda v: v if isinstance(v, dict) else {}),
    "created_at": ("created_at", to_datetime),
    "next_payment_attempt_at": ("next_payment_attempt_at", to_datetime),
}

GRANT_FIELDS: Fields = {
    "is_granted": ("is_granted", bool),
    "is_revoked": ("is_revoked", bool),
    "granted_at": ("granted_at", to_datetime),
    "revoked_at": ("revoked_at", to_datetime),
    "properties": ("properties", lambda v: v if isinstance(v, dict) else {}),
    "subscription_id": ("subscription_id", as_uuid),
    "order_id": ("order_id", as_uuid),
    "member_id": ("member_id", as_uuid),
    "created_at": ("created_at", to_datetime),
}

REFUND_FIELDS: Fields = {
    "status": ("status", lambda v: text(v, 32)),
    "reason": ("reason", lambda v: text(v, 64)),
    "amount": ("amount", as_int),
    "tax_amount": ("tax_amount", as_int),
    "currency": ("currency", lambda v: text(v, 3)),
    "revoke_benefits": ("revoke_benefits", bool),
    "order_id": ("order_id", as_uuid),
    "customer_id": ("customer_id", as_uuid),
    "subscription_id": ("subscription_id", as_uuid),
    "created_at": ("created_at", to_datetime),
}


def subscription_values(
    data: dict[str, Any], *, customer_id: Any = None, product_id: Any = None
) -> dict[str, Any]:
    values = pick(data, SUBSCRIPTION_FIELDS)
    if "metadata" in data:
        metadata = data["metadata"] if isinstance(data["metadata"], dict) else {}
        values["metadata"] = metadata
        values["type"] = subscription_type(metadata)
    if customer_id is not None:
        values["customer_id"] = customer_id
    if product_id is not None:
        values["product_id"] = product_id
    return values


def order_values(
    data: dict[str, Any],
    *,
    customer_id: Any = None,
    product_id: Any = None,
    subscription_id: Any = None,
) -> dict[str, Any]:
    """An order's columns; the ids default to those the payload names (nested object
    first, then the ``*_id`` field), so webhooks and ``polar_sync`` store the same row."""
    values = pick(data, ORDER_FIELDS)
    values.update(
        customer_id=customer_id or nested_id(data, "customer"),
        product_id=product_id or nested_id(data, "product"),
        subscription_id=subscription_id or nested_id(data, "subscription"),
    )
    return values


def grant_values(
    data: dict[str, Any], *, customer_id: Any = None, benefit_id: Any = None
) -> dict[str, Any]:
    """A benefit grant's columns (ids as in ``order_values``)."""
    values = pick(data, GRANT_FIELDS)
    values.update(
        customer_id=customer_id or nested_id(data, "customer"),
        benefit_id=benefit_id or nested_id(data, "benefit"),
    )
    return values


def nested_id(data: dict[str, Any], key: str) -> Any:
    """The id of the object ``key`` names: the nested copy's, else ``<key>_id``."""
    nested = data.get(key)
    if isinstance(nested, dict) and nested.get("id"):
        return as_uuid(nested["id"])
    return as_uuid(data.get(f"{key}_id"))


def _customer_id(data: dict[str, Any], event_time: datetime | None) -> Any:
    """The customer's id, mirroring the nested customer when the payload has one."""
    nested = data.get("customer")
    if isinstance(nested, dict) and nested.get("id"):
        return upsert_customer(nested, event_time=event_time).pk
    customer_id = as_uuid(data.get("customer_id"))
    if customer_id is None:
        raise ValueError("Polar payload without a customer")
    return ensure_stub(Customer, customer_id).pk


def _product_id(data: dict[str, Any], event_time: datetime | None) -> Any:
    """The product's id, mirroring the nested product when the payload has one."""
    nested = data.get("product")
    if isinstance(nested, dict) and nested.get("id"):
        return upsert_product(nested, event_time=event_time).pk
    product_id = as_uuid(data.get("product_id"))
    if product_id is None:
        return None
    return ensure_stub(Product, product_id, name="").pk


def upsert_subscription(
    data: dict[str, Any], *, event_time: datetime | None = None, partial: bool = False
) -> Subscription:
    """Mirror a subscription with its customer, product and prices from the payload.

    ``partial`` is for abridged copies (the subscription inside an order).
    """
    pk = as_uuid(data.get("id"))
    if pk is None:
        raise ValueError("Polar subscription without a valid id")
    with transaction.atomic():
        customer_id = _customer_id(data, event_time)
        product_id = _product_id(data, event_time)
        if product_id is None:
            raise ValueError(f"Polar subscription {pk} has no product")
        for price in data.get("prices") or []:
            if isinstance(price, dict) and price.get("id") and price.get("product_id"):
                upsert_price(price, event_time=event_time)
        values = subscription_values(data, customer_id=customer_id, product_id=product_id)
        sub, _ = save_snapshot(
            Subscription, pk, version_of(data, event_time), values, data, partial=partial
        )
    return sub


def upsert_order(data: dict[str, Any], *, event_time: datetime | None = None) -> Order:
    """Mirror an order with its customer, product and (abridged) subscription.

    Refunds already mirrored are a floor for the refunded amounts: an order snapshot
    taken before a refund never hides it.
    """
    pk = as_uuid(data.get("id"))
    if pk is None:
        raise ValueError("Polar order without a valid id")
    with transaction.atomic():
        customer_id = _customer_id(data, event_time)
        product_id = _product_id(data, event_time)
        nested_sub = data.get("subscription")
        if isinstance(nested_sub, dict) and nested_sub.get("id"):
            nested_sub = {"customer_id": str(customer_id), **nested_sub}
            upsert_subscription(nested_sub, event_time=event_time, partial=True)
        values = order_values(data, customer_id=customer_id, product_id=product_id)

        def floor(order: Order, outcome: Outcome) -> None:
            apply_refund_floor(order)

        order, _ = save_snapshot(
            Order, pk, version_of(data, event_time), values, data, after_write=floor
        )
    return order


def apply_refund_floor(order: Order) -> None:
    """Raise the order's refunded amounts (and status) to what its stored, succeeded
    refunds add up to: an order snapshot taken before a refund never hides it.

    Writes only those columns, never ``modified_at``, so the order's next snapshot applies.
    """
    totals = Refund.objects.filter(order_id=order.pk, status="succeeded").aggregate(
        amount=Sum("amount"), tax=Sum("tax_amount")
    )
    amount, tax = totals["amount"] or 0, totals["tax"] or 0
    if amount <= order.refunded_amount:
        return
    order.refunded_amount = amount
    order.refunded_tax_amount = max(order.refunded_tax_amount, tax)
    if order.total_amount and amount >= order.total_amount:
        order.status = OrderStatus.REFUNDED
    else:
        order.status = OrderStatus.PARTIALLY_REFUNDED
    Order.objects.filter(pk=order.pk).update(
        refunded_amount=order.refunded_amount,
        refunded_tax_amount=order.refunded_tax_amount,
        status=order.status,
    )


def upsert_refund(data: dict[str, Any], *, event_time: datetime | None = None) -> Refund:
    """Mirror a refund and raise its order's refunded amounts and status to match.

    The order's own ``modified_at`` is left alone, so its next snapshot still applies.
    """
    pk = as_uuid(data.get("id"))
    if pk is None:
        raise ValueError("Polar refund without a valid id")
    with transaction.atomic():
        refund, _ = save_snapshot(
            Refund, pk, version_of(data, event_time), pick(data, REFUND_FIELDS), data
        )
        order = (
            Order.objects.select_for_update().filter(pk=refund.order_id).first()
            if refund.order_id is not None
            else None
        )
        if order is not None:
            apply_refund_floor(order)
    return refund


def upsert_benefit_grant(
    data: dict[str, Any], *, event_time: datetime | None = None
) -> BenefitGrant:
    """Mirror a benefit grant with its customer and benefit from the payload."""
    pk = as_uuid(data.get("id"))
    if pk is None:
        raise ValueError("Polar benefit grant without a valid id")
    with transaction.atomic():
        customer_id = _customer_id(data, event_time)
        nested = data.get("benefit")
        if isinstance(nested, dict) and nested.get("id"):
            benefit_id = upsert_benefit(nested, event_time=event_time).pk
        else:
            benefit_id = ensure_stub(Benefit, as_uuid(data.get("benefit_id"))).pk
        values = grant_values(data, customer_id=customer_id, benefit_id=benefit_id)
        grant, _ = save_snapshot(BenefitGrant, pk, version_of(data, event_time), values, data)
    return grant

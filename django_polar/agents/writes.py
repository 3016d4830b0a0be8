"""The tools that act: each goes through the app's own action (``Subscription.cancel()``,
``Order.refund()``, the checkout builder...), so the guards and the mirror update are the
same as everywhere else in django-polar. Each returns what Polar answered under
``"polar"`` (kept in the audit log) next to a short reading of it.
"""

from __future__ import annotations

from typing import Any

from ..client import get_client
from ..errors import AgentToolError, CheckoutError
from ..models import CancellationReason, Product, Subscription
from . import present
from .params import CUSTOMER_ID, ORDER_ID, PRODUCT_ID, SUBSCRIPTION_ID, polar_id
from .registry import tool
from .scope import Scope

PRORATIONS = ["invoice", "prorate", "next_period", "reset"]
REFUND_REASONS = [
    "duplicate",
    "fraudulent",
    "customer_request",
    "service_disruption",
    "satisfaction_guarantee",
    "other",
]


def _billable_of(customer: Any) -> Any:
    billable = customer.billable if customer.billable_id else None
    if billable is None:
        raise AgentToolError(
            "This customer is not linked to an account of the app, so no checkout or portal "
            "link can be made for it here."
        )
    return billable


def _for_sale(product_id: str) -> Product:
    product: Product | None = Product.objects.active().filter(pk=product_id).first()
    if product is None:
        raise AgentToolError(f"No product for sale with id {product_id} (see list_products).")
    return product


@tool(
    "create_portal_link",
    tag="portal",
    description="""A link to Polar's customer portal for this customer, valid one hour,
    where they cancel, change plan, update the payment method and download invoices
    themselves. It grants nothing the customer does not already have. Give it only to the
    customer it belongs to.""",
    parameters={"properties": {"customer_id": CUSTOMER_ID}, "required": ["customer_id"]},
)
def create_portal_link(scope: Scope, customer_id: str | None = None) -> dict[str, Any]:
    customer = scope.customer(customer_id)
    billable = customer.billable if customer.billable_id else None
    if billable is not None:
        url = billable.customer_portal_url()
    else:
        url = get_client().create_customer_session({"customer_id": str(customer.pk)})[
            "customer_portal_url"
        ]
    return {"customer_id": str(customer.pk), "portal_url": url, "valid_for": "1 hour"}


@tool(
    "create_discount",
    tag="discounts",
    write=True,
    customer_scopable=False,
    description="""Create a discount in Polar: a percentage (basis_points, 2000 = 20%) or a
    fixed amount (amount in minor units + currency), once, forever or repeating for
    duration_in_months. A repeating discount counts its months from the first billed cycle
    (after any trial). It changes nothing by itself: pass its discount_id to
    create_checkout_link, or give its code to the customer.""",
    parameters={
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 256},
            "type": {"type": "string", "enum": ["percentage", "fixed"]},
            "basis_points": {
                "type": "integer",
                "minimum": 1,
                "maximum": 10000,
                "description": "For percentage: 100 = 1%.",
            },
            "amount": {
                "type": "integer",
                "minimum": 1,
                "description": "For fixed: minor units (1000 = 10.00).",
            },
            "currency": {"type": "string", "minLength": 3, "maxLength": 3, "default": "usd"},
            "duration": {"type": "string", "enum": ["once", "forever", "repeating"]},
            "duration_in_months": {"type": "integer", "minimum": 1, "maximum": 999},
            "code": {
                "type": "string",
                "minLength": 3,
                "maxLength": 256,
                "description": "A code customers type at checkout (letters and digits).",
            },
            "product_ids": {
                "type": "array",
                "items": PRODUCT_ID,
                "maxItems": 20,
                "description": "Only for these products (default: all).",
            },
            "max_redemptions": {"type": "integer", "minimum": 1},
        },
        "required": ["name", "type", "duration"],
    },
)
def create_discount(
    scope: Scope,
    name: str,
    type: str,
    duration: str,
    basis_points: int | None = None,
    amount: int | None = None,
    currency: str = "usd",
    duration_in_months: int | None = None,
    code: str | None = None,
    product_ids: list[str] | None = None,
    max_redemptions: int | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "type": type, "duration": duration}
    if type == "percentage":
        if basis_points is None:
            raise AgentToolError("A percentage discount needs basis_points (2000 = 20%).")
        body["basis_points"] = basis_points
    else:
        if amount is None:
            raise AgentToolError("A fixed discount needs amount (minor units) and currency.")
        body["amount"], body["currency"] = amount, currency.lower()
    if duration == "repeating":
        if duration_in_months is None:
            raise AgentToolError("A repeating discount needs duration_in_months.")
        body["duration_in_months"] = duration_in_months
    elif duration_in_months is not None:
        raise AgentToolError("duration_in_months is only for a repeating discount.")
    if code:
        body["code"] = code
    if product_ids:
        body["products"] = [str(_for_sale(p).pk) for p in product_ids]
    if max_redemptions:
        body["max_redemptions"] = max_redemptions
    discount = get_client().create_discount(body)
    return {
        "discount_id": discount["id"],
        "code": discount.get("code"),
        "summary": _discount_summary(discount),
        "polar": discount,
    }


def _discount_summary(discount: dict[str, Any]) -> str:
    if discount.get("type") == "percentage":
        off = f"{discount.get('basis_points', 0) / 100:g}% off"
    else:
        off = present.money(discount.get("amount"), discount.get("currency"))["display"] + " off"
    duration = discount.get("duration")
    if duration == "repeating":
        return f"{off} for {discount.get('duration_in_months')} months"
    return f"{off} {'once' if duration == 'once' else 'forever'}"


@tool(
    "create_checkout_link",
    tag="checkouts",
    write=True,
    description="""Create a checkout for a customer and return its URL to send them. A
    checkout is not a purchase: nothing is charged and nothing is granted until the
    customer pays; the order and subscription appear only then. The link expires in 24
    hours.""",
    parameters={
        "properties": {
            "customer_id": CUSTOMER_ID,
            "product_ids": {"type": "array", "items": PRODUCT_ID, "minItems": 1, "maxItems": 10},
            "discount_id": polar_id("discount (from create_discount)"),
            "allow_discount_codes": {"type": "boolean", "default": True},
            "seats": {"type": "integer", "minimum": 1, "maximum": 10000},
            "amount": {
                "type": "integer",
                "minimum": 0,
                "description": "For a pay-what-you-want price: minor units.",
            },
        },
        "required": ["customer_id", "product_ids"],
    },
)
def create_checkout_link(
    scope: Scope,
    product_ids: list[str],
    customer_id: str | None = None,
    discount_id: str | None = None,
    allow_discount_codes: bool = True,
    seats: int | None = None,
    amount: int | None = None,
) -> dict[str, Any]:
    customer = scope.customer(customer_id)
    products = [_for_sale(p) for p in product_ids]
    builder = _billable_of(customer).checkout(products)
    try:
        if discount_id:
            builder.with_discount(discount_id)
        if not allow_discount_codes:
            builder.without_discount_codes()
        if seats is not None:
            builder.with_seats(seats)
        if amount is not None:
            builder.with_amount(amount)
    except CheckoutError as exc:
        raise AgentToolError(str(exc)) from None
    session = builder.session
    return {
        "checkout_id": session["id"],
        "url": session["url"],
        "expires_at": session.get("expires_at"),
        "status": session.get("status"),
        "total": present.money(session.get("total_amount"), session.get("currency")),
        "note": "Not paid yet: the purchase exists only once the customer pays.",
        "polar": session,
    }


@tool(
    "refund_order",
    tag="refunds",
    write=True,
    description="""Refund a paid order, fully (no amount) or partially (amount in minor
    units, at most the refundable amount). A refund is final: it cannot be undone. The
    money goes back to the customer's payment method. revoke_benefits takes back the
    benefits of a one-time purchase (Polar allows it only there).""",
    parameters={
        "properties": {
            "order_id": ORDER_ID,
            "amount": {
                "type": "integer",
                "minimum": 1,
                "description": "Minor units; default: everything still refundable.",
            },
            "reason": {"type": "string", "enum": REFUND_REASONS},
            "comment": {"type": "string", "maxLength": 1000},
            "revoke_benefits": {"type": "boolean", "default": False},
        },
        "required": ["order_id", "reason"],
    },
)
def refund_order(
    scope: Scope,
    order_id: str,
    reason: str,
    amount: int | None = None,
    comment: str | None = None,
    revoke_benefits: bool = False,
) -> dict[str, Any]:
    order = scope.order(order_id)
    if not order.paid:
        raise AgentToolError("Only a paid order can be refunded.")
    refundable = order.refundable_amount
    if refundable <= 0:
        raise AgentToolError("Nothing is left to refund on this order.")
    if amount is not None and amount > refundable:
        shown = present.money(refundable, order.currency)["display"]
        raise AgentToolError(f"At most {shown} ({refundable} minor units) can be refunded.")
    refund = order.refund(amount, reason, comment=comment, revoke_benefits=revoke_benefits)
    return {
        "refund_id": refund["id"],
        "refunded": present.money(refund.get("amount"), refund.get("currency")),
        "status": refund.get("status"),
        "order": present.order(order),
        "polar": refund,
    }


def _running(sub: Subscription, action: str) -> None:
    if not sub.valid(past_due_grants_access=True):
        raise AgentToolError(
            f"Only a running subscription can {action} (this one is {sub.status})."
        )


@tool(
    "change_subscription_plan",
    tag="subscriptions",
    write=True,
    description="""Move a subscription to another recurring product. proration: 'prorate'
    (the difference on the next invoice), 'invoice' (charge or credit it now; a downgrade
    credits the customer's balance), 'next_period' (the new price from the next cycle),
    'reset' (only where the organization enables it); default: the organization's setting.
    Switching between monthly and yearly resets the billing cycle and invoices at once.""",
    parameters={
        "properties": {
            "subscription_id": SUBSCRIPTION_ID,
            "product_id": PRODUCT_ID,
            "proration": {"type": "string", "enum": PRORATIONS},
        },
        "required": ["subscription_id", "product_id"],
    },
)
def change_subscription_plan(
    scope: Scope, subscription_id: str, product_id: str, proration: str | None = None
) -> dict[str, Any]:
    sub = scope.subscription(subscription_id)
    product = _for_sale(product_id)
    if not product.is_recurring:
        raise AgentToolError("A subscription can only move to a recurring product.")
    if str(product.pk) == str(sub.product_id):
        raise AgentToolError("The subscription is already on this product.")
    _running(sub, "change plan")
    sub.swap(product, proration)
    return {"subscription": present.subscription(sub), "polar": sub.data}


@tool(
    "cancel_subscription",
    tag="subscriptions",
    write=True,
    description="""Cancel a subscription. at_period_end=true (the default) keeps access
    until the end of the paid period and can be undone with uncancel_subscription until
    then; at_period_end=false revokes it now: access ends immediately and it cannot be
    undone (no refund is made; use refund_order for that). reason and comment are the
    customer's own words (Polar shows them to the customer): pass them only when the
    customer said why.""",
    parameters={
        "properties": {
            "subscription_id": SUBSCRIPTION_ID,
            "at_period_end": {"type": "boolean", "default": True},
            "reason": {
                "type": "string",
                "enum": [reason.value for reason in CancellationReason],
                "description": "Why the customer cancels, as they said it.",
            },
            "comment": {
                "type": "string",
                "maxLength": 5000,
                "description": "The customer's own comment (never an internal note).",
            },
        },
        "required": ["subscription_id"],
    },
)
def cancel_subscription(
    scope: Scope,
    subscription_id: str,
    at_period_end: bool = True,
    reason: str | None = None,
    comment: str | None = None,
) -> dict[str, Any]:
    sub = scope.subscription(subscription_id)
    _running(sub, "be canceled")
    if at_period_end:
        if sub.cancel_at_period_end:
            raise AgentToolError(f"Already canceled; it ends on {present.iso(sub.ends_at)}.")
        sub.cancel(reason=reason, comment=comment)
    else:
        sub.cancel_now(reason=reason, comment=comment)
    return {"subscription": present.subscription(sub), "polar": sub.data}


@tool(
    "uncancel_subscription",
    tag="subscriptions",
    write=True,
    description="""Undo a cancellation at period end while the period lasts: the
    subscription renews again as before. A subscription that has ended or was revoked
    cannot be uncanceled (the customer needs a new checkout).""",
    parameters={
        "properties": {"subscription_id": SUBSCRIPTION_ID},
        "required": ["subscription_id"],
    },
)
def uncancel_subscription(scope: Scope, subscription_id: str) -> dict[str, Any]:
    sub = scope.subscription(subscription_id)
    if not sub.on_grace_period():
        raise AgentToolError(
            "Only a subscription canceled at period end (and not ended) can be uncanceled."
        )
    sub.resume()
    return {"subscription": present.subscription(sub), "polar": sub.data}

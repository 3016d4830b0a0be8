"""The read tools: answered from the local mirror, never from Polar (no call, no rate limit).

Each function takes the caller's ``Scope`` and the checked arguments and returns a dict.
"""

from __future__ import annotations

from typing import Any

from ..client import get_client
from ..errors import AgentToolError
from ..models import Product, Subscription, SubscriptionStatus
from ..usage import meters_of
from . import present
from .params import CUSTOMER_ID, ORDER_ID, PRODUCT_ID, SUBSCRIPTION_ID, date, limit
from .registry import tool
from .scope import Scope


@tool(
    "find_customers",
    tag="customers",
    customer_scopable=False,
    description="""Find customers by email (exact, any case), name (contains), the app's
    external id or Polar's customer id. Email is a way to find a customer, not proof of
    identity: confirm with the person before acting on what you find.""",
    parameters={
        "properties": {
            "email": {"type": "string", "maxLength": 320, "description": "Exact email."},
            "name": {"type": "string", "maxLength": 256, "description": "Part of the name."},
            "external_id": {
                "type": "string",
                "maxLength": 255,
                "description": "The app's own id of the customer.",
            },
            "customer_id": CUSTOMER_ID,
            "limit": limit(10, 50),
        },
        "anyOf": [
            {"required": ["email"]},
            {"required": ["name"]},
            {"required": ["external_id"]},
            {"required": ["customer_id"]},
        ],
    },
)
def find_customers(
    scope: Scope,
    email: str | None = None,
    name: str | None = None,
    external_id: str | None = None,
    customer_id: str | None = None,
    limit: int = 10,
) -> dict[str, Any]:
    rows = scope.customers()
    if email:
        rows = rows.filter(email__iexact=email.strip())
    if name:
        rows = rows.filter(name__icontains=name.strip())
    if external_id:
        rows = rows.filter(external_id=external_id)
    if customer_id:
        rows = rows.filter(pk=customer_id)
    found = [
        present.customer(c)
        for c in rows.select_related("billable_type").order_by("-created_at")[:limit]
    ]
    return {"customers": found, "count": len(found)}


@tool(
    "get_customer",
    tag="customers",
    description="""Everything about one customer at a glance: profile, which of the app's
    accounts pays, subscriptions, the 5 latest orders, benefits granted now and usage
    meters. Start here when helping a customer.""",
    parameters={
        "properties": {
            "customer_id": CUSTOMER_ID,
            "external_id": {"type": "string", "maxLength": 255, "description": "The app's id."},
        },
        "anyOf": [{"required": ["customer_id"]}, {"required": ["external_id"]}],
    },
)
def get_customer(
    scope: Scope, customer_id: str | None = None, external_id: str | None = None
) -> dict[str, Any]:
    customer = scope.customer(customer_id, external_id)
    subscriptions = scope.subscriptions().filter(customer=customer).order_by("-created_at")
    orders = scope.orders().filter(customer=customer).order_by("-created_at")[:5]
    grants = scope.grants().filter(customer=customer).order_by("-granted_at")
    return {
        "customer": present.customer(customer),
        "subscriptions": [present.subscription(s) for s in subscriptions[:10]],
        "recent_orders": [present.order(o) for o in orders],
        "benefits": [present.grant(g) for g in grants],
        "meters": meters_of(customer),
    }


@tool(
    "get_subscription_status",
    tag="subscriptions",
    description="""The state of one subscription: plan, status, amount, next billing date
    or end date, trial, and for a past-due one when Polar retries the payment. A
    subscription canceled at period end keeps access until ends_at; a past_due one has lost
    its benefits until the payment succeeds (Polar retries, then revokes it). Give
    subscription_id, or customer_id for that customer's current subscription.""",
    parameters={
        "properties": {"subscription_id": SUBSCRIPTION_ID, "customer_id": CUSTOMER_ID},
        "anyOf": [{"required": ["subscription_id"]}, {"required": ["customer_id"]}],
    },
)
def get_subscription_status(
    scope: Scope, subscription_id: str | None = None, customer_id: str | None = None
) -> dict[str, Any]:
    sub: Subscription | None
    if subscription_id:
        sub = scope.subscription(subscription_id)
    else:
        customer = scope.customer(customer_id)
        subs = list(scope.subscriptions().filter(customer=customer).order_by("-created_at"))
        sub = next((s for s in subs if s.valid(past_due_grants_access=True)), None) or (
            subs[0] if subs else None
        )
        if sub is None:
            return {"subscription": None, "summary": "This customer has no subscription."}
    out = present.subscription(sub)
    if sub.status == SubscriptionStatus.PAST_DUE:
        out["past_due"] = {
            "since": present.iso(sub.past_due_at),
            "next_payment_attempt_at": present.iso(sub.next_payment_attempt_at()),
            "revoked_after": present.iso(sub.past_due_deadline),
        }
    return {"subscription": out, "summary": _summary(out)}


def _summary(sub: dict[str, Any]) -> str:
    """One sentence an assistant can repeat."""
    head = f"{sub['plan']} ({sub['amount']['display']} per {sub['interval'] or 'period'})"
    status = sub["status"]
    if status == "past_due":
        retry = (sub.get("past_due") or {}).get("next_payment_attempt_at")
        return f"{head} is past due: the last payment failed" + (
            f"; Polar retries it on {retry}." if retry else "."
        )
    if sub["cancel_at_period_end"] and sub["ends_at"]:
        return f"{head} is canceled and ends on {sub['ends_at']}; access continues until then."
    if status == "trialing":
        return f"{head} is on trial until {(sub.get('trial') or {}).get('ends_at')}."
    if status == "active":
        return f"{head} is active; next billing date {sub['next_billing_date']}."
    return f"{head} is {status}."


@tool(
    "list_subscriptions",
    tag="subscriptions",
    description="""Subscriptions, newest first, filtered by customer, status, product and
    the dates they started or were canceled.""",
    parameters={
        "properties": {
            "customer_id": CUSTOMER_ID,
            "status": {
                "type": "string",
                "enum": [s.value for s in SubscriptionStatus],
                "description": "Only this status.",
            },
            "product_id": PRODUCT_ID,
            "started_after": date("Started at or after this time."),
            "started_before": date("Started before this time."),
            "canceled_after": date("Canceled at or after this time."),
            "canceled_before": date("Canceled before this time."),
            "limit": limit(20),
        }
    },
)
def list_subscriptions(
    scope: Scope,
    customer_id: str | None = None,
    status: str | None = None,
    product_id: str | None = None,
    started_after: Any = None,
    started_before: Any = None,
    canceled_after: Any = None,
    canceled_before: Any = None,
    limit: int = 20,
) -> dict[str, Any]:
    rows = scope.subscriptions()
    if customer_id:
        rows = rows.filter(customer=scope.customer(customer_id))
    filters = {
        "status": status,
        "product_id": product_id,
        "started_at__gte": started_after,
        "started_at__lt": started_before,
        "canceled_at__gte": canceled_after,
        "canceled_at__lt": canceled_before,
    }
    rows = rows.filter(**{k: v for k, v in filters.items() if v is not None})
    found = [present.subscription(s) for s in rows.order_by("-created_at")[:limit]]
    return {"subscriptions": found, "count": len(found)}


@tool(
    "list_orders",
    tag="orders",
    description="""Orders (one-time purchases and every subscription invoice), newest
    first, filtered by customer, product, dates and payment state. Amounts are in minor
    units with the currency and a display text.""",
    parameters={
        "properties": {
            "customer_id": CUSTOMER_ID,
            "product_id": PRODUCT_ID,
            "created_after": date("Created at or after this time."),
            "created_before": date("Created before this time."),
            "status": {
                "type": "string",
                "enum": ["paid", "refunded", "partially_refunded", "pending", "unpaid"],
                "description": "paid: paid and not refunded at all; unpaid: not paid yet.",
            },
            "limit": limit(20),
        }
    },
)
def list_orders(
    scope: Scope,
    customer_id: str | None = None,
    product_id: str | None = None,
    created_after: Any = None,
    created_before: Any = None,
    status: str | None = None,
    limit: int = 20,
) -> dict[str, Any]:
    rows = scope.orders()
    if customer_id:
        rows = rows.filter(customer=scope.customer(customer_id))
    if product_id:
        rows = rows.filter(product_id=product_id)
    if created_after:
        rows = rows.filter(created_at__gte=created_after)
    if created_before:
        rows = rows.filter(created_at__lt=created_before)
    if status == "unpaid":
        rows = rows.filter(paid=False)
    elif status:
        rows = rows.filter(status=status)
    found = [present.order(o) for o in rows.order_by("-created_at")[:limit]]
    return {"orders": found, "count": len(found)}


@tool(
    "get_order",
    tag="orders",
    description="""One order with its amounts, refund state and invoice number. With
    include_invoice_link the answer also has a download link of the invoice PDF: that asks
    Polar (which generates the invoice first when needed; the link is temporary).""",
    parameters={
        "properties": {
            "order_id": ORDER_ID,
            "include_invoice_link": {
                "type": "boolean",
                "default": False,
                "description": "Also fetch the invoice PDF link from Polar.",
            },
        },
        "required": ["order_id"],
    },
)
def get_order(scope: Scope, order_id: str, include_invoice_link: bool = False) -> dict[str, Any]:
    order = scope.order(order_id)
    out = present.order(order)
    if include_invoice_link:
        if not order.paid:
            raise AgentToolError("An invoice exists only for a paid order.")
        url = order.invoice_url()
        out["invoice_url"] = url
        if url is None:
            out["invoice_status"] = "Polar is generating the invoice; ask again in a minute."
    return {"order": out}


@tool(
    "list_benefits",
    tag="benefits",
    description="""Benefits granted to a customer now: license keys, feature flags,
    downloads, credits. License keys are shown masked (display_key); a token bound to the
    key's owner may ask for the full keys.""",
    parameters={"properties": {"customer_id": CUSTOMER_ID}, "required": ["customer_id"]},
    scoped_parameters={
        "reveal_license_keys": {
            "type": "boolean",
            "default": False,
            "description": "Fetch the full license keys of this customer from Polar.",
        }
    },
)
def list_benefits(
    scope: Scope, customer_id: str | None = None, reveal_license_keys: bool = False
) -> dict[str, Any]:
    customer = scope.customer(customer_id)
    grants = list(scope.grants().filter(customer=customer).order_by("-granted_at"))
    found = [present.grant(g) for g in grants]
    if reveal_license_keys and scope.scoped:
        for item in found:
            key_id = item["properties"].get("license_key_id")
            if item["type"] == "license_keys" and key_id:
                key = get_client().get_license_key(str(key_id))
                if str(key.get("customer_id")) == str(customer.pk):
                    item["properties"]["key"] = key.get("key")
    return {"benefits": found, "count": len(found)}


@tool(
    "list_products",
    tag="products",
    description="""The catalog for sale now (archived products are left out), with prices
    and benefits. Use product_id with create_checkout_link or change_subscription_plan.""",
    parameters={
        "properties": {
            "recurring": {
                "type": "boolean",
                "description": "true: subscriptions only; false: one-time purchases only.",
            }
        }
    },
)
def list_products(scope: Scope, recurring: bool | None = None) -> dict[str, Any]:
    rows = Product.objects.active().prefetch_related("prices", "benefits").order_by("name")
    if recurring is not None:
        rows = rows.filter(is_recurring=recurring)
    found = [present.product(p) for p in rows]
    return {"products": found, "count": len(found)}


@tool(
    "get_usage",
    tag="usage",
    description="""Usage meters of a customer: units consumed this period, units credited
    (included in the plan or granted) and the balance left, as of the last update from
    Polar.""",
    parameters={"properties": {"customer_id": CUSTOMER_ID}, "required": ["customer_id"]},
)
def get_usage(scope: Scope, customer_id: str | None = None) -> dict[str, Any]:
    customer = scope.customer(customer_id)
    return {"customer_id": str(customer.pk), "meters": meters_of(customer)}


__all__ = [
    "find_customers",
    "get_customer",
    "get_order",
    "get_subscription_status",
    "get_usage",
    "list_benefits",
    "list_orders",
    "list_products",
    "list_subscriptions",
]

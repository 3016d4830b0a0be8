"""Mirror rows as an assistant reads them: money with its currency, ISO dates, raw ids.

Every amount is given three ways (minor units, currency, display text) so a model can
quote it and a program can compute with it; every object carries its Polar id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..api.serializers import VISIBLE_GRANT_PROPERTIES
from ..models import BenefitGrant, Customer, Order, Product, Subscription
from ..money import format_amount


def money(amount: int | None, currency: str | None) -> dict[str, Any]:
    return {
        "amount": amount,
        "currency": (currency or "").lower(),
        "display": format_amount(amount, currency),
    }


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def billable_label(customer: Customer) -> str | None:
    """``"accounts.user:3 (alice)"``: which of the app's objects pays (from the link)."""
    kind = customer.billable_type
    if kind is None or not customer.billable_id:
        return None
    billable = customer.billable
    label = f"{kind.app_label}.{kind.model}:{customer.billable_id}"
    return f"{label} ({billable})" if billable is not None else label


def customer(row: Customer) -> dict[str, Any]:
    return {
        "customer_id": str(row.pk),
        "external_id": row.external_id,
        "email": row.email,
        "name": row.name,
        "type": row.type,
        "billable": billable_label(row),
        "created_at": iso(row.created_at),
    }


def subscription(row: Subscription) -> dict[str, Any]:
    """Status in words plus the dates that matter for it."""
    running = row.status in ("active", "trialing") and not row.ended()
    out: dict[str, Any] = {
        "subscription_id": str(row.pk),
        "customer_id": str(row.customer_id),
        "product_id": str(row.product_id),
        "plan": row.product.name,
        "status": row.status,
        "grants_access": row.valid(),
        "amount": money(row.amount, row.currency),
        "interval": row.recurring_interval or None,
        "started_at": iso(row.started_at),
        "current_period_start": iso(row.current_period_start),
        "current_period_end": iso(row.current_period_end),
        "cancel_at_period_end": row.cancel_at_period_end,
        "canceled_at": iso(row.canceled_at),
        "ends_at": iso(row.ends_at),
        "ended_at": iso(row.ended_at),
        "next_billing_date": iso(row.current_period_end)
        if running and not row.cancel_at_period_end
        else None,
    }
    if row.status == "trialing" or row.trial_end:
        out["trial"] = {"starts_at": iso(row.trial_start), "ends_at": iso(row.trial_end)}
    if row.discount_id:
        out["discount_id"] = str(row.discount_id)
    pending = row.pending_update
    if pending is not None and (pending.product_id or pending.seats is not None):
        # A plan or seat change Polar applies later (proration "next_period").
        out["pending_change"] = {
            "product_id": str(pending.product_id) if pending.product_id else None,
            "seats": pending.seats,
            "applies_at": iso(pending.applies_at),
        }
    if row.customer_cancellation_reason or row.customer_cancellation_comment:
        # The customer's own words (Polar's portal, or the app's cancel form).
        out["cancellation"] = {
            "reason": row.customer_cancellation_reason or None,
            "comment": row.customer_cancellation_comment or None,
        }
    if row.pause_at_period_end or row.status == "paused":
        out["pause"] = {
            "at_period_end": row.pause_at_period_end,
            "paused_at": iso(row.paused_at),
            "resumes_at": iso(row.resumes_at),
        }
    return out


def order(row: Order) -> dict[str, Any]:
    data = row.data or {}
    return {
        "order_id": str(row.pk),
        "customer_id": str(row.customer_id),
        "product_id": str(row.product_id) if row.product_id else None,
        "product": row.product.name if row.product_id and row.product else None,
        "subscription_id": str(row.subscription_id) if row.subscription_id else None,
        "created_at": iso(row.created_at),
        "status": row.status,
        "paid": row.paid,
        "billing_reason": row.billing_reason,
        "total": money(row.total_amount, row.currency),
        "net": money(row.net_amount, row.currency),
        "tax": money(row.tax_amount, row.currency),
        "refunded": money(row.refunded_amount, row.currency),
        "refundable": money(row.refundable_amount, row.currency),
        "invoice_number": row.invoice_number or None,
        "next_payment_attempt_at": data.get("next_payment_attempt_at"),
    }


def grant(row: BenefitGrant) -> dict[str, Any]:
    wanted = VISIBLE_GRANT_PROPERTIES.get(row.benefit.type, ())
    properties = {k: v for k, v in (row.properties or {}).items() if k in wanted}
    return {
        "grant_id": str(row.pk),
        "benefit_id": str(row.benefit_id),
        "benefit": row.benefit.description,
        "type": row.benefit.type,
        "granted_at": iso(row.granted_at),
        "subscription_id": str(row.subscription_id) if row.subscription_id else None,
        "order_id": str(row.order_id) if row.order_id else None,
        "properties": properties,
    }


def product(row: Product) -> dict[str, Any]:
    return {
        "product_id": str(row.pk),
        "name": row.name,
        "description": row.description,
        "recurring": row.is_recurring,
        "interval": row.recurring_interval,
        "prices": [
            {
                "price_id": str(p.pk),
                "type": p.amount_type,
                **({"price": money(p.amount, p.currency)} if p.amount is not None else {}),
                "interval": p.recurring_interval,
            }
            for p in row.prices.all()
            if not p.is_archived
        ],
        "benefits": [b.description for b in row.benefits.all()],
    }

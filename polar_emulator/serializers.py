"""Stored records -> the exact JSON shapes Polar 2026-10 answers and sends.

Records keep Polar's own field names; keys starting with "_" are the emulator's
bookkeeping and never leave. Nested objects (customer, product, benefit...) are
rebuilt from their own records on every read, so a response is always current.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import pricing
from .store import iso

if TYPE_CHECKING:
    from .core import Emulator

PRODUCT_BASE_FIELDS = (
    "id",
    "created_at",
    "modified_at",
    "trial_interval",
    "trial_interval_count",
    "name",
    "description",
    "visibility",
    "recurring_interval",
    "recurring_interval_count",
    "meter_interval",
    "meter_interval_count",
    "is_recurring",
    "is_archived",
    "organization_id",
)
BENEFIT_PUBLIC_FIELDS = (
    "id",
    "created_at",
    "modified_at",
    "type",
    "description",
    "selectable",
    "deletable",
    "is_deleted",
    "organization_id",
)
SUBSCRIPTION_BASE_FIELDS = (
    "created_at",
    "modified_at",
    "id",
    "amount",
    "currency",
    "recurring_interval",
    "recurring_interval_count",
    "status",
    "current_period_start",
    "current_period_end",
    "current_meter_period_start",
    "current_meter_period_end",
    "trial_start",
    "trial_end",
    "cancel_at_period_end",
    "canceled_at",
    "started_at",
    "ends_at",
    "ended_at",
    "past_due_at",
    "pause_at_period_end",
    "paused_at",
    "resumes_at",
    "customer_id",
    "product_id",
    "discount_id",
    "checkout_id",
    "seats",
    "units",
    "customer_cancellation_reason",
    "customer_cancellation_comment",
    "metadata",
)
DISCOUNT_PRODUCTS_KEY = "_product_ids"


def public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


class Serializer:
    """Builds response bodies from the emulator's store."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.st = emu.store

    # organization -----------------------------------------------------------------
    def organization(self) -> dict[str, Any]:
        return dict(self.st.organization)

    # catalog ----------------------------------------------------------------------
    def benefit(self, benefit_id: str) -> dict[str, Any]:
        return public(self.st.benefits[benefit_id])

    def benefit_public(self, benefit_id: str) -> dict[str, Any]:
        b = self.st.benefits[benefit_id]
        out = {k: b[k] for k in BENEFIT_PUBLIC_FIELDS}
        if b["type"] == "meter_credit":
            out["properties"] = {
                "units": b["properties"]["units"],
                "meter_id": b["properties"]["meter_id"],
            }
        return out

    def price(self, price: dict[str, Any]) -> dict[str, Any]:
        out = public(price)
        if price["amount_type"] in ("metered_unit", "metered_tiers"):
            meter = self.st.meters[price["meter_id"]]
            out["meter"] = {
                "id": meter["id"],
                "name": meter["name"],
                "unit": meter["unit"],
                "custom_label": meter.get("custom_label"),
                "custom_multiplier": meter.get("custom_multiplier"),
            }
        return out

    def active_prices(self, product: dict[str, Any]) -> list[dict[str, Any]]:
        """models/product.py ``Product.prices``: the active ones, in Polar's order."""
        return [self.price(p) for p in pricing.ordered(product["prices"])]

    def product(self, product_id: str) -> dict[str, Any]:
        p = self.st.products[product_id]
        out = public(p)
        out["prices"] = self.active_prices(p)
        out["benefits"] = [self.benefit(b) for b in p["_benefit_ids"] if b in self.st.benefits]
        out["attached_custom_fields"] = self.attached_custom_fields(p)
        return out

    def custom_field(self, field_id: str) -> dict[str, Any]:
        return public(self.st.custom_fields[field_id])

    def attached_custom_fields(self, product: dict[str, Any]) -> list[dict[str, Any]]:
        """``AttachedCustomField`` items: the attachment with its field."""
        return [
            {**a, "custom_field": self.custom_field(a["custom_field_id"])}
            for a in product.get("attached_custom_fields", [])
        ]

    def product_base(self, product_id: str) -> dict[str, Any]:
        p = self.st.products[product_id]
        out = {k: p[k] for k in PRODUCT_BASE_FIELDS}
        out["metadata"] = dict(p["metadata"])
        return out

    def product_public(self, product_id: str) -> dict[str, Any]:
        p = self.st.products[product_id]
        out = {k: p[k] for k in PRODUCT_BASE_FIELDS}
        out["metadata"] = dict(p["metadata"])
        out["prices"] = self.active_prices(p)
        out["benefits"] = [
            self.benefit_public(b) for b in p["_benefit_ids"] if b in self.st.benefits
        ]
        out["medias"] = []
        return out

    def meter(self, meter_id: str) -> dict[str, Any]:
        return public(self.st.meters[meter_id])

    def discount(self, discount_id: str, *, with_products: bool = True) -> dict[str, Any]:
        d = self.st.discounts[discount_id]
        out = public(d)
        if with_products:
            out["products"] = [
                self.product_base(p) for p in d[DISCOUNT_PRODUCTS_KEY] if p in self.st.products
            ]
        return out

    def checkout_discount(self, discount_id: str) -> dict[str, Any]:
        d = self.st.discounts[discount_id]
        keys = ["duration", "type", "id", "name", "code"]
        keys += ["duration_in_months"] if d["duration"] == "repeating" else []
        keys += ["amount", "currency", "amounts"] if d["type"] == "fixed" else ["basis_points"]
        return {k: d[k] for k in keys}

    # customers --------------------------------------------------------------------
    def customer(self, customer_id: str) -> dict[str, Any]:
        return public(self.st.customers[customer_id])

    def customer_state(self, customer_id: str) -> dict[str, Any]:
        out = self.customer(customer_id)
        subs = [
            s
            for s in self.st.subscriptions.values()
            # customer/service.py ``get_state``: ``list_active_by_customer``, i.e.
            # trialing and active only (models/subscription.py ``active_statuses``).
            if s["customer_id"] == customer_id and s["status"] in ("active", "trialing")
        ]
        out["active_subscriptions"] = [self.state_subscription(s) for s in subs]
        grants = [
            g
            for g in self.st.grants.values()
            if g["customer_id"] == customer_id and g["is_granted"]
        ]
        out["granted_benefits"] = [
            {
                "id": g["id"],
                "created_at": g["created_at"],
                "modified_at": g["modified_at"],
                "granted_at": g["granted_at"],
                "benefit_id": g["benefit_id"],
                "benefit_type": self.st.benefits[g["benefit_id"]]["type"],
                "benefit_metadata": dict(self.st.benefits[g["benefit_id"]]["metadata"]),
                "properties": dict(g["properties"]),
            }
            for g in grants
        ]
        out["active_meters"] = [
            {
                "id": cm["id"],
                "created_at": cm["created_at"],
                "modified_at": cm["modified_at"],
                "meter_id": cm["meter_id"],
                "consumed_units": cm["consumed_units"],
                "credited_units": cm["credited_units"],
                "balance": cm["balance"],
            }
            for cm in self.emu.usage.customer_meters(customer_id=customer_id)
        ]
        return out

    def state_subscription(self, s: dict[str, Any]) -> dict[str, Any]:
        keys = (
            "id",
            "created_at",
            "modified_at",
            "metadata",
            "status",
            "amount",
            "currency",
            "recurring_interval",
            "current_period_start",
            "current_period_end",
            "trial_start",
            "trial_end",
            "cancel_at_period_end",
            "canceled_at",
            "started_at",
            "ends_at",
            "product_id",
            "discount_id",
            "seats",
            "units",
        )
        out = {k: s.get(k) for k in keys}
        out["metadata"] = dict(s["metadata"])
        # polar-sdk 1.0.2 reads an access status ("granted"/"disabled"), the server a
        # billing one ("active"/"trialing"): only granting subscriptions are listed, so
        # "granted" (docs/emulator.md, "Customer state").
        out["status"] = "granted"
        out["custom_field_data"] = dict(s.get("custom_field_data") or {})
        out["meters"] = [
            {
                k: m[k]
                for k in (
                    "created_at",
                    "modified_at",
                    "id",
                    "consumed_units",
                    "credited_units",
                    "amount",
                    "meter_id",
                )
            }
            for m in self.subscription_meters(s)
        ]
        return out

    # subscriptions ----------------------------------------------------------------
    def subscription_meters(self, s: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for price in s["_prices"]:
            if price["amount_type"] != "metered_unit":
                continue
            consumed, credited = self.emu.usage.period_usage(s["customer_id"], price["meter_id"])
            out.append(
                {
                    "created_at": s["created_at"],
                    "modified_at": iso(self.emu.clock.now()),
                    "id": s["id"][:-12] + price["meter_id"][-12:],
                    "consumed_units": float(consumed),
                    "credited_units": int(credited),
                    "amount": self.emu.usage.metered_amount(price, consumed - credited),
                    "meter_id": price["meter_id"],
                    "meter": self.meter(price["meter_id"]),
                }
            )
        return out

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        s = self.st.subscriptions[subscription_id]
        out = {k: s.get(k) for k in SUBSCRIPTION_BASE_FIELDS}
        out["metadata"] = dict(s["metadata"])
        out["custom_field_data"] = dict(s.get("custom_field_data") or {})
        out["customer"] = self.customer(s["customer_id"])
        out["product"] = self.product(s["product_id"])
        out["discount"] = (
            self.discount(s["discount_id"], with_products=False) if s["discount_id"] else None
        )
        out["prices"] = [self.price(p) for p in s["_prices"]]
        out["meters"] = self.subscription_meters(s)
        out["pending_update"] = dict(s["_pending_update"]) if s.get("_pending_update") else None
        return out

    def subscription_base(self, subscription_id: str) -> dict[str, Any]:
        s = self.st.subscriptions[subscription_id]
        out = {k: s.get(k) for k in SUBSCRIPTION_BASE_FIELDS}
        out["metadata"] = dict(s["metadata"])
        return out

    # orders -----------------------------------------------------------------------
    def order(self, order_id: str) -> dict[str, Any]:
        o = self.st.orders[order_id]
        out = public(o)
        out["customer"] = self.customer(o["customer_id"])
        out["product"] = self.product_base(o["product_id"]) if o["product_id"] else None
        out["discount"] = (
            self.discount(o["discount_id"], with_products=False) if o["discount_id"] else None
        )
        out["subscription"] = (
            self.subscription_base(o["subscription_id"]) if o["subscription_id"] else None
        )
        out["refundable_amount"] = o["net_amount"] - o["refunded_amount"] if o["paid"] else 0
        out["refundable_tax_amount"] = (
            o["tax_amount"] - o["refunded_tax_amount"] if o["paid"] else 0
        )
        return out

    def refund(self, refund_id: str) -> dict[str, Any]:
        return public(self.st.refunds[refund_id])

    # grants -----------------------------------------------------------------------
    def grant(
        self, grant_id: str, *, webhook: bool = False, previous: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        g = self.st.grants[grant_id]
        out = public(g)
        out["customer"] = self.customer(g["customer_id"])
        member = self.st.members.get(g["member_id"] or "")
        out["member"] = public(member) if member else None
        out["benefit"] = self.benefit(g["benefit_id"])
        out["properties"] = dict(g["properties"])
        if webhook:
            out["previous_properties"] = previous
        return out

    # checkouts --------------------------------------------------------------------
    def checkout(self, checkout_id: str, *, public_view: bool = False) -> dict[str, Any]:
        c = self.st.checkouts[checkout_id]
        out = public(c)
        out["products"] = [
            self.product_public(p) for p in c["_product_ids"] if p in self.st.products
        ]
        out["product"] = self.product_public(c["product_id"]) if c["product_id"] else None
        price = (
            self.emu.catalog.find_price(c["product_price_id"])[1] if c["product_price_id"] else None
        )
        out["product_price"] = self.price(price) if price else None
        out["prices"] = {
            p: self.active_prices(self.st.products[p])
            for p in c["_product_ids"]
            if p in self.st.products
        }
        out["discount"] = self.checkout_discount(c["discount_id"]) if c["discount_id"] else None
        out["attached_custom_fields"] = (
            self.attached_custom_fields(self.st.products[c["product_id"]])
            if c["product_id"] in self.st.products
            else []
        )
        if public_view:
            for key in (
                "trial_interval",
                "trial_interval_count",
                "metadata",
                "external_customer_id",
                "subscription_id",
                "customer_metadata",
            ):
                out.pop(key, None)
            org = self.st.organization
            out["organization"] = {
                k: org[k]
                for k in (
                    "created_at",
                    "modified_at",
                    "id",
                    "name",
                    "slug",
                    "avatar_url",
                    "proration_behavior",
                    "allow_customer_updates",
                )
            }
        return out

    def checkout_link(self, link_id: str) -> dict[str, Any]:
        link = self.st.checkout_links[link_id]
        out = public(link)
        out["products"] = [
            {**self.product_public(p)} for p in link["_product_ids"] if p in self.st.products
        ]
        out["discount"] = (
            self.discount(link["discount_id"], with_products=False) if link["discount_id"] else None
        )
        return out

    # seats and members ------------------------------------------------------------
    def member(self, member_id: str) -> dict[str, Any]:
        return public(self.st.members[member_id])

    def seat(self, seat_id: str) -> dict[str, Any]:
        """A CustomerSeat; the invitation token itself is never shown (only its expiry)."""
        seat = self.st.customer_seats[seat_id]
        out = public(seat)
        member = self.st.members.get(seat["member_id"] or "")
        out["member"] = public(member) if member else None
        out["customer_email"] = seat["email"]
        out["seat_metadata"] = dict(seat["seat_metadata"])
        return out

    # license keys -----------------------------------------------------------------
    def license_key(self, key_id: str, *, activations: bool = False) -> dict[str, Any]:
        lk = self.st.license_keys[key_id]
        out = public(lk)
        out["customer"] = self.customer(lk["customer_id"])
        out["member"] = None
        if activations:
            out["activations"] = [
                public(a) for a in self.st.activations.values() if a["license_key_id"] == key_id
            ]
        return out

    def activation(self, activation_id: str) -> dict[str, Any]:
        a = self.st.activations[activation_id]
        out = public(a)
        out["license_key"] = self.license_key(a["license_key_id"])
        return out

    # usage ------------------------------------------------------------------------
    def event(self, event_id: str) -> dict[str, Any]:
        e = self.st.events[event_id]
        out = public(e)
        out["customer"] = (
            self.customer(e["customer_id"]) if e["customer_id"] in self.st.customers else None
        )
        return out

    def customer_session(self, session_id: str) -> dict[str, Any]:
        cs = self.st.customer_sessions[session_id]
        out = public(cs)
        out["customer"] = self.customer(cs["customer_id"])
        return out

"""Orders (purchase, renewal, update), payment, invoices and refunds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import APIError, bad_request, forbidden, invalid, not_found
from .store import iso
from .validation import Body

if TYPE_CHECKING:
    from .core import Emulator

REFUND_REASONS = (
    "duplicate",
    "fraudulent",
    "customer_request",
    "service_disruption",
    "satisfaction_guarantee",
    "other",
)


class Orders:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.st = emu.store

    def get(self, order_id: str) -> dict[str, Any]:
        order = self.st.orders.get(order_id)
        if order is None:
            raise not_found("Order not found")
        return order

    def item(
        self,
        label: str,
        amount: int,
        *,
        price_id: str | None,
        proration: bool = False,
        start: str | None = None,
        end: str | None = None,
    ) -> dict[str, Any]:
        tax = amount * self.emu.tax_rate_bps // 10000
        return {
            "created_at": iso(self.emu.clock.now()),
            "modified_at": None,
            "id": self.st.new_id(),
            "label": label,
            "amount": amount,
            "tax_amount": tax,
            "proration": proration,
            "product_price_id": price_id,
            "start_timestamp": start,
            "end_timestamp": end,
        }

    def create(
        self,
        *,
        customer_id: str,
        product_id: str,
        items: list[dict[str, Any]],
        billing_reason: str,
        currency: str,
        subscription_id: str | None = None,
        checkout_id: str | None = None,
        discount_id: str | None = None,
        seats: int | None = None,
        metadata: dict[str, Any] | None = None,
        paid: bool = False,
        announce: bool = True,
    ) -> dict[str, Any]:
        now = iso(self.emu.clock.now())
        subtotal = sum(i["amount"] for i in items)
        discount = self.emu.catalog.discount_amount(discount_id, subtotal) if subtotal > 0 else 0
        net = subtotal - discount
        tax = net * self.emu.tax_rate_bps // 10000
        customer = self.st.customers[customer_id]
        applied = 0
        if subscription_id is not None and billing_reason != "subscription_create":
            applied = self._apply_balance(customer_id, net + tax)
        number = self.st.next_number("invoice")
        prefix = self.st.organization["slug"].upper().replace("-", "")[:8] or "POLAR"
        product = self.st.products[product_id]
        order = {
            "id": self.st.new_id(),
            "created_at": now,
            "modified_at": None,
            "status": "paid" if paid else "pending",
            "paid": paid,
            "subtotal_amount": subtotal,
            "discount_amount": discount,
            "net_amount": net,
            "tax_amount": tax,
            "total_amount": net + tax,
            "applied_balance_amount": applied,
            "due_amount": 0 if paid else max(0, net + tax + applied),
            "refunded_amount": 0,
            "refunded_tax_amount": 0,
            "currency": currency,
            "billing_reason": billing_reason,
            "billing_name": customer["billing_name"] or customer["name"],
            "billing_address": customer["billing_address"],
            "invoice_number": f"{prefix}-{number:04d}",
            "is_invoice_generated": False,
            "receipt_number": f"{prefix}-R{number:04d}" if paid else None,
            "seats": seats,
            "units": None,
            "customer_id": customer_id,
            "product_id": product_id,
            "discount_id": discount_id if discount else None,
            "subscription_id": subscription_id,
            "checkout_id": checkout_id,
            "next_payment_attempt_at": None,
            "metadata": dict(metadata or {}),
            "custom_field_data": {},
            "platform_fee_amount": 0,
            "platform_fee_currency": None,
            "items": items,
            "description": product["name"],
        }
        self.st.orders[order["id"]] = order
        product["is_deletable"] = False
        if announce:
            self.emu.emit("order.created", self.emu.ser.order(order["id"]))
        return order

    # the customer's balance ----------------------------------------------------------
    def balance(self, customer_id: str) -> int:
        """The customer's credit (minor units): what downgrades gave back, not yet used."""
        return int(self.st.customers[customer_id].get("_balance", 0))

    def adjust_balance(self, customer_id: str, delta: int) -> None:
        customer = self.st.customers[customer_id]
        customer["_balance"] = customer.get("_balance", 0) + delta

    def _apply_balance(self, customer_id: str, total: int) -> int:
        """order/service.py ``_create_order`` with order/amounts.py
        ``apply_wallet_balance``: a charge consumes credit (a negative applied amount);
        a negative total (a downgrade's credit) goes to the balance."""
        balance = self.balance(customer_id)
        if total >= 0:
            applied = -min(total, max(balance, 0))
            self.adjust_balance(customer_id, applied)
            return applied
        applied = min(-total, -balance) if balance < 0 else 0
        self.adjust_balance(customer_id, -total)
        return applied

    def mark_paid(self, order: dict[str, Any], *, announce_update: bool) -> None:
        now = iso(self.emu.clock.now())
        if not order["paid"]:
            order.update(
                status="paid",
                paid=True,
                due_amount=0,
                modified_at=now,
                next_payment_attempt_at=None,
            )
            number = int(order["invoice_number"].rsplit("-", 1)[1])
            prefix = order["invoice_number"].rsplit("-", 1)[0]
            order["receipt_number"] = f"{prefix}-R{number:04d}"
        if announce_update:
            self.emu.emit("order.updated", self.emu.ser.order(order["id"]))
        self.emu.emit("order.paid", self.emu.ser.order(order["id"]))

    # invoices ---------------------------------------------------------------------
    def generate_invoice(self, order_id: str) -> None:
        order = self.get(order_id)
        if not order["paid"]:
            raise APIError(
                422, {"error": "OrderNotEligibleForInvoice", "detail": "Order is not paid."}
            )
        if order["billing_address"] is None and order["billing_name"] is None:
            raise APIError(
                422,
                {
                    "error": "MissingInvoiceBillingDetails",
                    "detail": "Billing name and address are required to generate an invoice.",
                },
            )
        if not order["is_invoice_generated"]:
            order["is_invoice_generated"] = True
            order["modified_at"] = iso(self.emu.clock.now())
            self.emu.emit("order.updated", self.emu.ser.order(order_id))

    def invoice(self, order_id: str) -> dict[str, str]:
        order = self.get(order_id)
        if not order["is_invoice_generated"]:
            raise not_found("Invoice not generated yet")
        return {"url": f"{self.emu.base_url}/invoices/{order_id}/{order['invoice_number']}.pdf"}

    # refunds ----------------------------------------------------------------------
    def refund(self, data: Any) -> dict[str, Any]:
        body = Body(data)
        order_id = body.uuid("order_id", required=True)
        reason = body.choice("reason", REFUND_REASONS, required=True)
        amount = body.int("amount", required=True, gt=0)
        comment = body.str("comment")
        revoke_benefits = body.bool("revoke_benefits", False)
        metadata = body.metadata() or {}
        order = self.st.orders.get(order_id)
        if order is None:
            raise invalid(["body", "order_id"], "Order does not exist.")
        if not order["paid"]:
            raise invalid(["body", "order_id"], "Order is not paid.")
        if order["status"] == "refunded":
            raise forbidden("RefundedAlready", "Order is already fully refunded.")
        # refund/service.py ``create``: benefits of a subscription go with the
        # subscription (cancel it), never with a refund of one of its orders.
        if revoke_benefits and order["subscription_id"] is not None:
            raise bad_request(
                "Subscription benefits can only be revoked upon cancellation",
                "RevokeSubscriptionBenefitsProhibited",
            )
        refundable = order["net_amount"] - order["refunded_amount"]
        if amount > refundable:
            raise invalid(
                ["body", "amount"], f"Refund amount exceeds the refundable amount ({refundable})."
            )
        tax = order["tax_amount"] * amount // order["net_amount"] if order["net_amount"] else 0
        now = iso(self.emu.clock.now())
        refund = {
            "created_at": now,
            "modified_at": None,
            "id": self.st.new_id(),
            "metadata": metadata,
            "status": "pending",
            "reason": reason,
            "amount": amount,
            "tax_amount": tax,
            "currency": order["currency"],
            "organization_id": self.st.organization["id"],
            "order_id": order_id,
            "subscription_id": order["subscription_id"],
            "customer_id": order["customer_id"],
            "revoke_benefits": revoke_benefits,
            "dispute": None,
            "_comment": comment,
        }
        self.st.refunds[refund["id"]] = refund
        self.emu.emit("refund.created", self.emu.ser.refund(refund["id"]))
        refund["status"] = "succeeded"
        refund["modified_at"] = now
        self.emu.emit("refund.updated", self.emu.ser.refund(refund["id"]))
        order["refunded_amount"] += amount
        order["refunded_tax_amount"] += tax
        order["status"] = (
            "refunded" if order["refunded_amount"] >= order["net_amount"] else "partially_refunded"
        )
        order["modified_at"] = now
        self.emu.emit("order.refunded", self.emu.ser.order(order_id))
        self.emu.emit("order.updated", self.emu.ser.order(order_id))
        if revoke_benefits:
            for grant in list(self.st.grants.values()):
                if grant["order_id"] == order_id and grant["is_granted"]:
                    self.emu.grants.revoke(grant)
        self.emu.state_changed(order["customer_id"])
        return refund

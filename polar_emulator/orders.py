"""Orders (purchase, renewal, update), payment, invoices and refunds."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from .errors import APIError, Invalid, bad_request, forbidden, invalid, not_found
from .store import iso, parse_iso
from .validation import Body, address

if TYPE_CHECKING:
    from .core import Emulator

# Invoices and receipts are rendered by Polar's worker (order/service.py
# trigger_invoice_generation enqueues "order.invoice"; receipt/service.py
# get_pdf_url_or_status enqueues "receipt.render"), not in the request that asks.
# The emulator's worker finishes a job this long after it was queued (emulator clock).
WORKER_DELAY = timedelta(seconds=1)

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
        custom_field_data: dict[str, Any] | None = None,
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
            "_receipt_rendered": False,
            # Allocated when paid, and only with a succeeded payment (``_allocate_receipt``).
            "receipt_number": None,
            "seats": seats,
            "units": None,
            "customer_id": customer_id,
            "product_id": product_id,
            "discount_id": discount_id if discount else None,
            "subscription_id": subscription_id,
            "checkout_id": checkout_id,
            "next_payment_attempt_at": None,
            "metadata": dict(metadata or {}),
            # order/service.py ``create_from_checkout``: the checkout's custom field data.
            "custom_field_data": dict(custom_field_data or {}),
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
        self._charge_card(order)
        self._allocate_receipt(order)
        if announce_update:
            self.emu.emit("order.updated", self.emu.ser.order(order["id"]))
        self.emu.emit("order.paid", self.emu.ser.order(order["id"]))

    def _allocate_receipt(self, order: dict[str, Any]) -> None:
        """order/service.py ``_on_order_paid`` -> receipt/service.py ``allocate``: a receipt
        number only for an order with a succeeded payment, so a free (0) order never has a
        receipt and GET .../receipt stays a 404 ``ReceiptNotAllocated``."""
        if order["receipt_number"] is not None:
            return
        if any(
            p["order_id"] == order["id"] and p["status"] == "succeeded"
            for p in self.st.payments.values()
        ):
            number = int(order["invoice_number"].rsplit("-", 1)[1])
            prefix = order["invoice_number"].rsplit("-", 1)[0]
            order["receipt_number"] = f"{prefix}-R{number:04d}"

    def _charge_card(self, order: dict[str, Any]) -> None:
        """The test card pays what is due; a free checkout saves the card only when the
        checkout asked for one (a trial still needs a payment method)."""
        if order["total_amount"] > 0:
            if not any(
                p["order_id"] == order["id"] and p["status"] == "succeeded"
                for p in self.st.payments.values()
            ):
                self.emu.payments.record(order)
            return
        checkout = self.st.checkouts.get(order["checkout_id"] or "")
        if checkout is not None and checkout.get("is_payment_form_required"):
            self.emu.payments.card_of(order["customer_id"])

    # update -----------------------------------------------------------------------
    def update(self, order_id: str, data: Any) -> dict[str, Any]:
        """PATCH /v1/orders/{id}: the invoice's billing name and address. Polar refuses a
        new country or state once an address is set (order/service.py ``update``)."""
        order = self.get(order_id)
        body = Body(data)
        new_address = address(body, "billing_address") if body.has("billing_address") else None
        current = order["billing_address"]
        if new_address is not None and current is not None:
            errors = Invalid()
            if new_address["country"] != current["country"]:
                errors.add(["body", "billing_address", "country"], "Country cannot be changed")
            if new_address["state"] != current["state"]:
                errors.add(["body", "billing_address", "state"], "State cannot be changed")
            errors.raise_if_any()
        if body.has("billing_name"):
            order["billing_name"] = body.str("billing_name")
        if body.has("billing_address"):
            order["billing_address"] = new_address
        order["modified_at"] = iso(self.emu.clock.now())
        self.emu.emit("order.updated", self.emu.ser.order(order_id))
        return order

    # invoices and receipts (worker jobs) -----------------------------------------------
    def trigger_invoice(self, order_id: str) -> None:
        """POST /v1/orders/{id}/invoice: checked now, rendered by the worker later, so a GET
        right after the POST may still be a 404 (order/service.py
        ``trigger_invoice_generation``: draft or void orders 409, no billing name *or* no
        billing address 422 ``MissingInvoiceBillingDetails``)."""
        order = self.get(order_id)
        if order["status"] in ("draft", "void"):
            raise APIError(
                409,
                {
                    "error": "OrderNotEligibleForInvoice",
                    "detail": f"Order {order_id} is not eligible for invoice generation "
                    f"(current status: {order['status']}).",
                },
            )
        if order["billing_name"] is None or order["billing_address"] is None:
            raise APIError(
                422,
                {
                    "error": "MissingInvoiceBillingDetails",
                    "detail": "Billing name and address are required "
                    "to generate an invoice for this order.",
                },
            )
        self._queue("invoice", order_id)

    def generate_invoice(self, order_id: str) -> None:
        """Trigger and wait for the worker: what Polar's customer portal does (it polls
        until the invoice exists) before it downloads the PDF."""
        self.trigger_invoice(order_id)
        self.run_jobs(force=True)

    def invoice(self, order_id: str) -> dict[str, str]:
        order = self.get(order_id)
        if not order["is_invoice_generated"]:
            # order/service.py InvoiceDoesNotExist
            raise not_found(f"No invoice exists for order {order_id}.")
        return {"url": f"{self.emu.base_url}/invoices/{order_id}/{order['invoice_number']}.pdf"}

    def receipt(self, order_id: str) -> dict[str, str] | None:
        """GET /v1/orders/{id}/receipt: 404 ``ReceiptNotAllocated`` before payment; the
        first request queues the render and answers None (HTTP 202), a later one the URL
        (order/endpoints.py ``receipt``, receipt/service.py ``get_pdf_url_or_status``)."""
        order = self.get(order_id)
        if order["receipt_number"] is None:
            raise APIError(
                404,
                {
                    "error": "ReceiptNotAllocated",
                    "detail": f"No receipt allocated for order {order_id}.",
                },
            )
        if not order.get("_receipt_rendered"):
            self._queue("receipt", order_id)
            return None
        return {"url": f"{self.emu.base_url}/receipts/{order_id}/{order['receipt_number']}.pdf"}

    def _queue(self, kind: str, order_id: str) -> None:
        due = iso(self.emu.clock.now() + WORKER_DELAY)
        self.st.jobs.setdefault(
            f"{kind}:{order_id}", {"kind": kind, "order_id": order_id, "due_at": due}
        )

    def run_jobs(self, *, force: bool = False) -> None:
        """Finish the worker jobs that are due (``force``: all of them)."""
        if not self.st.jobs:
            return
        now = self.emu.clock.now()
        for key, job in list(self.st.jobs.items()):
            if not force and parse_iso(job["due_at"]) > now:
                continue
            del self.st.jobs[key]
            order = self.st.orders.get(job["order_id"])
            if order is None:
                continue
            if job["kind"] == "receipt":
                order["_receipt_rendered"] = True
            elif not order["is_invoice_generated"]:
                order["is_invoice_generated"] = True
                order["modified_at"] = iso(now)
                self.emu.emit("order.updated", self.emu.ser.order(order["id"]))

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

"""Payments and saved payment methods: the card side of every paid order.

Polar records a payment per charge attempt (``payment/service.py``; ``GET /v1/payments/``)
and keeps the card a checkout saved as the customer's payment method
(``customer/endpoints.py`` ``list_payment_methods``). The emulator's buyer always pays
with the same test card, Stripe's ``4242``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import not_found
from .store import iso

if TYPE_CHECKING:
    from .core import Emulator

TEST_CARD = {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034, "wallet": None}
# PaymentTrigger for each order billing reason (payment/schemas.py).
TRIGGERS = {
    "purchase": "purchase",
    "subscription_create": "purchase",
    "subscription_update": "purchase",
    "subscription_cycle": "subscription_cycle",
    "subscription_cycle_after_trial": "subscription_cycle",
}


def decline(emu: Emulator, order: dict[str, Any], *, trigger: str | None = None) -> None:
    """A declined charge of ``order`` (a failed renewal or dunning retry)."""
    emu.payments.record(
        order,
        status="failed",
        decline_reason="card_declined",
        decline_message="Your card was declined.",
        trigger=trigger,
    )


class Payments:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.st = emu.store

    def get(self, payment_id: str) -> dict[str, Any]:
        payment = self.st.payments.get(payment_id)
        if payment is None:
            raise not_found("Payment not found")
        return payment

    def card_of(self, customer_id: str) -> dict[str, Any]:
        """The customer's saved card, created at their first payment (the checkout
        saves it for later charges: renewals, plan changes)."""
        customer = self.st.customers[customer_id]
        method = self.st.payment_methods.get(customer["default_payment_method_id"] or "")
        if method is not None:
            return method
        now = iso(self.emu.clock.now())
        method = {
            "id": self.st.new_id(),
            "created_at": now,
            "modified_at": None,
            "processor": "stripe",
            "customer_id": customer_id,
            "type": "card",
            "method_metadata": dict(TEST_CARD),
        }
        self.st.payment_methods[method["id"]] = method
        customer["default_payment_method_id"] = method["id"]
        customer["modified_at"] = now
        return method

    def record(
        self,
        order: dict[str, Any],
        *,
        status: str = "succeeded",
        decline_reason: str | None = None,
        decline_message: str | None = None,
        trigger: str | None = None,
    ) -> dict[str, Any]:
        """One charge attempt of ``order`` with the customer's card."""
        card = self.card_of(order["customer_id"])
        payment = {
            "created_at": iso(self.emu.clock.now()),
            "modified_at": None,
            "id": self.st.new_id(),
            "processor": "stripe",
            "status": status,
            "amount": order["total_amount"],
            "currency": order["currency"],
            "method": "card",
            "trigger": trigger or TRIGGERS.get(order["billing_reason"]),
            "decline_reason": decline_reason,
            "decline_message": decline_message,
            "organization_id": self.st.organization["id"],
            "checkout_id": order["checkout_id"],
            "order_id": order["id"],
            "processor_metadata": {},
            "method_metadata": {"brand": card["method_metadata"]["brand"], "last4": "4242"},
            "_customer_id": order["customer_id"],
        }
        self.st.payments[payment["id"]] = payment
        return payment

    def render(self, payment: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in payment.items() if not k.startswith("_")}

    def render_method(self, method: dict[str, Any]) -> dict[str, Any]:
        customer = self.st.customers[method["customer_id"]]
        return {**method, "is_default": customer["default_payment_method_id"] == method["id"]}

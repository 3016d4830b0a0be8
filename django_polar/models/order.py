"""Orders: one-time purchases and every subscription invoice."""

from django.db import models

from ..client import get_client
from ..errors import PolarNotFoundError, RefundNotAllowedError
from .base import PolarObject
from .catalog import Product
from .customer import Customer
from .subscription import Subscription


class OrderStatus(models.TextChoices):
    DRAFT = "draft"
    PENDING = "pending"
    PAID = "paid"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    VOID = "void"


class OrderQuerySet(models.QuerySet):
    def paid(self) -> "OrderQuerySet":
        """Orders that were paid (including those refunded since)."""
        return self.filter(paid=True)


class Order(PolarObject):
    """Amounts are integer minor units in ``currency``."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    # No DB constraint: an order can arrive before its subscription's own event.
    subscription = models.ForeignKey(
        Subscription,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="orders",
    )
    status = models.CharField(max_length=32, db_index=True)
    paid = models.BooleanField(default=False)
    billing_reason = models.CharField(max_length=32, blank=True)
    subtotal_amount = models.BigIntegerField(default=0)
    discount_amount = models.BigIntegerField(default=0)
    net_amount = models.BigIntegerField(default=0)
    tax_amount = models.BigIntegerField(default=0)
    total_amount = models.BigIntegerField(default=0)
    refunded_amount = models.BigIntegerField(default=0)
    refunded_tax_amount = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    invoice_number = models.CharField(max_length=64, blank=True)
    is_invoice_generated = models.BooleanField(default=False)
    checkout_id = models.UUIDField(null=True, blank=True, db_index=True)
    metadata = models.JSONField(default=dict, blank=True)
    #: The values of the product's custom fields the buyer gave at checkout, by slug.
    custom_field_data = models.JSONField(default=dict, blank=True)
    next_payment_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="when Polar retries an unpaid renewal (dunning)"
    )

    objects = OrderQuerySet.as_manager()

    class Meta:
        db_table = "polar_order"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.invoice_number or f"Order {self.id}"

    def is_paid(self) -> bool:
        return self.paid

    def refunded(self) -> bool:
        return self.status == OrderStatus.REFUNDED

    def partially_refunded(self) -> bool:
        return self.status == OrderStatus.PARTIALLY_REFUNDED

    # -- actions: call Polar, then apply the answer through the mirror ---------------------
    @property
    def refundable_amount(self) -> int:
        """What can still be refunded, in minor units (Polar's figure when stored)."""
        amount = (self.data or {}).get("refundable_amount")
        if isinstance(amount, int):
            return amount
        return max(self.net_amount - self.refunded_amount, 0)

    def invoice_url(self) -> str | None:
        """The invoice PDF URL; asks Polar to generate it first when needed.

        Returns None while Polar is still generating it (a worker renders it after the
        request, so right after the first call it is usually None). Raises
        ``PolarValidationError`` when the order lacks a billing name or address, which
        Polar needs for an invoice (``MissingInvoiceBillingDetails``).
        """
        client = get_client()
        if not self.is_invoice_generated:
            client.generate_invoice(str(self.pk))
        try:
            return client.get_invoice(str(self.pk))["url"]
        except PolarNotFoundError:
            return None

    def has_receipt(self) -> bool:
        """Whether Polar made a receipt for this order, from the mirror (no call): only a
        paid order with a succeeded payment gets a receipt number (receipt/service.py
        ``allocate``), so an unpaid or free order never has one."""
        data = self.data or {}
        return self.is_paid() and data.get("receipt_number", True) is not None

    def receipt_url(self) -> str | None:
        """A short-lived download URL of the receipt PDF (presigned: fetch it when the
        customer clicks, do not store it). None when the order has no receipt (see
        ``has_receipt()``: no Polar call then; Polar answers 404 ``ReceiptNotAllocated``)
        and while Polar is still rendering it (202: the first request starts the render,
        so ask again a moment later)."""
        if not self.has_receipt():
            return None
        try:
            receipt = get_client().get_receipt(str(self.pk))
        except PolarNotFoundError:
            return None
        return str(receipt["url"]) if receipt else None

    def refund(
        self,
        amount: int | None = None,
        reason: str = "customer_request",
        *,
        comment: str | None = None,
        revoke_benefits: bool = False,
        metadata: dict | None = None,
    ) -> dict:
        """Refund ``amount`` minor units (default: all that is refundable).

        Returns Polar's refund; the order is re-read and mirrored so its refunded state
        is right before the ``order.refunded`` webhook arrives. ``revoke_benefits`` is for
        one-time purchases only: Polar revokes a subscription's benefits only when the
        subscription ends (``Subscription.cancel_now()``), so asking for it on a
        subscription's order raises ``RefundNotAllowedError`` without calling Polar.
        """
        from .. import mirror

        if revoke_benefits and self.subscription_id is not None:
            raise RefundNotAllowedError(
                "Subscription benefits can only be revoked upon cancellation: refund without "
                "revoke_benefits and end the subscription with Subscription.cancel_now()."
            )

        client = get_client()
        body: dict = {
            "order_id": str(self.pk),
            "reason": reason,
            "amount": self.refundable_amount if amount is None else amount,
            "revoke_benefits": revoke_benefits,
        }
        if comment:
            body["comment"] = comment
        if metadata:
            body["metadata"] = metadata
        refund = client.create_refund(body)
        mirror.upsert_refund(refund)
        mirror.upsert_order(client.get_order(str(self.pk)))
        self.refresh_from_db()
        return refund

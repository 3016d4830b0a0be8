"""Refunds: mirrored so an order's refunded amounts never lag behind a refund event."""

from django.db import models

from .base import PolarObject
from .order import Order


class Refund(PolarObject):
    """Amounts are integer minor units in ``currency``."""

    # No DB constraint: a refund event can arrive before its order's.
    order = models.ForeignKey(
        Order,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="refunds",
    )
    customer_id = models.UUIDField(null=True, blank=True, db_index=True)
    subscription_id = models.UUIDField(null=True, blank=True)
    status = models.CharField(max_length=32, db_index=True)
    reason = models.CharField(max_length=64, blank=True)
    amount = models.BigIntegerField(default=0)
    tax_amount = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    revoke_benefits = models.BooleanField(default=False)

    class Meta:
        db_table = "polar_refund"
        ordering = ["-created_at"]

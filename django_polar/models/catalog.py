"""The catalog: products, their prices and the benefits they grant."""

import uuid
from typing import Any

from django.db import models

from ..conf import polar_settings
from ..errors import UnknownProductError
from .base import PolarObject


class Benefit(PolarObject):
    type = models.CharField(max_length=32, db_index=True)
    description = models.CharField(max_length=255, blank=True)
    is_deleted = models.BooleanField(default=False)

    class Meta:
        db_table = "polar_benefit"

    def __str__(self) -> str:
        return self.description or str(self.id)


class ProductQuerySet(models.QuerySet):
    def active(self) -> "ProductQuerySet":
        """Products on sale: not archived, and not placeholders."""
        return self.filter(is_archived=False).exclude(self.placeholder_q())

    def placeholders(self) -> "ProductQuerySet":
        """Rows created from an id in another payload (a price's, a subscription's product)
        before any snapshot of the product itself arrived: no name, no price list, never
        offered for sale until ``polar_sync`` or the product's own webhook fills them in."""
        return self.filter(self.placeholder_q())

    @staticmethod
    def placeholder_q() -> models.Q:
        return models.Q(modified_at__isnull=True, created_at__isnull=True, name="")

    def recurring(self) -> "ProductQuerySet":
        return self.filter(is_recurring=True)

    def one_time(self) -> "ProductQuerySet":
        return self.filter(is_recurring=False)


class Product(PolarObject):
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    is_recurring = models.BooleanField(default=False)
    recurring_interval = models.CharField(max_length=16, null=True, blank=True)  # noqa: DJ001  (Polar's null: one-time)
    is_archived = models.BooleanField(default=False, db_index=True)
    organization_id = models.UUIDField(null=True, blank=True)
    benefits = models.ManyToManyField(Benefit, blank=True, related_name="products")

    objects = ProductQuerySet.as_manager()

    class Meta:
        db_table = "polar_product"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name or f"Product {self.id} (not mirrored yet)"

    @property
    def is_placeholder(self) -> bool:
        return self.modified_at is None and self.created_at is None and not self.name


def resolve_product_id(product: Any) -> str:
    """The Polar product id for a Product row, a UUID, an id string or a configured slug."""
    if isinstance(product, Product):
        return str(product.pk)
    if isinstance(product, uuid.UUID):
        return str(product)
    if isinstance(product, str):
        slug_target = polar_settings.PRODUCTS.get(product)
        if slug_target is not None:
            return slug_target
        try:
            return str(uuid.UUID(product))
        except ValueError:
            pass
    known = ", ".join(sorted(polar_settings.PRODUCTS)) or "none configured"
    raise UnknownProductError(
        f"{product!r} is neither a Polar product id nor a slug of POLAR['PRODUCTS'] "
        f"(slugs: {known})."
    )


class PriceQuerySet(models.QuerySet):
    def active(self) -> "PriceQuerySet":
        return self.filter(is_archived=False)


class Price(PolarObject):
    """One price of a product. Amounts are integer minor units (cents)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="prices")
    amount_type = models.CharField(max_length=32)  # fixed, custom, free, seat_based, metered_unit
    amount = models.BigIntegerField(null=True, blank=True, help_text="price_amount, minor units")
    currency = models.CharField(max_length=3, blank=True)
    recurring_interval = models.CharField(max_length=16, null=True, blank=True)  # noqa: DJ001  (Polar's null: one-time)
    is_archived = models.BooleanField(default=False)

    objects = PriceQuerySet.as_manager()

    class Meta:
        db_table = "polar_price"

    def __str__(self) -> str:
        if self.amount is None:
            return f"{self.product_id} {self.amount_type}"
        return f"{self.amount} {self.currency} ({self.amount_type})"


class Meter(PolarObject):
    """A Polar meter: which events it counts (``data["filter"]``) and how
    (``data["aggregation"]``); the credits gate applies it to events not yet in Polar."""

    name = models.CharField(max_length=255, db_index=True)
    is_archived = models.BooleanField(default=False)

    class Meta:
        db_table = "polar_meter"

    def __str__(self) -> str:
        return self.name or str(self.id)

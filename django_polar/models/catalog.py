"""The catalog: products, their prices and the benefits they grant."""

from django.db import models

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
        return self.filter(is_archived=False)

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
        return self.name


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

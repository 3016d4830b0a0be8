"""Benefit grants: what a customer has been given (license keys, feature flags ...)."""

from django.db import models

from .base import PolarObject
from .catalog import Benefit
from .customer import Customer
from .order import Order
from .subscription import Subscription


class BenefitGrantQuerySet(models.QuerySet):
    def granted(self) -> "BenefitGrantQuerySet":
        return self.filter(is_granted=True, is_revoked=False)


class BenefitGrant(PolarObject):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="benefit_grants")
    benefit = models.ForeignKey(Benefit, on_delete=models.PROTECT, related_name="grants")
    subscription = models.ForeignKey(
        Subscription,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="benefit_grants",
    )
    order = models.ForeignKey(
        Order,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="benefit_grants",
    )
    is_granted = models.BooleanField(default=False)
    is_revoked = models.BooleanField(default=False)
    granted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    member_id = models.UUIDField(
        null=True, blank=True, db_index=True, help_text="The seat member the grant is for."
    )

    objects = BenefitGrantQuerySet.as_manager()

    class Meta:
        db_table = "polar_benefit_grant"
        indexes = [models.Index(fields=["customer", "is_granted", "is_revoked"])]

"""Polar customers, linked to whichever project model is billable."""

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models

from .base import PolarObject


class CustomerType(models.TextChoices):
    INDIVIDUAL = "individual"
    TEAM = "team"


class CustomerQuerySet(models.QuerySet):
    def live(self) -> "CustomerQuerySet":
        """Customers not deleted in Polar."""
        return self.filter(deleted_at__isnull=True)

    def for_billable(self, billable: models.Model) -> "CustomerQuerySet":
        ct = ContentType.objects.get_for_model(billable, for_concrete_model=False)
        return self.filter(billable_type=ct, billable_id=str(billable.pk))


class Customer(PolarObject):
    """A Polar customer. ``external_id`` is the identity key, never the email."""

    # NULL, not "": many customers may have no external id, yet set ones are unique.
    external_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    email = models.CharField(max_length=320, blank=True, db_index=True)
    name = models.CharField(max_length=256, blank=True)
    type = models.CharField(max_length=32, default=CustomerType.INDIVIDUAL)
    billable_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    billable_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    billable = GenericForeignKey("billable_type", "billable_id")
    deleted_at = models.DateTimeField(null=True, blank=True)
    #: When the mirrored customer state (``data["active_meters"]``) was true in Polar.
    state_at = models.DateTimeField(null=True, blank=True)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        db_table = "polar_customer"
        constraints = [
            models.UniqueConstraint(
                fields=["billable_type", "billable_id"],
                condition=models.Q(billable_id__isnull=False),
                name="polar_customer_one_per_billable",
            )
        ]

    def __str__(self) -> str:
        return self.email or self.external_id or str(self.id)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

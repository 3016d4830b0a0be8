"""Team members and the seats of seat-based subscriptions (or one-time seat orders).

On Polar (member model) a seat belongs to the billing customer; the person holding it is
a ``Member`` of that customer, and the benefit grants of a claimed seat carry the
member's id. A member's ``external_id`` is the app's id of the billable who holds it.
"""

from django.db import models

from .base import PolarObject
from .customer import Customer


class SeatStatus(models.TextChoices):
    PENDING = "pending"
    CLAIMED = "claimed"
    REVOKED = "revoked"


class Member(PolarObject):
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="members")
    email = models.CharField(max_length=320, blank=True, default="")
    name = models.CharField(max_length=256, blank=True, default="")
    external_id = models.CharField(  # noqa: DJ001  (None: no external id, like Customer)
        max_length=256, null=True, blank=True, db_index=True
    )
    role = models.CharField(max_length=32, blank=True, default="member")
    is_deleted = models.BooleanField(default=False, help_text="Announced by member.deleted.")
    # Ours, never Polar's: the billable that claimed this member's invitation in the app
    # (a member invited by email has no external id, and Polar cannot set one later).
    holder_external_id = models.CharField(  # noqa: DJ001  (None: not claimed in the app)
        max_length=256, null=True, blank=True, db_index=True
    )

    class Meta:
        db_table = "polar_member"


class Seat(PolarObject):
    subscription = models.ForeignKey(
        "django_polar.Subscription",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="customer_seats",
    )
    order = models.ForeignKey(
        "django_polar.Order",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="customer_seats",
    )
    status = models.CharField(max_length=16, choices=SeatStatus.choices)
    member = models.ForeignKey(
        Member,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="seats",
    )
    email = models.CharField(max_length=320, blank=True, default="")
    claimed_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    invitation_token_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "polar_customer_seat"
        indexes = [models.Index(fields=["subscription", "status"])]

    def __str__(self) -> str:
        return f"Seat {self.id} ({self.status}{', ' + self.email if self.email else ''})"

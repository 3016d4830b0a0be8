"""Benefit access per customer, and the outbox of its transitions for project hooks."""

from django.db import models

from .catalog import Benefit
from .customer import Customer


#: The seat member a row is for (a grant's ``member_id``); None: the customer itself.
def _member_field() -> models.UUIDField:
    return models.UUIDField(
        null=True, blank=True, help_text="The seat member it is for (None: the customer)."
    )


class BenefitAccess(models.Model):
    """Whether a customer (or one of its seat members) holds a benefit through at least
    one non-revoked grant.

    Derived from the grants whenever the mirror changes them; a flip of ``active`` writes
    one ``BenefitTransition`` in the same transaction, so each transition is seen once. A
    claimed seat's grants are the member's (``member_id``), never the billing customer's.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    benefit = models.ForeignKey(Benefit, on_delete=models.CASCADE, related_name="+")
    member_id = _member_field()
    active = models.BooleanField(default=False)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "polar_benefit_access"
        constraints = [
            # Two partial constraints: NULLs are distinct in a plain unique constraint.
            models.UniqueConstraint(
                fields=["customer", "benefit"],
                condition=models.Q(member_id__isnull=True),
                name="polar_access_once",
            ),
            models.UniqueConstraint(
                fields=["customer", "benefit", "member_id"],
                condition=models.Q(member_id__isnull=False),
                name="polar_member_access_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.benefit_id} {'held' if self.active else 'not held'} by {self.customer_id}"


class TransitionKind(models.TextChoices):
    GRANTED = "granted"
    REVOKED = "revoked"


class BenefitTransition(models.Model):
    """A benefit became available to a customer (or to one of its seat members:
    ``member_id``), or stopped being; the hooks registered for it run once each (``done``
    lists those that finished), retried on failure."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    benefit = models.ForeignKey(Benefit, on_delete=models.CASCADE, related_name="+")
    member_id = _member_field()
    kind = models.CharField(max_length=16, choices=TransitionKind.choices)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    done = models.JSONField(default=list, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        db_table = "polar_benefit_transition"
        ordering = ["pk"]

    def __str__(self) -> str:
        holder = f"member {self.member_id} of " if self.member_id else ""
        return f"{self.benefit_id} {self.kind} for {holder}{self.customer_id}"

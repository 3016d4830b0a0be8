from django.contrib.auth.models import AbstractUser
from django.db import models

from django_polar.billable import Billable


class User(Billable, AbstractUser):
    """The test project's user: billable with the default hooks."""


class Team(Billable, models.Model):
    """A second billable model, to prove two billable kinds never collide."""

    polar_customer_type = "team"

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="teams")
    billing_email = models.EmailField(blank=True)

    def __str__(self) -> str:
        return self.name

    def get_polar_email(self) -> str:
        return self.billing_email or self.owner.email

    def get_polar_name(self) -> str:
        return self.name

    def get_polar_customer_metadata(self) -> dict[str, str | int]:
        return {"team_id": self.pk, "owner": self.owner.username}

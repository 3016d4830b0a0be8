"""Jotter's own data: notes, and teams that are billable on their own."""

from django.conf import settings
from django.db import models
from django.urls import reverse

from django_polar.billable import Billable

#: How many notes the free plan keeps; Pro (any valid subscription) has no limit.
FREE_NOTE_LIMIT = 3


class Team(Billable, models.Model):
    """A workspace shared by several people; it buys the seat-based Team plan itself."""

    polar_customer_type = "team"

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="owned_teams"
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="jotter_teams")
    billing_email = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("notes:team", args=[self.pk])

    def get_polar_email(self) -> str:
        # Never the owner's address: Polar would then hold two customers for one email.
        return self.billing_email

    def get_polar_name(self) -> str:
        return self.name


class Note(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jotter_notes"
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="notes"
    )
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("notes:note", args=[self.pk])

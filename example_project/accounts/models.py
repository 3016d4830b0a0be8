"""The demo's user: a Django user that is billable (it can buy Jotter Pro)."""

from django.contrib.auth.models import AbstractUser

from django_polar.billable import Billable


class User(Billable, AbstractUser):
    """Each person is a Polar customer of their own (external id derived from the pk)."""

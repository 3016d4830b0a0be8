"""DRF permissions of the billing state (read from the mirror, never from Polar)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import BasePermission

from ..access import CREDITS_MESSAGE
from ..billable import billable_for_request


class HasCredits(BasePermission):
    """The request's billable has ``polar_credits_units`` (default 1) left in the meter
    ``polar_credits_meter`` of the view (or a subclass's ``meter``/``units``)."""

    message = CREDITS_MESSAGE
    meter: str = ""
    units: float = 1

    def has_permission(self, request: Any, view: Any) -> bool:
        meter = getattr(view, "polar_credits_meter", self.meter)
        if not meter:
            raise ImproperlyConfigured(
                "HasCredits needs polar_credits_meter on the view or meter on a subclass."
            )
        units = getattr(view, "polar_credits_units", self.units)
        billable = billable_for_request(request)
        return billable is not None and billable.has_credits(meter, units)

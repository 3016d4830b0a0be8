"""DRF permissions on billing state, for your own API views.

    class ReportViewSet(ViewSet): permission_classes = [HasActiveSubscription]
    class BillingView(APIView): permission_classes = [IsAuthenticated, HasBillable]
    class ReportView(APIView): permission_classes = [HasCredits]; polar_credits_meter = "API calls"

Access is read from the local mirror, so a check never waits on Polar.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import BasePermission

from ..access import CREDITS_MESSAGE
from ..identity import billable_for_request
from ..models import DEFAULT_TYPE

__all__ = ["HasActiveSubscription", "HasBenefit", "HasBillable", "HasCredits"]


class HasBillable(BasePermission):
    """DRF: the request resolves to a billable (the logged-in user, or the configured
    ``BILLABLE_RESOLVER``); the billing API's base permission."""

    message = "There is no billing account for this request."

    def has_permission(self, request: Any, view: Any) -> bool:
        return billable_for_request(request) is not None


class HasActiveSubscription(BasePermission):
    """DRF: the request's billable has a valid subscription.

    The type and product come from the view (``polar_subscription_type``,
    ``polar_product``) or from a subclass's ``subscription_type``/``product``.
    """

    message = "An active subscription is required."
    subscription_type: str | None = DEFAULT_TYPE
    product: Any = None

    def has_permission(self, request: Any, view: Any) -> bool:
        billable = billable_for_request(request)
        if billable is None:
            return False
        type_ = getattr(view, "polar_subscription_type", self.subscription_type)
        product = getattr(view, "polar_product", self.product)
        return billable.subscribed(type=type_, product=product)


class HasBenefit(BasePermission):
    """DRF: the request's billable holds the benefit named by the view's
    ``polar_benefit`` (or a subclass's ``benefit``)."""

    message = "This requires a benefit you do not have."
    benefit: Any = None

    def has_permission(self, request: Any, view: Any) -> bool:
        benefit = getattr(view, "polar_benefit", self.benefit)
        if benefit is None:
            raise ImproperlyConfigured(
                "HasBenefit needs polar_benefit on the view or benefit on a subclass."
            )
        billable = billable_for_request(request)
        return billable is not None and billable.has_benefit(benefit)


class HasCredits(BasePermission):
    """DRF: the request's billable has ``polar_credits_units`` (default 1) left in the
    meter ``polar_credits_meter`` of the view (or a subclass's ``meter``/``units``)."""

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

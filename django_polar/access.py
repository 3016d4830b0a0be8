"""Gate views on billing state: decorators and class-based view mixins (plain Django).

    @subscription_required                      # the "default" subscription
    @subscription_required(type="swimming", redirect_to="pricing")
    @benefit_required("<benefit id>")
    @credits_required("api-calls", units=1)     # the meter's balance covers it

    class Summaries(CreditsRequiredMixin, View): credits_meter = "api-calls"

    class Dashboard(SubscriptionRequiredMixin, TemplateView): subscription_type = "default"

The DRF permissions (``HasBillable``, ``HasActiveSubscription``, ``HasBenefit``) live in
``django_polar.api.permissions``; importing them from here still works, with a
DeprecationWarning, and this module never imports DRF itself.

Anonymous users go to the login page; logged-in users without access go to
``redirect_to`` (else POLAR["SUBSCRIPTION_REQUIRED_URL"]) or get a 403. Access is read
from the local mirror, so a check never waits on Polar.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url

from .billable import Billable
from .conf import polar_settings
from .identity import billable_for_request
from .models import DEFAULT_TYPE

Test = Callable[[Billable], bool]


def subscription_test(type: str | None = DEFAULT_TYPE, product: Any = None) -> Test:
    return lambda billable: billable.subscribed(type=type, product=product)


def benefit_test(benefit: Any) -> Test:
    if benefit is None:
        raise ImproperlyConfigured("benefit_required needs the Polar benefit id to check.")
    return lambda billable: billable.has_benefit(benefit)


def credits_test(meter: str, units: float = 1) -> Test:
    if not meter:
        raise ImproperlyConfigured("credits_required needs the meter (its name or Polar id).")
    return lambda billable: billable.has_credits(meter, units)


def check_access(
    request: HttpRequest,
    test: Test,
    redirect_to: str | None = None,
    message: str = "This page needs an active subscription.",
) -> HttpResponse | None:
    """None when the request's billable passes ``test``; else the response to send.

    Raises PermissionDenied (a 403) when there is nowhere configured to send the user.
    """
    billable = billable_for_request(request)
    if billable is None and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if billable is not None and test(billable):
        return None
    target = redirect_to or polar_settings.SUBSCRIPTION_REQUIRED_URL
    if not target:
        raise PermissionDenied(message)
    url = resolve_url(target)
    separator = "&" if "?" in url else "?"
    return HttpResponseRedirect(f"{url}{separator}{urlencode({'next': request.get_full_path()})}")


def _decorator(test: Test, redirect_to: str | None, **options: Any) -> Callable:
    def decorate(view_func: Callable) -> Callable:
        @functools.wraps(view_func)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            denied = check_access(request, test, redirect_to, **options)
            return denied if denied is not None else view_func(request, *args, **kwargs)

        return wrapped

    return decorate


def subscription_required(
    view_func: Callable | None = None,
    *,
    type: str | None = DEFAULT_TYPE,
    product: Any = None,
    redirect_to: str | None = None,
) -> Callable:
    """Require a valid subscription of ``type`` (None: any type), optionally to ``product``."""
    decorate = _decorator(subscription_test(type, product), redirect_to)
    return decorate(view_func) if view_func is not None else decorate


def benefit_required(benefit: Any, *, redirect_to: str | None = None) -> Callable:
    """Require that the benefit (Polar benefit id or Benefit row) is granted now."""
    return _decorator(benefit_test(benefit), redirect_to)


CREDITS_MESSAGE = "Not enough credits left for this."


def credits_required(meter: str, units: float = 1, *, redirect_to: str | None = None) -> Callable:
    """Require ``units`` more in the meter's balance (Polar does not block usage past the
    balance, so the app must). Reads the mirror and local usage, never Polar."""
    return _decorator(credits_test(meter, units), redirect_to, message=CREDITS_MESSAGE)


class _AccessMixin:
    access_redirect_to: str | None = None
    access_denied_message = "This page needs an active subscription."

    def get_access_test(self) -> Test:
        raise NotImplementedError

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        denied = check_access(
            request, self.get_access_test(), self.access_redirect_to, self.access_denied_message
        )
        if denied is not None:
            return denied
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]  # a mixin: the View comes later in the MRO


class SubscriptionRequiredMixin(_AccessMixin):
    """Class-based views: set ``subscription_type``, ``subscription_product``,
    ``access_redirect_to`` as needed."""

    subscription_type: str | None = DEFAULT_TYPE
    subscription_product: Any = None

    def get_access_test(self) -> Test:
        return subscription_test(self.subscription_type, self.subscription_product)


class BenefitRequiredMixin(_AccessMixin):
    """Class-based views: set ``required_benefit`` to a Polar benefit id."""

    required_benefit: Any = None

    def get_access_test(self) -> Test:
        return benefit_test(self.required_benefit)


class CreditsRequiredMixin(_AccessMixin):
    """Class-based views: set ``credits_meter`` (name or Polar id) and ``credits_units``."""

    credits_meter: str = ""
    credits_units: float = 1
    access_denied_message = CREDITS_MESSAGE

    def get_access_test(self) -> Test:
        return credits_test(self.credits_meter, self.credits_units)


#: DRF permissions that used to live here: name -> where they are now.
_MOVED_TO_API = ("HasBillable", "HasActiveSubscription", "HasBenefit")


def __getattr__(name: str) -> Any:
    """The old import path of the DRF permissions, resolved only when asked for (so this
    module never imports DRF at import time)."""
    if name in _MOVED_TO_API:
        warnings.warn(
            f"django_polar.access.{name} moved to django_polar.api.permissions.{name}; "
            "import it from there.",
            DeprecationWarning,
            stacklevel=2,
        )
        from .api import permissions  # upward on purpose: the deprecated old path

        return getattr(permissions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Checkout for visitors who are not signed in, and the claim that links their purchase
to the account they create (``django_polar.claims`` holds the rules).

``polar/checkout/<product>/guest/`` starts the guest checkout (known, active products
only; no customer is named); Polar returns the buyer to ``polar/checkout/claim/``, which
sends a signed-out visitor to ``POLAR["GUEST_SIGNUP_URL"]`` (default
``settings.LOGIN_URL``) with ``next`` pointing back, and links the purchase once the
visitor is signed in.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.clickjacking import xframe_options_exempt

from . import claims
from .checkout import origin_of
from .conf import polar_settings
from .errors import CheckoutError, ClaimError, PolarError
from .identity import billable_for_request
from .models import CheckoutClaim
from .redirects import see_other
from .views import EMBED_THEMES, CheckoutView, _error, _failure_page, _with_query, wants_json


@method_decorator(xframe_options_exempt, name="dispatch")  # loaded in Polar's embed iframe
class GuestCheckoutView(View):
    """Create a guest checkout for ``product`` and redirect (303) to it (``?format=json``:
    ``{"id", "url"}``). A signed-in visitor gets the normal, named checkout instead."""

    http_method_names = ["get", "post"]

    def get(self, request: HttpRequest, product: str) -> HttpResponse:
        return self.create(request, product)

    def post(self, request: HttpRequest, product: str) -> HttpResponse:
        return self.create(request, product)

    def create(self, request: HttpRequest, product: str) -> HttpResponse:
        if billable_for_request(request) is not None:
            url = reverse("django_polar:checkout", args=[product])
            query = request.META.get("QUERY_STRING", "")
            return see_other(f"{url}?{query}" if query else url)
        product_row = CheckoutView().get_product(product)
        try:
            builder = claims.start_guest_checkout(request, [product_row])
        except CheckoutError as exc:
            return _error(request, str(exc), 400)
        except PolarError as exc:
            return _failure_page(
                request,
                exc,
                "Creating a Polar guest checkout",
                "The payment provider could not start the checkout; please try again.",
            )
        session = builder.session
        if wants_json(request):
            return JsonResponse({"id": session["id"], "url": session["url"]})
        url = session["url"]
        if request.GET.get("embed") == "true":
            params = {"embed": "true", "embed_origin": origin_of(request)}
            theme = request.GET.get("theme")
            if theme in EMBED_THEMES:
                params["theme"] = theme
            url = _with_query(url, **params)
        return see_other(url)


class GuestClaimView(View):
    """Where Polar returns a guest buyer: sign up (or in), then the purchase is linked."""

    http_method_names = ["get"]

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            checkout_id = str(uuid.UUID(request.GET.get("checkout_id", "")))
        except ValueError:
            return _error(request, "This page needs a valid checkout_id.", 400)
        billable = billable_for_request(request)
        mine = checkout_id in claims.pending_checkout_ids(request) or (
            billable is not None
            and CheckoutClaim.objects.filter(
                pk=checkout_id, claimed_by=billable.get_polar_external_id()
            ).exists()
        )
        if not mine:
            return _error(
                request, "This browser did not start that checkout, so it cannot claim it.", 403
            )
        if billable is None:
            signup = resolve_url(polar_settings.GUEST_SIGNUP_URL or settings.LOGIN_URL)
            return see_other(_with_query(signup, next=request.get_full_path()))
        try:
            claims.redeem(request, billable, checkout_id)
        except ClaimError as exc:
            return _error(request, str(exc), 409)
        except PolarError as exc:
            return _failure_page(
                request,
                exc,
                "Linking a guest purchase",
                "The payment provider is unavailable right now; reload this page to retry.",
            )
        if polar_settings.GUEST_CLAIMED_URL:
            return see_other(resolve_url(polar_settings.GUEST_CLAIMED_URL))
        success = reverse("django_polar:success")
        return see_other(_with_query(success, checkout_id=checkout_id))

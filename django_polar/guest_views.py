"""Checkout for visitors who are not signed in, and the claim that links their purchase
to the account they create (``django_polar.claims`` holds the rules).

``POST polar/checkout/<product>/guest/`` starts the guest checkout (known, active
products only; no customer is named); Polar returns the buyer to
``polar/checkout/claim/``, which sends a signed-out visitor to
``POLAR["GUEST_SIGNUP_URL"]`` (default ``settings.LOGIN_URL``) with ``next`` pointing
back, and links the purchase once the visitor is signed in.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import resolve_url
from django.urls import reverse
from django.views import View

from . import claims
from .conf import polar_settings
from .errors import CheckoutError, ClaimError, PolarError
from .identity import billable_for_request
from .models import CheckoutClaim
from .redirects import see_other
from .views import CheckoutView, _error, _failure_page, _with_query, wants_json


class GuestCheckoutView(View):
    """POST: create a guest checkout for ``product`` and redirect (303) to Polar's page
    (``?format=json``: ``{"id", "url"}``). A signed-in visitor is sent to the normal,
    named checkout instead.

    POST only (a form button, with Django's CSRF check): anyone may call this view, and
    a link that crawlers follow would create a Polar checkout per visit.
    """

    http_method_names = ["post"]

    def post(self, request: HttpRequest, product: str) -> HttpResponse:
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
        return see_other(session["url"])


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

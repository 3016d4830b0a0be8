"""Checkout, success and customer-portal views.

The billable always comes from the request (``billable_for_request``), never from query
parameters; products must be known, active products of the mirror; every ``next`` is
followed only when it points to this site (``same_site.same_site_url``).
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.clickjacking import xframe_options_exempt

from . import mirror
from .billable import Billable
from .checkout import CHECKOUT_ID_PLACEHOLDER, MAX_SEATS, MIN_SEATS, origin_of, seats_message
from .client import get_client
from .conf import polar_settings
from .errors import (
    CheckoutError,
    CustomerConflictError,
    PolarAPIError,
    PolarError,
    PolarNotFoundError,
)
from .failures import answer_for_failure
from .identity import billable_for_request
from .models import DEFAULT_TYPE, Member, Product, resolve_product_id
from .redirects import see_other
from .same_site import same_site_url

EMBED_THEMES = ("light", "dark")


def parse_seats(raw: str) -> int:
    """``?seats=`` as an int from MIN_SEATS to MAX_SEATS; CheckoutError (a 400) otherwise.

    Only ASCII digits count: ``"²".isdigit()`` is True but ``int("²")`` fails.
    """
    if not (raw.isascii() and raw.isdigit()) or not MIN_SEATS <= int(raw) <= MAX_SEATS:
        raise CheckoutError(seats_message(raw))
    return int(raw)


def wants_json(request: HttpRequest) -> bool:
    return request.GET.get("format") == "json" or "application/json" in request.headers.get(
        "Accept", ""
    )


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` appended to its query (the views' redirects share it)."""
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit(parts._replace(query=query))


def error_page(
    request: HttpRequest, message: str, status: int, retry_after: int | None = None
) -> HttpResponse:
    """The error page, or ``{"error": message}`` for a JSON client, with ``status`` (and
    ``Retry-After`` when given); every view of the app answers a refusal with it."""
    if wants_json(request):
        response: HttpResponse = JsonResponse({"error": message}, status=status)
    else:
        response = render(request, "django_polar/error.html", {"message": message}, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def failure_page(
    request: HttpRequest, exc: CustomerConflictError | PolarError, action: str, unavailable: str
) -> HttpResponse:
    """The 409/502/503 page (or JSON) for a failure that came from Polar or the customer link."""
    answer = answer_for_failure(exc, action=action, unavailable=unavailable)
    return error_page(request, answer.message, answer.status, answer.retry_after)


def product_for_sale_or_404(product: str) -> Product:
    """The active product named by ``product`` (slug or id); Http404 for any other, so
    a checkout URL never tells an unknown product from an archived one."""
    try:
        product_id = resolve_product_id(product)
        return Product.objects.active().get(pk=product_id)
    except (CheckoutError, ValidationError, Product.DoesNotExist):
        raise Http404("No such product for sale.") from None


class BillableViewMixin(LoginRequiredMixin):
    """Login required, and the request must resolve to a billable (else 403)."""

    request: HttpRequest  # set by View.setup

    def get_billable(self) -> Billable:
        billable = billable_for_request(self.request)
        if billable is None:
            raise PermissionDenied("There is no billing account for this request.")
        return billable


@method_decorator(xframe_options_exempt, name="dispatch")  # loaded in Polar's embed iframe
class CheckoutView(BillableViewMixin, View):
    """Create a checkout for ``product`` (slug or id) and redirect (303) to it.

    With ``?format=json`` (or ``Accept: application/json``) answers ``{"id", "url"}``.
    Optional query: ``seats`` (1-10000), ``next`` (same-site return URL). Subclass or
    pass ``subscription_type="team"`` to ``as_view`` for another subscription type.
    """

    http_method_names = ["get", "post"]
    subscription_type: str = DEFAULT_TYPE

    def get(self, request: HttpRequest, product: str) -> HttpResponse:
        return self.create(request, product)

    def post(self, request: HttpRequest, product: str) -> HttpResponse:
        return self.create(request, product)

    def get_product(self, product: str) -> Product:
        return product_for_sale_or_404(product)

    def create(self, request: HttpRequest, product: str) -> HttpResponse:
        product_row = self.get_product(product)
        billable = self.get_billable()
        builder = billable.checkout([product_row], request=request, type=self.subscription_type)
        seats = request.GET.get("seats")
        next_url = same_site_url(request, request.GET.get("next"))
        try:
            if seats is not None:
                builder.with_seats(parse_seats(seats))
            if next_url:
                builder.with_return_url(next_url)
                if not polar_settings.SUCCESS_URL:
                    success = reverse("django_polar:success")
                    builder.with_success_url(
                        f"{success}?checkout_id={CHECKOUT_ID_PLACEHOLDER}&{urlencode({'next': next_url})}"
                    )
            session = builder.session
        except CheckoutError as exc:
            return error_page(request, str(exc), 400)
        except (CustomerConflictError, PolarError) as exc:
            return failure_page(
                request,
                exc,
                "Creating a Polar checkout",
                "The payment provider could not start the checkout; please try again.",
            )
        if wants_json(request):
            return JsonResponse({"id": session["id"], "url": session["url"]})
        url = session["url"]
        if request.GET.get("embed") == "true":
            # Opened by the embed script inside its iframe: keep the embed parameters.
            params = {"embed": "true", "embed_origin": origin_of(request)}
            theme = request.GET.get("theme")
            if theme in EMBED_THEMES:
                params["theme"] = theme
            url = with_query(url, **params)
        return see_other(url)


class CheckoutSuccessView(BillableViewMixin, View):
    """Where Polar returns the buyer. Says "confirmed" only once the mirror has the
    paid order or the subscription; a redirect alone proves nothing."""

    template_name = "django_polar/success.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        raw = request.GET.get("checkout_id", "")
        try:
            checkout_id = uuid.UUID(raw)
        except ValueError:
            return error_page(request, "This page needs a valid checkout_id.", 400)
        billable = self.get_billable()
        confirmed = (
            billable.orders.filter(checkout_id=checkout_id, paid=True).exists()
            or billable.subscriptions.filter(checkout_id=checkout_id).valid().exists()
        )
        status = "confirmed" if confirmed else "processing"
        if wants_json(request):
            return JsonResponse({"checkout_id": str(checkout_id), "status": status})
        context: dict[str, Any] = {
            "checkout_id": checkout_id,
            "status": status,
            "confirmed": confirmed,
            "next_url": same_site_url(request, request.GET.get("next")),
        }
        return render(request, self.template_name, context)


class CustomerPortalView(BillableViewMixin, View):
    """Redirect (303) to the requester's own Polar customer portal."""

    http_method_names = ["get", "post"]

    def get(self, request: HttpRequest) -> HttpResponse:
        billable = self.get_billable()
        next_url = same_site_url(request, request.GET.get("next"))
        return_url = request.build_absolute_uri(next_url) if next_url else None
        try:
            return billable.redirect_to_customer_portal(return_url)
        except (CustomerConflictError, PolarError) as exc:
            return failure_page(
                request,
                exc,
                "Creating a Polar customer session",
                "The billing portal is unavailable right now; please try again.",
            )

    def post(self, request: HttpRequest) -> HttpResponse:
        return self.get(request)


class SeatClaimView(LoginRequiredMixin, View):
    """The landing of a seat invitation in the app: ``seats/claim/?token=<invitation token>``.

    GET shows what the invitation is for (Polar's claim info: no side effect, safe for
    email scanners); POST claims the seat for the signed-in user, stores Polar's answer
    through the mirror and links the seat's member to that user when Polar's member has
    no external id of its own (an invitation sent to a bare email address). Holding the
    token (sent to the invitee's address) is what Polar asks of a claimant, too.
    """

    http_method_names = ["get", "post"]
    template_name = "django_polar/seat_claim.html"

    def _claimant(self) -> Billable:
        user = self.request.user
        if not isinstance(user, Billable):
            raise PermissionDenied("Only a billable user can claim a seat.")
        return user

    def _token(self, raw: Any) -> str:
        token = raw if isinstance(raw, str) else ""
        if not token or len(token) > 200 or not token.isascii():
            raise CheckoutError("The invitation link is incomplete: it has no valid token.")
        return token

    def get(self, request: HttpRequest) -> HttpResponse:
        self._claimant()
        try:
            token = self._token(request.GET.get("token"))
            info = get_client().get_seat_claim_info(token)
        except CheckoutError as exc:
            return error_page(request, str(exc), 400)
        except PolarNotFoundError:
            return error_page(request, INVALID_INVITATION, 404)
        except PolarError as exc:
            return failure_page(request, exc, "Reading a seat invitation", UNAVAILABLE)
        return render(request, self.template_name, {"info": info, "token": token})

    def post(self, request: HttpRequest) -> HttpResponse:
        claimant = self._claimant()
        try:
            token = self._token(request.POST.get("token"))
            answer = get_client().claim_seat(token)
        except CheckoutError as exc:
            return error_page(request, str(exc), 400)
        except PolarAPIError as exc:
            if exc.status == 400:  # Polar: "Invalid or expired invitation token"
                return error_page(request, INVALID_INVITATION, 400)
            return failure_page(request, exc, "Claiming a seat", UNAVAILABLE)
        except PolarError as exc:
            return failure_page(request, exc, "Claiming a seat", UNAVAILABLE)
        seat = mirror.upsert_seat(answer["seat"])
        if seat.member_id is not None:
            Member.objects.filter(pk=seat.member_id, external_id__isnull=True).update(
                holder_external_id=claimant.get_polar_external_id()
            )
        return see_other(resolve_url(polar_settings.SEAT_CLAIMED_URL or "/"))


INVALID_INVITATION = "This invitation is no longer valid: it was used, revoked or it expired."
UNAVAILABLE = "Seat invitations are unavailable right now; please try again."

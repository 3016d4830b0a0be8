"""Billing endpoints scoped to the request's billable.

Reads come from the mirror; actions call Polar and store its answer through the mirror,
so the next read is already right. A Polar failure is a clear 4xx/5xx JSON error, never an
unhandled 500, and never carries a secret.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, PermissionDenied, Throttled
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.schemas.inspectors import ViewInspector
from rest_framework.views import exception_handler

from .. import license_keys
from ..billable import Billable
from ..checkout import CheckoutBuilder
from ..errors import (
    CheckoutError,
    CustomerConflictError,
    LicenseKeyError,
    LicenseKeyInvalid,
    PolarError,
    PolarRateLimitError,
    PolarValidationError,
)
from ..failures import UNAVAILABLE_MESSAGE, answer_for_failure
from ..identity import billable_for_request
from ..models import DEFAULT_TYPE, Order, Product, Subscription, resolve_product_id
from ..same_site import is_allowed_origin, same_site_url
from ..usage import meters_of
from . import serializers as s
from .parsers import JSONParser
from .permissions import HasBillable
from .schema import CALLS_POLAR, LISTED, SIGNED_IN, documented, errors


class BillingPagination(PageNumberPagination):
    """``?page=`` and ``?limit=`` like Polar's own API (limit 1 to 100, default 20).

    A ``page`` or ``limit`` that is not a positive integer is a 400 (DRF would quietly use
    the default limit, and answer a 404 for ``page=x``); a larger limit is capped at 100;
    a page past the last is a 404.
    """

    page_size = 20
    page_size_query_param = "limit"
    max_page_size = 100

    def paginate_queryset(self, queryset: Any, request: Any, view: Any = None) -> Any:
        bad = {
            name: ["Must be a whole number from 1."]
            for name in (self.page_query_param, self.page_size_query_param)
            if name in request.query_params and not positive_int(request.query_params[name])
        }
        if bad:
            raise DRFValidationError(bad)
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "Page number, from 1.",
                "schema": {"type": "integer", "minimum": 1},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Results per page (default {self.page_size}; more than "
                f"{self.max_page_size} is capped at {self.max_page_size}).",
                "schema": {"type": "integer", "minimum": 1},
            },
        ]


def positive_int(value: str) -> bool:
    """``value`` is a whole number of at least 1 written in plain ASCII digits."""
    return value.isascii() and value.isdigit() and int(value) >= 1


def flat_fields(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation errors as ``{"field.sub": ["message", ...]}``. DRF reports a
    list field's items and a nested serializer's fields as dicts (``{0: [...]}``); this
    API's requests have no ``many=True`` serializer, whose errors would be lists of dicts."""
    if isinstance(errors, dict):
        out: dict[str, list[str]] = {}
        for key, value in errors.items():
            out.update(flat_fields(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    messages = errors if isinstance(errors, list) else [errors]
    return {prefix or "non_field_errors": [str(message) for message in messages]}


def error_body(data: Any) -> dict[str, Any]:
    """Every error in the one ``Error`` shape: ``{"detail"}``, plus ``fields`` for input.

    DRF's own errors are ``{"detail": message}``; a ``detail`` that is the only key is a
    message (a Polar refusal, a 404), not a field, whether DRF kept it a string or a list.
    """
    fields = flat_fields(data)
    if set(fields) == {"detail"}:
        return {"detail": " ".join(fields["detail"])}
    return {"detail": "Invalid input.", "fields": fields}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (statuses, headers such as Retry-After), with the one error body."""
    response = exception_handler(exc, context)
    if response is not None:
        response.data = error_body(response.data)
    return response


#: The router's id pattern: anything up to the next slash. DRF's default (``[^/.]+``) leaves
#: ids with a dot to Django's HTML 404; here every malformed id is this API's JSON 404.
ANY_ID = "[^/]+"


class PolarUnavailable(APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = UNAVAILABLE_MESSAGE
    default_code = "polar_unavailable"


class PolarBusy(APIException):
    """Polar said when to try again: 503, with DRF's Retry-After from ``wait``."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = UNAVAILABLE_MESSAGE
    default_code = "polar_unavailable"

    def __init__(self, detail: str, wait: int) -> None:
        super().__init__(detail)
        self.wait = wait


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def api_error(exc: CheckoutError | CustomerConflictError | PolarError) -> APIException:
    """The API error for a failure of an action that called Polar (400, 409, 502, 503)."""
    if isinstance(exc, PolarValidationError | CheckoutError):
        return DRFValidationError({"detail": str(exc)})
    answer = answer_for_failure(exc, action="A billing API call")
    if answer.status == 409:
        return Conflict(answer.message)
    if answer.retry_after is not None:
        return PolarBusy(answer.message, answer.retry_after)
    return PolarUnavailable(answer.message)


def polar_call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run an action that calls Polar, turning its errors into API errors."""
    try:
        return func(*args, **kwargs)
    except (CheckoutError, CustomerConflictError, PolarError) as exc:
        raise api_error(exc) from None


def own_absolute_url(request: Request, url: str | None, field: str) -> str | None:
    """An absolute URL for ``url`` when it points to this site; a 400 otherwise."""
    if not url:
        return None
    if same_site_url(request, url) is None:
        raise DRFValidationError({field: ["Must be a URL on this site."]})
    return request.build_absolute_uri(url)


def own_origin(origin: str | None) -> str | None:
    """``embed_origin`` from a body, accepted only for a host of ``ALLOWED_HOSTS``; a 400
    otherwise (Polar would let any origin embed the buyer's checkout)."""
    if not origin:
        return None
    if not is_allowed_origin(origin):
        raise DRFValidationError(
            {"embed_origin": ["Must be an origin of this site (a host in ALLOWED_HOSTS)."]}
        )
    return origin


def active_product(value: str, field: str = "products") -> Product:
    """A known, active product of the mirror, by id or slug; a 400 otherwise."""
    try:
        return Product.objects.active().get(pk=resolve_product_id(value))
    except (CheckoutError, ValidationError, Product.DoesNotExist):
        raise DRFValidationError({field: [f"{value!r} is not a product for sale."]}) from None


class PolarAPIMixin:
    """What every billing endpoint shares: bad JSON of any depth is a 400, and a Polar
    failure that escaped ``polar_call`` is still its 4xx/502/503, never a 500."""

    # JSON only: the schema's one request type (a form body of junk would read as {}).
    parser_classes: Sequence[type[BaseParser]] = [JSONParser]
    schema: ViewInspector | None = (
        AutoSchema()
    )  # drf-spectacular's, whatever the project's DEFAULT_SCHEMA_CLASS

    def get_exception_handler(self) -> Callable[..., Response | None]:
        return api_exception_handler

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, CheckoutError | CustomerConflictError | PolarError):
            exc = api_error(exc)
        return super().handle_exception(exc)  # type: ignore[misc]


class BillableAPIView(PolarAPIMixin, GenericAPIView):
    """Base: login required and a billable required; ``self.billable`` is the payer."""

    permission_classes = [IsAuthenticated, HasBillable]
    pagination_class = BillingPagination

    @property
    def billable(self) -> Billable:
        billable = billable_for_request(self.request)
        if billable is None:  # HasBillable ran first; this is a guard, not a path
            raise PermissionDenied(HasBillable.message)
        return billable


class BillingStateView(BillableAPIView):
    """Everything a client needs to draw its billing UI, in one call."""

    serializer_class = s.BillingStateSerializer

    @documented(
        operation_id="getBillingState",
        tags=["billing"],
        responses={200: s.BillingStateSerializer, **errors(*SIGNED_IN)},
    )
    def get(self, request: Request) -> Response:
        billable = self.billable
        customer = billable.polar_customer
        subscriptions = list(billable.subscriptions.valid().select_related("product"))
        grants = list(billable.benefit_grants.select_related("benefit"))
        data = {
            "customer": customer
            and {
                "id": customer.pk,
                "email": customer.email,
                "name": customer.name,
            },
            "subscribed": any(sub.type == DEFAULT_TYPE for sub in subscriptions),
            "subscriptions": subscriptions,
            "benefits": grants,
            "meters": meters_of(customer),
        }
        return Response(self.get_serializer(data).data)


@extend_schema_view(
    get=documented(
        operation_id="listProducts",
        tags=["catalog"],
        responses={200: s.ProductSerializer(many=True), **errors(*LISTED)},
    )
)
class ProductListView(PolarAPIMixin, ListAPIView):
    """The catalog for sale (active products with their prices and benefits)."""

    permission_classes = [IsAuthenticated]
    pagination_class = BillingPagination
    serializer_class = s.ProductSerializer

    def get_queryset(self) -> QuerySet[Product]:
        return Product.objects.active().prefetch_related("prices", "benefits").order_by("name")


SUBSCRIPTION_ID = OpenApiParameter(
    "id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The subscription's Polar id."
)
ORDER_ID = OpenApiParameter(
    "id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The order's Polar id."
)


@extend_schema_view(
    list=documented(
        operation_id="listSubscriptions",
        tags=["subscriptions"],
        responses={200: s.SubscriptionSerializer(many=True), **errors(*LISTED)},
    ),
    retrieve=documented(
        operation_id="getSubscription",
        tags=["subscriptions"],
        parameters=[SUBSCRIPTION_ID],
        responses={200: s.SubscriptionSerializer, **errors(*SIGNED_IN, 404)},
    ),
    cancel=documented(
        operation_id="cancelSubscription",
        tags=["subscriptions"],
        parameters=[SUBSCRIPTION_ID],
        request=s.CancelRequestSerializer,
        responses={200: s.SubscriptionSerializer, **errors(*CALLS_POLAR, 404, 415)},
        examples=[
            OpenApiExample(
                "Cancel, saying why",
                value={"reason": "too_expensive", "comment": "Half the price and I stay."},
                request_only=True,
            )
        ],
    ),
    resume=documented(
        operation_id="resumeSubscription",
        tags=["subscriptions"],
        parameters=[SUBSCRIPTION_ID],
        request=None,
        responses={200: s.SubscriptionSerializer, **errors(*CALLS_POLAR, 404)},
    ),
    pause=documented(
        operation_id="pauseSubscription",
        tags=["subscriptions"],
        parameters=[SUBSCRIPTION_ID],
        request=s.PauseRequestSerializer,
        responses={200: s.SubscriptionSerializer, **errors(*CALLS_POLAR, 404, 415)},
        examples=[
            OpenApiExample(
                "Pause for the summer",
                value={"resumes_at": "2027-09-01T00:00:00Z"},
                request_only=True,
            )
        ],
    ),
    swap=documented(
        operation_id="swapSubscription",
        tags=["subscriptions"],
        parameters=[SUBSCRIPTION_ID],
        request=s.SwapRequestSerializer,
        responses={200: s.SubscriptionSerializer, **errors(*CALLS_POLAR, 404, 415)},
        examples=[
            OpenApiExample(
                "Move to the yearly plan, prorated",
                value={"product": "pro-yearly", "proration": "prorate"},
                request_only=True,
            )
        ],
    ),
)
class SubscriptionViewSet(
    PolarAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The billable's own subscriptions, and the actions a customer may take on them."""

    permission_classes = [IsAuthenticated, HasBillable]
    pagination_class = BillingPagination
    serializer_class = s.SubscriptionSerializer
    lookup_value_regex = ANY_ID  # "a.b" is a JSON 404 of this view, not Django's HTML 404

    def get_queryset(self) -> QuerySet[Subscription]:
        billable = billable_for_request(self.request)
        if billable is None:
            return Subscription.objects.none()
        return billable.subscriptions.select_related("product").order_by("-created_at")

    def _own(self) -> Subscription:
        try:
            return self.get_object()
        except ValidationError:  # not a UUID
            raise NotFound() from None

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        """Cancel at the end of the period (access continues until then), optionally with
        the customer's reason and comment."""
        subscription = self._own()
        body = s.CancelRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if not subscription.valid() or subscription.cancel_at_period_end:
            raise Conflict("Only a running subscription that is not canceled yet can be canceled.")
        polar_call(
            subscription.cancel,
            reason=body.validated_data.get("reason"),
            comment=body.validated_data.get("comment"),
        )
        return Response(self.get_serializer(subscription).data)

    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        """Undo a cancellation while the grace period lasts, call off a scheduled pause,
        or resume a paused subscription (a new period starts now and is billed)."""
        subscription = self._own()
        if not (
            subscription.on_grace_period()
            or subscription.paused()
            or subscription.on_paused_grace_period()
        ):
            raise Conflict(
                "Only a subscription canceled at period end (and not ended), paused or "
                "set to pause can resume."
            )
        polar_call(subscription.resume)
        return Response(self.get_serializer(subscription).data)

    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        """Pause at the end of the current period (Polar pauses only there), until
        ``resumes_at`` or until resumed."""
        subscription = self._own()
        body = s.PauseRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if (
            not subscription.active()
            or subscription.cancel_at_period_end
            or subscription.pause_at_period_end
        ):
            raise Conflict(
                "Only an active subscription that is not canceled or set to pause can pause."
            )
        polar_call(subscription.pause, body.validated_data.get("resumes_at"))
        return Response(self.get_serializer(subscription).data)

    @action(detail=True, methods=["post"])
    def swap(self, request: Request, pk: str | None = None) -> Response:
        """Move the subscription to another recurring product."""
        subscription = self._own()
        body = s.SwapRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        product = active_product(body.validated_data["product"], field="product")
        if not product.is_recurring:
            raise DRFValidationError(
                {"product": ["A subscription can only move to a recurring product."]}
            )
        if str(product.pk) == str(subscription.product_id):
            raise DRFValidationError({"product": ["The subscription is already on this product."]})
        if not subscription.valid():
            raise Conflict("Only a running subscription can change plan.")
        polar_call(subscription.swap, product, body.validated_data.get("proration"))
        return Response(s.SubscriptionSerializer(subscription, context={"request": request}).data)


@extend_schema_view(
    list=documented(
        operation_id="listOrders",
        tags=["orders"],
        responses={200: s.OrderSerializer(many=True), **errors(*LISTED)},
    ),
    retrieve=documented(
        operation_id="getOrder",
        tags=["orders"],
        parameters=[ORDER_ID],
        responses={200: s.OrderSerializer, **errors(*SIGNED_IN, 404)},
    ),
    invoice=documented(
        operation_id="getOrderInvoice",
        tags=["orders"],
        parameters=[ORDER_ID],
        responses={
            200: OpenApiResponse(s.InvoiceSerializer, description="The invoice is ready."),
            202: OpenApiResponse(
                s.InvoiceSerializer, description="Polar is generating it; ask again shortly."
            ),
            **errors(*SIGNED_IN, 404, 409, 502, 503),
        },
    ),
)
class OrderViewSet(
    PolarAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The billable's orders (one-time purchases and subscription invoices), newest first."""

    permission_classes = [IsAuthenticated, HasBillable]
    pagination_class = BillingPagination
    serializer_class = s.OrderSerializer
    lookup_value_regex = ANY_ID

    def get_queryset(self) -> QuerySet[Any]:
        billable = billable_for_request(self.request)
        if billable is None:
            return Order.objects.none()
        return billable.orders.select_related("product").order_by("-created_at")

    @action(detail=True, methods=["get"])
    def invoice(self, request: Request, pk: str | None = None) -> Response:
        """The invoice PDF's URL; 202 while Polar is still generating it."""
        try:
            order = self.get_object()
        except ValidationError:
            raise NotFound() from None
        if not order.paid:
            raise Conflict("An invoice exists only for a paid order.")
        try:
            url = order.invoice_url()
        except PolarValidationError as exc:  # Polar's 422: no billing name or address yet
            raise Conflict(str(exc)) from None
        except (CustomerConflictError, PolarError) as exc:
            raise api_error(exc) from None
        if url is None:
            return Response({"url": None, "status": "generating"}, status=status.HTTP_202_ACCEPTED)
        return Response({"url": url, "status": "ready"})


@extend_schema_view(
    get=documented(
        operation_id="listBenefitGrants",
        tags=["benefits"],
        responses={200: s.BenefitGrantSerializer(many=True), **errors(*LISTED)},
    )
)
class BenefitGrantListView(BillableAPIView, ListAPIView):
    """Benefits granted to the billable now (license keys, downloads, feature flags ...)."""

    serializer_class = s.BenefitGrantSerializer

    def get_queryset(self) -> QuerySet[Any]:
        return self.billable.benefit_grants.select_related("benefit").order_by("-granted_at")


def apply_checkout_options(builder: CheckoutBuilder, data: dict[str, Any]) -> None:
    """The request's checkout options onto the builder, which checks each as it takes it
    (``CheckoutError``), so the API and ``billable.checkout()`` refuse the same things."""
    if "min_seats" in data or "max_seats" in data:
        builder.with_seat_limits(data.get("min_seats"), data.get("max_seats"))
    if "currency" in data:
        builder.in_currency(data["currency"])
    if "locale" in data:
        builder.with_locale(data["locale"])
    if "billing_address" in data:
        builder.with_billing_address(dict(data["billing_address"]))
    if "tax_id" in data:
        builder.with_tax_id(data["tax_id"])
    if "business_name" in data:
        builder.as_business(data["business_name"])
    if "custom_field_data" in data:
        builder.with_custom_fields(dict(data["custom_field_data"]))
    if "upgrade_subscription" in data:
        builder.upgrading(data["upgrade_subscription"])
    builder.validate()  # a tax id without a billing country is refused here, not by Polar


class CheckoutCreateView(BillableAPIView):
    """Create a Polar checkout for known, active products; the customer is the requester."""

    serializer_class = s.CheckoutRequestSerializer

    @documented(
        operation_id="createCheckout",
        tags=["checkout"],
        request=s.CheckoutRequestSerializer,
        responses={201: s.CheckoutResponseSerializer, **errors(*CALLS_POLAR, 415)},
        examples=[
            OpenApiExample(
                "Buy the monthly plan, embedded",
                value={
                    "products": ["pro-monthly"],
                    "success_url": "/billing/thanks/",
                    "embed_origin": "https://app.example.com",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        products = [active_product(value) for value in data["products"]]
        builder = self.billable.checkout(products, request=request)
        success_url = own_absolute_url(request, data.get("success_url"), "success_url")
        return_url = own_absolute_url(request, data.get("return_url"), "return_url")
        embed_origin = own_origin(data.get("embed_origin"))
        try:
            if success_url:
                builder.with_success_url(success_url)
            if return_url:
                builder.with_return_url(return_url)
            if "seats" in data:
                builder.with_seats(data["seats"])
            if embed_origin:  # else the request's own origin (set by checkout(request=...))
                builder.with_embed_origin(embed_origin)
            apply_checkout_options(builder, data)
        except CheckoutError as exc:
            raise DRFValidationError({"detail": str(exc)}) from None
        session = polar_call(lambda: builder.session)
        out = {"id": session["id"], "url": session["url"], "expires_at": session.get("expires_at")}
        return Response(s.CheckoutResponseSerializer(out).data, status=status.HTTP_201_CREATED)


class PortalSessionView(BillableAPIView):
    """A fresh one-hour customer-portal URL for the requester."""

    serializer_class = s.PortalRequestSerializer

    @documented(
        operation_id="createPortalSession",
        tags=["portal"],
        request=s.PortalRequestSerializer,
        responses={201: s.PortalResponseSerializer, **errors(*CALLS_POLAR, 415)},
        examples=[
            OpenApiExample(
                "Come back to the billing page",
                value={"return_url": "/billing/"},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        return_url = own_absolute_url(request, body.validated_data.get("return_url"), "return_url")
        url = polar_call(self.billable.customer_portal_url, return_url)
        return Response(
            s.PortalResponseSerializer({"url": url}).data, status=status.HTTP_201_CREATED
        )


class LicenseKeyActivateView(PolarAPIMixin, GenericAPIView):
    """Activate a license key on a device: what a desktop or CLI app calls with the key
    its user typed (no account needed; the organization is this site's)."""

    permission_classes = [AllowAny]
    serializer_class = s.LicenseKeyActivateSerializer

    @documented(
        operation_id="activateLicenseKey",
        tags=["license keys"],
        request=s.LicenseKeyActivateSerializer,
        responses={
            201: s.LicenseKeyActivationSerializer,
            **errors(400, 403, 404, 415, 429, 502, 503),
        },
        examples=[
            OpenApiExample(
                "Activate on a laptop",
                value={"key": "JOTTER-1A2B-3C4D", "label": "Ada's laptop"},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        key = data["key"].strip()  # as pasted, with a stray space or newline
        if not key:
            raise NotFound("No such license key.")
        try:
            activation = license_keys.activate(
                key,
                data["label"],
                conditions=data.get("conditions"),
                meta=data.get("meta"),
            )
        except LicenseKeyInvalid as exc:
            raise NotFound(str(exc)) from None
        except LicenseKeyError as exc:
            raise PermissionDenied(str(exc)) from None
        except PolarRateLimitError as exc:
            raise Throttled(wait=exc.retry_after) from None
        except PolarError as exc:
            raise PolarUnavailable(
                answer_for_failure(exc, action="Activating a license key").message
            ) from None
        return Response(
            s.LicenseKeyActivationSerializer(activation).data, status=status.HTTP_201_CREATED
        )


__all__ = [
    "BenefitGrantListView",
    "BillingPagination",
    "BillingStateView",
    "CheckoutCreateView",
    "HasBillable",
    "LicenseKeyActivateView",
    "OrderViewSet",
    "PortalSessionView",
    "ProductListView",
    "SubscriptionViewSet",
]

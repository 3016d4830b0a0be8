"""The fluent checkout builder behind ``billable.checkout(...)``.

    user.checkout(["pro-monthly"]).with_seats(5).as_type("team").redirect()

Nothing is sent to Polar until ``.url``, ``.session`` or ``.redirect()`` is used; the
session is then created once, whatever is read afterwards. The customer is always given
as ``external_customer_id`` (created in Polar first when needed), never taken from input.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import NoReverseMatch, reverse

from .client import get_client
from .conf import polar_settings

# The errors and resolve_product_id are imported from here too (their old import path).
from .errors import CheckoutError, ReservedMetadataKeyError, UnknownProductError
from .models import DEFAULT_TYPE, SUBSCRIPTION_TYPE_KEY, Product, resolve_product_id
from .redirects import see_other
from .same_site import split_origin

if TYPE_CHECKING:
    from .billable import Billable

#: Metadata keys the app writes itself; callers use the builder methods instead.
RESERVED_METADATA_KEYS = frozenset({SUBSCRIPTION_TYPE_KEY})
#: Polar's success_url placeholder, replaced by the checkout's id.
CHECKOUT_ID_PLACEHOLDER = "{CHECKOUT_ID}"

#: The seats a seat-based checkout may ask for (the views and the API use the same bounds).
MIN_SEATS = 1
MAX_SEATS = 10000

MetadataValue = str | int | float | bool

__all__ = [
    "CHECKOUT_ID_PLACEHOLDER",
    "MAX_SEATS",
    "MIN_SEATS",
    "CheckoutBuilder",
    "CheckoutError",
    "ReservedMetadataKeyError",
    "UnknownProductError",
    "origin_of",
    "resolve_product_id",
    "seats_message",
]


def seats_message(seats: object) -> str:
    """The error for a seat count out of bounds (``seats`` as given, shortened)."""
    shown = seats[:20] if isinstance(seats, str) else seats
    return f"seats must be a whole number from {MIN_SEATS} to {MAX_SEATS}; got {shown!r}."


def origin_of(request: HttpRequest) -> str:
    """The page origin Polar's embed must talk to, from the host Django validated."""
    return f"{request.scheme}://{request.get_host()}"


def _scheme_of(url: str) -> str:
    """The scheme of ``url``; a CheckoutError when it cannot be parsed (``http://[``)."""
    try:
        return urlsplit(url).scheme
    except ValueError:
        raise CheckoutError(f"{url!r} is not a URL.") from None


def _check_metadata(metadata: Mapping[str, Any], what: str) -> dict[str, MetadataValue]:
    result: dict[str, MetadataValue] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 40:
            raise CheckoutError(f"{what} keys must be strings of 1 to 40 characters; got {key!r}.")
        if not isinstance(value, str | int | float | bool):
            raise CheckoutError(
                f"{what}[{key!r}] must be a string, number or boolean; got {type(value).__name__}."
            )
        result[key] = value
    return result


class CheckoutBuilder:
    """Collects checkout options; creates the Polar session on first use."""

    def __init__(
        self,
        billable: Billable,
        products: Any,
        *,
        success_url: str | None = None,
        return_url: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        customer_metadata: Mapping[str, Any] | None = None,
        discount: Any = None,
        allow_discount_codes: bool | None = None,
        amount: int | None = None,
        seats: int | None = None,
        embed_origin: str | None = None,
        type: str | None = None,
        request: HttpRequest | None = None,
    ) -> None:
        if isinstance(products, str | Product | uuid.UUID) or not isinstance(products, Iterable):
            products = [products]
        self.billable = billable
        products = list(products)
        for product in products:
            if isinstance(product, Product) and product.is_placeholder:
                raise CheckoutError(
                    f"Product {product.pk} is a placeholder (only its id is known, from another "
                    "payload) and is not for sale; run `manage.py polar_sync products`."
                )
        self.product_ids: list[str] = [resolve_product_id(p) for p in products]
        if not self.product_ids:
            raise CheckoutError("A checkout needs at least one product.")
        self._session: dict[str, Any] | None = None
        self._request = request
        self._success_url: str | None = None
        self._return_url: str | None = None
        self._metadata: dict[str, MetadataValue] = {}
        self._customer_metadata: dict[str, MetadataValue] = {}
        self._discount_id: str | None = None
        self._allow_discount_codes: bool | None = None
        self._amount: int | None = None
        self._seats: int | None = None
        self._embed_origin: str | None = None
        self._type: str | None = None
        self._trial: tuple[str, int] | None = None
        if request is not None:
            self.for_request(request)
        if success_url is not None:
            self.with_success_url(success_url)
        if return_url is not None:
            self.with_return_url(return_url)
        if metadata:
            self.with_metadata(metadata)
        if customer_metadata:
            self.with_customer_metadata(customer_metadata)
        if discount is not None:
            self.with_discount(discount)
        if allow_discount_codes is False:
            self.without_discount_codes()
        if amount is not None:
            self.with_amount(amount)
        if seats is not None:
            self.with_seats(seats)
        if embed_origin is not None:
            self.with_embed_origin(embed_origin)
        if type is not None:
            self.as_type(type)

    # -- fluent options (each returns self) ------------------------------------------------
    def _mutable(self) -> None:
        if self._session is not None:
            raise CheckoutError("This checkout was already created in Polar; start a new one.")

    def for_request(self, request: HttpRequest) -> CheckoutBuilder:
        """Use the request for absolute URLs and as the embed origin."""
        self._mutable()
        self._request = request
        self._embed_origin = origin_of(request)
        return self

    def with_success_url(self, url: str) -> CheckoutBuilder:
        """Where Polar sends the buyer; ``{CHECKOUT_ID}`` is replaced by the checkout id."""
        self._mutable()
        _scheme_of(url)
        self._success_url = url
        return self

    def with_return_url(self, url: str) -> CheckoutBuilder:
        """Where the checkout's back button leads."""
        self._mutable()
        _scheme_of(url)
        self._return_url = url
        return self

    def with_metadata(
        self, metadata: Mapping[str, Any] | None = None, **values: Any
    ) -> CheckoutBuilder:
        """Metadata copied onto the order and subscription."""
        self._mutable()
        merged = _check_metadata({**(metadata or {}), **values}, "metadata")
        reserved = RESERVED_METADATA_KEYS.intersection(merged)
        if reserved:
            raise ReservedMetadataKeyError(
                f"The metadata key {sorted(reserved)[0]!r} is reserved by django-polar; "
                "use .as_type(...) to set the subscription type."
            )
        self._metadata.update(merged)
        return self

    def with_customer_metadata(
        self, metadata: Mapping[str, Any] | None = None, **values: Any
    ) -> CheckoutBuilder:
        """Metadata stored on the customer Polar creates or updates."""
        self._mutable()
        self._customer_metadata.update(
            _check_metadata({**(metadata or {}), **values}, "customer_metadata")
        )
        return self

    def with_discount(self, discount: Any) -> CheckoutBuilder:
        """Apply a Polar discount (id or an object with ``id``/``pk``)."""
        self._mutable()
        discount_id = getattr(discount, "pk", None) or (
            discount.get("id") if isinstance(discount, Mapping) else discount
        )
        try:
            self._discount_id = str(uuid.UUID(str(discount_id)))
        except ValueError:
            raise CheckoutError(f"{discount!r} is not a Polar discount id.") from None
        return self

    def without_discount_codes(self) -> CheckoutBuilder:
        """Hide the discount code field."""
        self._mutable()
        self._allow_discount_codes = False
        return self

    def with_amount(self, amount: int) -> CheckoutBuilder:
        """The amount, in minor units, for a pay-what-you-want (custom) price."""
        self._mutable()
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise CheckoutError(
                f"amount must be a whole number of minor units >= 0; got {amount!r}."
            )
        self._amount = amount
        return self

    def with_seats(self, seats: int) -> CheckoutBuilder:
        """The number of seats for a seat-based price (MIN_SEATS to MAX_SEATS)."""
        self._mutable()
        if (
            isinstance(seats, bool)
            or not isinstance(seats, int)
            or not MIN_SEATS <= seats <= MAX_SEATS
        ):
            raise CheckoutError(seats_message(seats))
        self._seats = seats
        return self

    def with_trial(self, count: int, interval: str = "day") -> CheckoutBuilder:
        """Offer a trial of ``count`` ``interval``s (day, week, month, year)."""
        self._mutable()
        if interval not in ("day", "week", "month", "year") or not 1 <= count <= 1000:
            raise CheckoutError("A trial is 1 to 1000 days, weeks, months or years.")
        self._trial = (interval, count)
        return self

    def with_embed_origin(self, origin: str | None = None) -> CheckoutBuilder:
        """Allow embedding in a page of ``origin`` (default: the request's origin)."""
        self._mutable()
        if origin is None:
            if self._request is None:
                raise CheckoutError("with_embed_origin() needs an origin or for_request(request).")
            origin = origin_of(self._request)
        split = split_origin(origin) if isinstance(origin, str) else None
        if split is None:
            raise CheckoutError(f"{origin!r} is not an origin such as 'https://example.com'.")
        self._embed_origin = "{}://{}".format(*split)
        return self

    def as_type(self, type: str) -> CheckoutBuilder:
        """Name the subscription this checkout creates ("default", "swimming" ...)."""
        self._mutable()
        if not isinstance(type, str) or not 1 <= len(type) <= 64:
            raise CheckoutError("A subscription type is a string of 1 to 64 characters.")
        self._type = type
        return self

    # -- the request body ------------------------------------------------------------------
    def _absolute(self, url: str) -> str | None:
        if _scheme_of(url) in ("http", "https"):
            return url
        if self._request is not None:
            absolute = self._request.build_absolute_uri(url)
            # build_absolute_uri percent-encodes the braces of Polar's placeholder.
            return absolute.replace("%7BCHECKOUT_ID%7D", CHECKOUT_ID_PLACEHOLDER)
        return None  # Polar needs absolute URLs; without a request, leave it to Polar.

    def _default_success_url(self) -> str | None:
        configured = polar_settings.SUCCESS_URL
        if configured:
            try:
                url = resolve_url(configured)
            except NoReverseMatch:
                url = configured
        else:
            url = reverse("django_polar:success")
        if CHECKOUT_ID_PLACEHOLDER not in url:
            url += ("&" if "?" in url else "?") + f"checkout_id={CHECKOUT_ID_PLACEHOLDER}"
        return self._absolute(url)

    def payload(self) -> dict[str, Any]:
        """The body of ``POST /v1/checkouts/`` (without creating the customer)."""
        body: dict[str, Any] = {
            "products": list(self.product_ids),
            "external_customer_id": self.billable.get_polar_external_id(),
        }
        success_url = (
            self._absolute(self._success_url) if self._success_url else self._default_success_url()
        )
        if success_url:
            body["success_url"] = success_url
        if self._return_url:
            return_url = self._absolute(self._return_url)
            if return_url:
                body["return_url"] = return_url
        metadata = dict(self._metadata)
        metadata[SUBSCRIPTION_TYPE_KEY] = self._type or DEFAULT_TYPE
        body["metadata"] = metadata
        if self._customer_metadata:
            body["customer_metadata"] = dict(self._customer_metadata)
        if self._discount_id:
            body["discount_id"] = self._discount_id
        if self._allow_discount_codes is not None:
            body["allow_discount_codes"] = self._allow_discount_codes
        if self._amount is not None:
            body["amount"] = self._amount
        if self._seats is not None:
            body["seats"] = self._seats
        if self._embed_origin:
            body["embed_origin"] = self._embed_origin
        if self._trial:
            body["trial_interval"], body["trial_interval_count"] = self._trial
        return body

    # -- creation --------------------------------------------------------------------------
    @property
    def created(self) -> bool:
        """Whether the Polar session exists already (reading it then costs no API call)."""
        return self._session is not None

    @property
    def session(self) -> dict[str, Any]:
        """The Polar checkout session (created on first access, then reused)."""
        if self._session is None:
            self.billable.get_or_create_polar_customer()
            self._session = get_client().create_checkout(self.payload())
        return self._session

    @property
    def url(self) -> str:
        """The hosted checkout URL."""
        return self.session["url"]

    @property
    def id(self) -> str:
        return self.session["id"]

    def redirect(self) -> HttpResponseRedirect:
        """A 303 redirect to the hosted checkout."""
        return see_other(self.url)

    def __repr__(self) -> str:
        state = "created" if self.created else "not created"
        return f"<CheckoutBuilder {self.product_ids} for {self.billable!r} ({state})>"

"""The fluent checkout builder behind ``billable.checkout(...)``.

    user.checkout(["pro-monthly"]).with_seats(5).as_type("team").redirect()

Nothing is sent to Polar until ``.url``, ``.session`` or ``.redirect()`` is used; the
session is then created once, whatever is read afterwards. The customer is always given
as ``external_customer_id`` (created in Polar first when needed), never taken from input.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.urls import NoReverseMatch, reverse

from .client import get_client
from .conf import polar_settings

# The errors and resolve_product_id are imported from here too (their old import path).
from .errors import CheckoutError, ReservedMetadataKeyError, UnknownProductError
from .models import (
    DEFAULT_TYPE,
    SUBSCRIPTION_TYPE_KEY,
    Product,
    Subscription,
    resolve_product_id,
)
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
#: A custom field's value (custom_field/data.py): text, number, checkbox, select or date.
CustomFieldValue = str | int | bool | datetime | None
#: AddressInput's fields besides the required ``country``.
ADDRESS_FIELDS = ("line1", "line2", "postal_code", "city", "state")

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


def _check_address(address: Mapping[str, Any]) -> dict[str, str | None]:
    """Polar's ``AddressInput``: a two-letter country (upper-cased here; Polar checks it is
    one it sells to, and US/CA states), the other fields optional strings."""
    unknown = set(address) - {"country", *ADDRESS_FIELDS}
    if unknown:
        raise CheckoutError(
            f"Unknown billing address field {sorted(unknown)[0]!r}; "
            f"use country, {', '.join(ADDRESS_FIELDS)}."
        )
    country = address.get("country")
    if not isinstance(country, str) or not re.fullmatch(r"[A-Za-z]{2}", country):
        raise CheckoutError(f"A billing address needs a two-letter country code; got {country!r}.")
    result: dict[str, str | None] = {"country": country.upper()}
    for field in ADDRESS_FIELDS:
        value = address.get(field)
        if value is not None and not isinstance(value, str):
            raise CheckoutError(f"billing address {field} must be a string; got {value!r}.")
        result[field] = value or None
    return result


class CheckoutBuilder:
    """Collects checkout options; creates the Polar session on first use."""

    def __init__(
        self,
        billable: Billable | None,
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
        self._billing_address: dict[str, str | None] | None = None
        self._billing_name: str | None = None
        self._tax_id: str | None = None
        self._business = False
        self._custom_field_data: dict[str, CustomFieldValue] = {}
        self._locale: str | None = None
        self._currency: str | None = None
        self._seat_limits: tuple[int | None, int | None] = (None, None)
        self._upgrade_id: str | None = None
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

    @classmethod
    def for_guest(cls, products: Any, **options: Any) -> CheckoutBuilder:
        """A checkout for a visitor who is not signed in: no customer is named, so Polar
        creates (or finds, by the email typed) a customer without an external id. Link
        the purchase to an account afterwards with ``django_polar.claims`` (the
        ``guest_checkout`` view does both), never by the email alone."""
        return cls(None, products, **options)

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

    def with_billing_address(
        self, address: Mapping[str, Any] | None = None, **fields: Any
    ) -> CheckoutBuilder:
        """Prefill the billing address (``country`` plus line1, line2, postal_code, city,
        state). A street address makes Polar ask for the full address."""
        self._mutable()
        self._billing_address = _check_address({**(address or {}), **fields})
        return self

    def with_tax_id(self, tax_id: str) -> CheckoutBuilder:
        """Prefill the buyer's tax id (VAT number, EIN ...). Polar validates it against the
        billing address's country, so give that too (``with_billing_address``)."""
        self._mutable()
        if not isinstance(tax_id, str) or not tax_id.strip():
            raise CheckoutError(f"A tax id is a non-empty string; got {tax_id!r}.")
        self._tax_id = tax_id.strip()
        return self

    def as_business(self, name: str | None = None) -> CheckoutBuilder:
        """Buy as a business: Polar then asks for a billing name (``name`` prefills it) and
        the full billing address, which land on the customer and its invoices."""
        self._mutable()
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise CheckoutError(f"A business name is a non-empty string; got {name!r}.")
        self._business = True
        self._billing_name = name.strip() if name else None
        return self

    def with_custom_fields(
        self, data: Mapping[str, CustomFieldValue] | None = None, **values: CustomFieldValue
    ) -> CheckoutBuilder:
        """Prefill the product's custom fields, by slug (Polar drops slugs the product does
        not have and checks each value's type; required ones are asked for on its page)."""
        self._mutable()
        merged = {**(data or {}), **values}
        for key, value in merged.items():
            if not isinstance(key, str) or not key:
                raise CheckoutError(f"custom field slugs are non-empty strings; got {key!r}.")
            if value is not None and not isinstance(value, str | int | bool | datetime):
                raise CheckoutError(
                    f"custom field {key!r} must be a string, number, boolean or datetime; "
                    f"got {type(value).__name__}."
                )
        self._custom_field_data.update(merged)
        return self

    def with_locale(self, locale: str) -> CheckoutBuilder:
        """The checkout's language, an IETF BCP 47 tag ("fr", "en-GB"). Polar honours it
        only where the organization has checkout localization; otherwise it shows "en"."""
        self._mutable()
        if not isinstance(locale, str) or not re.fullmatch(
            r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*", locale
        ):
            raise CheckoutError(f"{locale!r} is not a language tag such as 'fr' or 'en-GB'.")
        self._locale = locale
        return self

    def in_currency(self, currency: str) -> CheckoutBuilder:
        """Bill in ``currency`` ("eur"): the product needs a price in it, or Polar refuses
        the checkout. Without it, Polar picks the buyer's local currency or the default."""
        self._mutable()
        if not isinstance(currency, str) or not re.fullmatch(r"[A-Za-z]{3}", currency):
            raise CheckoutError(f"{currency!r} is not a three-letter currency code.")
        self._currency = currency.lower()
        return self

    def with_seat_limits(
        self, minimum: int | None = None, maximum: int | None = None
    ) -> CheckoutBuilder:
        """Bound the seats the buyer may choose on a seat-based product (within the
        price's own tiers); the seats start at ``minimum`` unless ``with_seats`` says."""
        self._mutable()
        for bound in (minimum, maximum):
            if bound is not None and (
                isinstance(bound, bool)
                or not isinstance(bound, int)
                or not MIN_SEATS <= bound <= MAX_SEATS
            ):
                raise CheckoutError(seats_message(bound))
        if minimum is None and maximum is None:
            raise CheckoutError("with_seat_limits() needs a minimum, a maximum or both.")
        if minimum is not None and maximum is not None and minimum > maximum:
            raise CheckoutError(f"min seats ({minimum}) must not exceed max seats ({maximum}).")
        self._seat_limits = (minimum, maximum)
        return self

    def upgrading(self, subscription: Any) -> CheckoutBuilder:
        """Upgrade this billable's free subscription (a Subscription row or its id) through
        the checkout: on payment Polar moves the same subscription to the paid product
        instead of creating a second one. Polar upgrades only subscriptions whose prices
        are all free; the subscription keeps its type unless ``as_type`` says otherwise."""
        self._mutable()
        if self.billable is None:
            raise CheckoutError("A guest checkout cannot upgrade a subscription.")
        if not isinstance(subscription, Subscription):
            try:
                pk = uuid.UUID(str(subscription))
            except ValueError:
                raise CheckoutError(f"{subscription!r} is not a Polar subscription id.") from None
            subscription = Subscription.objects.filter(pk=pk).select_related("customer").first()
            if subscription is None:
                raise CheckoutError(f"Subscription {pk} is not in the mirror.")
        customer = self.billable.polar_customer
        if customer is None or subscription.customer_id != customer.pk:
            raise CheckoutError("A checkout can only upgrade a subscription of its own billable.")
        if subscription.ended():
            raise CheckoutError(f"Subscription {subscription.pk} has ended; buy a new one.")
        self._upgrade_id = str(subscription.pk)
        if self._type is None:
            self._type = subscription.type
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

    def validate(self) -> None:
        """Raise ``CheckoutError`` for what depends on two options at once (each ``with_*``
        checks its own): called before the session is created, and by a caller that wants
        the refusal before it has anything to redirect to."""
        if self._tax_id is not None and self._billing_address is None:
            raise CheckoutError(
                "Polar validates a tax id against the billing country: add "
                "with_billing_address(country=...)."
            )

    def payload(self) -> dict[str, Any]:
        """The body of ``POST /v1/checkouts/`` (without creating the customer)."""
        self.validate()
        body: dict[str, Any] = {"products": list(self.product_ids)}
        if self.billable is not None:
            body["external_customer_id"] = self.billable.get_polar_external_id()
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
        if self._billing_address is not None:
            body["customer_billing_address"] = dict(self._billing_address)
        if self._tax_id is not None:
            body["customer_tax_id"] = self._tax_id
        if self._business:
            body["is_business_customer"] = True
        if self._billing_name is not None:
            body["customer_billing_name"] = self._billing_name
        if self._custom_field_data:
            body["custom_field_data"] = {
                k: v.isoformat() if isinstance(v, datetime) else v
                for k, v in self._custom_field_data.items()
            }
        if self._locale is not None:
            body["locale"] = self._locale
        if self._currency is not None:
            body["currency"] = self._currency
        minimum, maximum = self._seat_limits
        if minimum is not None:
            body["min_seats"] = minimum
        if maximum is not None:
            body["max_seats"] = maximum
        if self._upgrade_id is not None:
            body["subscription_id"] = self._upgrade_id
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
            if self.billable is not None:
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
        buyer = "a guest" if self.billable is None else repr(self.billable)
        return f"<CheckoutBuilder {self.product_ids} for {buyer} ({state})>"

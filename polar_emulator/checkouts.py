"""Checkout sessions and checkout links: validation, pricing, and paying the way Polar's
own checkout page does (confirm -> customer -> order -> subscription -> grants)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from . import discounts, pricing
from .errors import APIError, forbidden, invalid, not_found
from .spec_tables import tables
from .store import add_interval, iso, parse_iso
from .subscriptions import item_label, priced, total
from .tax_ids import InvalidTaxID, validate_tax_id
from .validation import Body, address, check_uuid

if TYPE_CHECKING:
    from .core import Emulator

# config.py CHECKOUT_TTL_SECONDS = 60 * 60 * 24: a checkout session lives 24 hours.
CHECKOUT_TTL = timedelta(hours=24)
# Fields PATCH /v1/checkouts/{id} shares with the buyer's CheckoutUpdatePublic.
PUBLIC_UPDATE_FIELDS = frozenset(
    {
        "allow_trial",
        "amount",
        "customer_billing_address",
        "customer_billing_name",
        "customer_email",
        "customer_name",
        "customer_tax_id",
        "custom_field_data",
        "is_business_customer",
        "locale",
        "product_id",
        "product_price_id",
        "seats",
    }
)
ORIGIN_RE = re.compile(r"^https?://[^/\s?#]+$")
INTERVALS = ("day", "week", "month", "year")


def tax_id_needs_country() -> APIError:
    """checkout/service.py: a tax id is validated against the billing country."""
    return APIError(
        422,
        {
            "detail": [
                {
                    "type": "missing",
                    "loc": ["body", "customer_billing_address"],
                    "msg": "Country is required to validate tax ID.",
                    "input": None,
                }
            ]
        },
    )


def checked_tax_id(number: str, country: str) -> tuple[str, str]:
    """checkout/service.py ``create``/``_update_checkout``: ``validate_tax_id`` against the
    billing country, else 422 "Invalid tax ID." at customer_tax_id."""
    try:
        return validate_tax_id(number, country)
    except InvalidTaxID:
        raise invalid(["body", "customer_tax_id"], "Invalid tax ID.", value=number) from None


def product_unavailable(loc: list[Any], value: Any) -> APIError:
    """checkout/service.py: no price of the product in the requested currency."""
    return invalid(loc, "Product is not available in the specified currency.", value=value)


def billing_address_fields(checkout: dict[str, Any]) -> dict[str, str]:
    """models/checkout.py ``billing_address_fields``: the full address is asked for when
    required (require_billing_address or a business customer) or in the US; a state in
    the US and Canada."""
    address_ = checkout["customer_billing_address"]
    country = address_["country"] if address_ else None
    full = (
        checkout["require_billing_address"] or checkout["is_business_customer"] or country == "US"
    )
    on = "required" if full else "disabled"
    return {
        "country": "required",
        "state": "required" if country in ("US", "CA") else ("optional" if full else "disabled"),
        "city": on,
        "postal_code": on,
        "line1": on,
        "line2": "optional" if full else "disabled",
    }


def has_street_address(billing_address: dict[str, Any]) -> bool:
    """kit/address.py ``Address.has_address``."""
    return any(billing_address[f] for f in ("line1", "line2", "city", "postal_code"))


class Checkouts:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.st = emu.store

    def get(self, checkout_id: str) -> dict[str, Any]:
        checkout = self.st.checkouts.get(checkout_id)
        if checkout is None:
            raise not_found("Checkout not found")
        return checkout

    def by_secret(self, client_secret: str) -> dict[str, Any]:
        checkout = next(
            (c for c in self.st.checkouts.values() if c["client_secret"] == client_secret), None
        )
        if checkout is None:
            raise not_found("Checkout not found")
        return checkout

    def resolve(self, id_or_secret: str) -> dict[str, Any]:
        if id_or_secret in self.st.checkouts:
            return self.st.checkouts[id_or_secret]
        return self.by_secret(id_or_secret)

    # creation ---------------------------------------------------------------------
    def prices_in(self, product: dict[str, Any], currency: str) -> list[dict[str, Any]]:
        """The product's live prices in ``currency`` (``PriceSet.from_product``)."""
        return self.emu.catalog.price_set(product, currency)

    def default_price_in(self, product: dict[str, Any], currency: str | None) -> dict[str, Any]:
        """The price a checkout bills in ``currency``: the first non-metered price of that
        currency; without a currency (or none in it), the product's default price, as
        Polar falls back to the organization's default presentment currency."""
        if currency is not None:
            prices = self.prices_in(product, currency)
            if prices:
                return (pricing.static(prices) or prices)[0]
        return self.emu.catalog.default_price(product)

    def _upgradable(self, subscription_id: str) -> str:
        """checkout/service.py ``_get_validated_subscription``: the subscription must exist
        and every one of its prices be free (``Only free subscriptions can be upgraded.``);
        the checkout's customer is the subscription's."""
        sub = self.st.subscriptions.get(subscription_id)
        if sub is None:
            raise invalid(
                ["body", "subscription_id"], "Subscription does not exist.", value=subscription_id
            )
        # models/product_price.py ``is_free``: only a fixed price of 0.
        if any(p["amount_type"] != "fixed" or p["price_amount"] != 0 for p in sub["_prices"]):
            raise invalid(
                ["body", "subscription_id"],
                "Only free subscriptions can be upgraded.",
                value=subscription_id,
            )
        return str(sub["customer_id"])

    def _products(self, ids: list[str], loc: str = "products") -> list[dict[str, Any]]:
        products = []
        for i, product_id in enumerate(ids):
            product = self.st.products.get(product_id)
            if product is None:
                raise invalid(["body", loc, i], "Product does not exist.")
            if product["is_archived"]:
                raise invalid(["body", loc, i], "Product is archived.")
            products.append(product)
        return products

    def create(self, data: Any, *, link: dict[str, Any] | None = None) -> dict[str, Any]:
        body = Body(data)
        if body.get("prices") is not None:
            raise invalid(["body", "prices"], "Ad-hoc prices are not supported by the emulator.")
        products = self._products(body.uuids("products", required=True, min_items=1))
        customer_id = body.uuid("customer_id")
        if customer_id is not None:
            customer = self.st.customers.get(customer_id)
            if customer is None or customer["deleted_at"] is not None:
                raise invalid(["body", "customer_id"], "Customer does not exist.")
        external_customer_id = body.str("external_customer_id")
        if customer_id is None and external_customer_id is not None:
            existing = self.emu.customers.by_external_id(external_customer_id)
            customer_id = existing["id"] if existing else None
        discount_id = body.uuid("discount_id")
        if discount_id is not None:
            self.emu.discounts.for_checkout(
                product_id=products[0]["id"],
                currency=self.emu.catalog.default_price(products[0])["price_currency"],
                discount_id=discount_id,
            )
        embed_origin = body.str("embed_origin")
        if embed_origin is not None and not ORIGIN_RE.match(embed_origin):
            raise invalid(
                ["body", "embed_origin"],
                "Value error, embed_origin must be an origin like https://example.com.",
            )
        currency = body.choice("currency", tuple(tables()["currencies"]))
        if currency is not None and not self.prices_in(products[0], currency):
            raise product_unavailable(["body", "products", 0], products[0]["id"])
        subscription_id = body.uuid("subscription_id")
        if subscription_id is not None:
            customer_id = self._upgradable(subscription_id)
        billing_address = address(body, "customer_billing_address")
        tax_id = body.str("customer_tax_id")
        tax_id_format = None
        if tax_id is not None and billing_address is None:
            raise tax_id_needs_country()
        if tax_id is not None and billing_address is not None:
            tax_id, tax_id_format = checked_tax_id(tax_id, billing_address["country"])
        # checkout/service.py ``create``: validate_required=False (required is for confirm).
        custom_field_data = self.emu.custom_fields.validate(
            products[0]["attached_custom_fields"],
            body.get("custom_field_data"),
            validate_required=False,
        )
        require_billing_address = body.bool("require_billing_address", False)
        # checkout/service.py create: a street address, or a state outside US/CA, given
        # up front makes the full billing address required.
        if billing_address is not None and (
            has_street_address(billing_address)
            or (billing_address["state"] and billing_address["country"] not in ("US", "CA"))
        ):
            require_billing_address = True
        now = self.emu.clock.now()
        checkout_id = self.st.new_id()
        client_secret = self.st.token("polar_c_")
        success_url = body.url("success_url")
        success_url = (
            success_url.replace("{CHECKOUT_ID}", checkout_id)
            if success_url
            else f"{self.emu.base_url}/checkout/{client_secret}/confirmation"
        )
        customer = self.st.customers.get(customer_id or "")
        checkout: dict[str, Any] = {
            "id": checkout_id,
            "created_at": iso(now),
            "modified_at": None,
            "custom_field_data": custom_field_data,
            "payment_processor": "stripe",
            "status": "open",
            "client_secret": client_secret,
            "url": f"{self.emu.base_url}/checkout/{client_secret}",
            "expires_at": iso(now + CHECKOUT_TTL),
            "success_url": success_url,
            # checkout/service.py keeps the merchant's own ``_success_url`` (None when
            # unset); seat auto-claim depends on it, not on the public default.
            "_merchant_success_url": body.url("success_url"),
            "return_url": body.url("return_url"),
            "embed_origin": embed_origin,
            "units": None,
            "min_units": None,
            "max_units": None,
            "tax_behavior": "exclusive",
            "organization_id": self.st.organization["id"],
            "discount_id": discount_id,
            "allow_discount_codes": body.bool("allow_discount_codes", True),
            "require_billing_address": require_billing_address,
            "is_discount_applicable": True,
            "customer_id": customer_id,
            "is_business_customer": body.bool("is_business_customer", False),
            "customer_name": body.str("customer_name", max_length=256)
            or (customer or {}).get("name"),
            "customer_email": body.email("customer_email") or (customer or {}).get("email"),
            "customer_ip_address": body.str("customer_ip_address"),
            "customer_billing_name": body.str("customer_billing_name"),
            "customer_billing_address": billing_address,
            "customer_tax_id": tax_id,
            "_customer_tax_id_format": tax_id_format,
            "currency": currency,
            "locale": body.str("locale"),
            "payment_method_type": None,
            "payment_processor_metadata": {},
            "billing_address_fields": {
                "country": "required",
                "state": "disabled",
                "city": "disabled",
                "postal_code": "disabled",
                "line1": "disabled",
                "line2": "disabled",
            },
            "trial_interval": body.choice("trial_interval", INTERVALS),
            "trial_interval_count": body.int("trial_interval_count", ge=1, le=1000),
            "allow_trial": body.bool("allow_trial", True),
            "metadata": body.metadata() or {},
            "external_customer_id": external_customer_id,
            "subscription_id": subscription_id,
            "_upgrade": subscription_id is not None,
            "customer_metadata": body.metadata("customer_metadata", allow_float=False) or {},
            "_product_ids": [p["id"] for p in products],
            "_link_id": link["id"] if link else None,
        }
        self._prefill(checkout, customer, body)
        checkout["min_seats"] = body.int("min_seats", ge=1, le=10000)
        checkout["max_seats"] = body.int("max_seats", ge=1, le=10000)
        self._select(
            checkout,
            products[0],
            body,
            amount=body.int("amount", ge=0),
            seats=body.int("seats", ge=1, le=10000),
            loc="body",
        )
        self.st.checkouts[checkout_id] = checkout
        self.emu.emit("checkout.created", self.emu.ser.checkout(checkout_id))
        return checkout

    def _prefill(
        self, checkout: dict[str, Any], customer: dict[str, Any] | None, body: Body
    ) -> None:
        """checkout/service.py ``create``: a known customer prefills what the request left
        empty (billing name, address and tax id), an individual their name too; a customer
        with a billing name and a street address is a business customer unless the request
        says; the locale falls back to the customer's, and to "en" unless the organization
        has checkout localization (``checkout_localization_enabled``)."""
        if customer is not None:
            if checkout["customer_billing_name"] is None:
                checkout["customer_billing_name"] = customer.get("billing_name")
            if checkout["customer_billing_address"] is None and customer["billing_address"]:
                checkout["customer_billing_address"] = dict(customer["billing_address"])
            if checkout["customer_tax_id"] is None and customer["tax_id"]:
                checkout["customer_tax_id"], checkout["_customer_tax_id_format"] = customer[
                    "tax_id"
                ]
            if checkout["locale"] is None:
                checkout["locale"] = customer.get("locale")
            if (
                not body.has("is_business_customer")
                and customer.get("billing_name")
                and customer["billing_address"]
                and has_street_address(customer["billing_address"])
            ):
                checkout["is_business_customer"] = True
        if not self.emu.organizations.org["feature_settings"].get("checkout_localization_enabled"):
            checkout["locale"] = "en"

    def _select(
        self,
        checkout: dict[str, Any],
        product: dict[str, Any],
        body: Body,
        *,
        amount: int | None,
        seats: int | None,
        loc: str,
        price_id: str | None = None,
    ) -> None:
        """Point the checkout at a product/price and recompute every amount."""
        if price_id is not None:
            price = next(
                (p for p in product["prices"] if p["id"] == price_id and not p["is_archived"]), None
            )
            if price is None:
                raise invalid([loc, "product_price_id"], "Price does not exist.")
        else:
            price = self.default_price_in(product, checkout.get("currency"))
        # The whole price set is billed (product/price_set.py): "fixed + per seat" is
        # both prices; ``product_price`` stays the default (first static) price.
        prices = self.emu.catalog.price_set(product, price["price_currency"])
        custom = next((p for p in prices if p["amount_type"] == "custom"), None)
        if custom is not None:
            amount = (
                amount
                if amount is not None
                else checkout.get("amount")
                if checkout.get("product_price_id") == custom["id"]
                else None
            )
            amount = (
                amount
                if amount is not None
                else (custom["preset_amount"] or custom["minimum_amount"])
            )
            if amount < custom["minimum_amount"] and amount != 0:
                raise invalid(
                    [loc, "amount"],
                    f"Amount must be greater than or equal to {custom['minimum_amount']}.",
                )
            if amount == 0 and custom["minimum_amount"] > 0:
                raise invalid(
                    [loc, "amount"],
                    f"Amount must be greater than or equal to {custom['minimum_amount']}.",
                )
            if custom["maximum_amount"] is not None and amount > custom["maximum_amount"]:
                raise invalid(
                    [loc, "amount"],
                    f"Amount must be less than or equal to {custom['maximum_amount']}.",
                )
        seat = pricing.seat_price_of(prices)
        if seat is not None:
            seats = self._seats(checkout, seat, seats, loc)
        elif seats is not None:
            # checkout/service.py create: "Seats can only be set for seat-based pricing."
            raise invalid([loc, "seats"], "Seats can only be set for seat-based pricing.")
        else:
            # checkout/service.py create ``_validate_checkout_seat_constraints``: seat
            # bounds need a seat-based price (checked once, when the checkout is created).
            for field in ("min_seats", "max_seats"):
                if "product_id" not in checkout and checkout.get(field) is not None:
                    raise invalid([loc, field], f"{field} can only be set for seat-based pricing.")
            seats = None
        # checkout/service.py: ``calculate_upfront_amount(price_set.get_static_prices())``.
        value = pricing.upfront_amount(prices, seats=seats, amount=amount)
        # checkout/service.py: changing product drops a discount that does not apply to it.
        current = self.st.discounts.get(checkout["discount_id"] or "")
        if current is not None and not discounts.is_applicable(
            current, product["id"], price["price_currency"]
        ):
            checkout["discount_id"] = None
        discount = self.emu.catalog.discount_amount(checkout["discount_id"], value)
        net = value - discount
        tax = net * self.emu.tax_rate_bps // 10000
        trial = None
        if product["is_recurring"] and checkout["allow_trial"]:
            interval = checkout["trial_interval"] or product["trial_interval"]
            count = checkout["trial_interval_count"] or product["trial_interval_count"] or 1
            trial = (interval, count) if interval else None
        checkout.update(
            product_id=product["id"],
            product_price_id=price["id"],
            amount=value,
            seats=seats,
            discount_amount=discount,
            net_amount=net,
            tax_amount=tax,
            total_amount=net + tax,
            currency=price["price_currency"],
            active_trial_interval=trial[0] if trial else None,
            active_trial_interval_count=trial[1] if trial else None,
            trial_end=iso(add_interval(self.emu.clock.now(), *trial)) if trial else None,
            is_free_product_price=value == 0 and price["amount_type"] != "metered_unit",
            is_payment_required=net > 0 and not trial,
            is_payment_setup_required=product["is_recurring"] and net > 0,
        )
        checkout["is_payment_form_required"] = (
            checkout["is_payment_required"] or checkout["is_payment_setup_required"]
        )
        checkout["billing_address_fields"] = billing_address_fields(checkout)

    # client-side updates ----------------------------------------------------------
    def _seats(
        self, checkout: dict[str, Any], price: dict[str, Any], seats: int | None, loc: str
    ) -> int:
        """checkout/service.py _validate_checkout_seat_constraints and _validate_seat_limits:
        the checkout's min_seats/max_seats narrow the price's tiers (and must fit them);
        seats default to min_seats, else the tiers' minimum."""
        tiers = price["seat_tiers"]
        tier_min, tier_max = tiers["minimum_seats"], tiers["maximum_seats"]
        low, high = checkout.get("min_seats"), checkout.get("max_seats")
        if low is not None and low < tier_min:
            raise invalid([loc, "min_seats"], f"min_seats must be at least {tier_min}.")
        if high is not None and tier_max is not None and high > tier_max:
            raise invalid([loc, "max_seats"], f"max_seats must be at most {tier_max}.")
        if low is not None and high is not None and low > high:
            raise invalid([loc, "min_seats"], "min_seats must be less than or equal to max_seats.")
        minimum = low if low is not None else tier_min
        maximum = min(high, tier_max) if high is not None and tier_max else (high or tier_max)
        if seats is None:
            seats = checkout.get("seats") or minimum
        if seats < minimum:
            raise invalid([loc, "seats"], f"Minimum {minimum} seats required.")
        if maximum is not None and seats > maximum:
            raise invalid([loc, "seats"], f"Maximum {maximum} seats allowed.")
        return seats

    def _check_open(self, checkout: dict[str, Any]) -> None:
        self.expire_if_due(checkout)
        if checkout["status"] == "expired":
            raise APIError(
                410,
                {"error": "ExpiredCheckoutError", "detail": "This checkout session has expired."},
            )
        if checkout["status"] != "open":
            raise forbidden("NotOpenCheckout", "Checkout is not open.")

    def update_client(
        self,
        checkout: dict[str, Any],
        data: Any,
        *,
        announce: bool = True,
        confirming: bool = False,
    ) -> dict[str, Any]:
        self._check_open(checkout)
        body = Body(data)
        product = self.st.products[checkout["product_id"]]
        product_id = body.uuid("product_id")
        if product_id is not None:
            if product_id not in checkout["_product_ids"]:
                raise invalid(["body", "product_id"], "Product is not available in this checkout.")
            product = self.st.products[product_id]
        # checkout/service.py ``_update_checkout``: a code counts only where the checkout
        # allows codes (otherwise it is ignored), is checked against the product and
        # currency like a discount id, and an explicit null removes the discount.
        if checkout["allow_discount_codes"] and body.has("discount_code"):
            code = body.str("discount_code")
            if code is None:
                checkout["discount_id"] = None
            else:
                checkout["discount_id"] = self.emu.discounts.for_checkout(
                    product_id=product["id"],
                    currency=self.emu.catalog.default_price(product)["price_currency"],
                    code=code,
                )["id"]
        if body.get("allow_trial") is False:
            checkout["allow_trial"] = False
        for field in ("customer_name", "customer_billing_name", "locale"):
            if body.has(field):
                checkout[field] = body.str(field)
        # checkout/service.py update: a given billing address replaces the stored one; a
        # tax id needs a country to be validated against.
        billing_address = address(body, "customer_billing_address")
        if billing_address is not None:
            checkout["customer_billing_address"] = billing_address
        # checkout/service.py ``_update_checkout``: an explicit null clears the tax id;
        # otherwise the new or stored number is validated against the (new) country.
        if body.has("customer_tax_id") and body.get("customer_tax_id") is None:
            checkout["customer_tax_id"] = checkout["_customer_tax_id_format"] = None
        else:
            tax_id = body.str("customer_tax_id") or checkout["customer_tax_id"]
            if tax_id is not None:
                if checkout["customer_billing_address"] is None:
                    raise tax_id_needs_country()
                checkout["customer_tax_id"], checkout["_customer_tax_id_format"] = checked_tax_id(
                    tax_id, checkout["customer_billing_address"]["country"]
                )
        if body.get("is_business_customer") is False:
            checkout["customer_tax_id"] = checkout["_customer_tax_id_format"] = None
        if confirming or body.has("custom_field_data"):
            # ``_update_checkout``: an update merges into what the checkout holds, required
            # fields waiting; the confirmation's own data (the page sends the whole form)
            # replaces it and must have every required field.
            values = self.emu.custom_fields.validate(
                product["attached_custom_fields"],
                body.get("custom_field_data"),
                validate_required=confirming,
            )
            checkout["custom_field_data"] = (
                values if confirming else {**checkout["custom_field_data"], **values}
            )
        if body.has("customer_email") and body.get("customer_email") is not None:
            checkout["customer_email"] = body.email("customer_email")
        if body.has("is_business_customer") and body.get("is_business_customer") is not None:
            checkout["is_business_customer"] = body.bool("is_business_customer")
        self._select(
            checkout,
            product,
            body,
            amount=body.int("amount", ge=0),
            seats=body.int("seats", ge=1, le=10000),
            loc="body",
            price_id=body.uuid("product_price_id"),
        )
        self._check_subscription_uniqueness(checkout)
        checkout["modified_at"] = iso(self.emu.clock.now())
        if announce:
            self.emu.emit("checkout.updated", self.emu.ser.checkout(checkout["id"]))
        return checkout

    def _check_billing_details(self, checkout: dict[str, Any]) -> None:
        """checkout/service.py ``_confirm_inner``: a business customer needs a billing name
        (``_get_required_confirm_fields``), and a checkout that requires the billing
        address (``is_billing_address_required``: require_billing_address or a business
        customer) needs a full one."""
        errors: list[dict[str, Any]] = []
        if checkout["is_business_customer"] and not checkout["customer_billing_name"]:
            errors.append(
                {
                    "type": "missing",
                    "loc": ["body", "customer_billing_name"],
                    "msg": "Field is required.",
                    "input": None,
                }
            )
        billing_address = checkout["customer_billing_address"]
        if (checkout["require_billing_address"] or checkout["is_business_customer"]) and (
            billing_address is None or not has_street_address(billing_address)
        ):
            errors.append(
                {
                    "type": "value_error",
                    "loc": ["body", "customer_billing_address"],
                    "msg": "Full billing address is required.",
                    "input": billing_address,
                }
            )
        if errors:
            raise APIError(422, {"detail": errors})

    def _check_subscription_uniqueness(self, checkout: dict[str, Any]) -> None:
        """checkout/service.py ``_validate_subscription_uniqueness``: unless the
        organization allows multiple subscriptions, a customer (known by id, else by
        email) holding a billable subscription (trialing, active, past_due) cannot buy
        another recurring product."""
        if self.emu.organizations.setting("allow_multiple_subscriptions"):
            return
        if not self.st.products[checkout["product_id"]]["is_recurring"]:
            return
        if checkout["subscription_id"] is not None:
            return
        customer_ids: set[str] = set()
        if checkout["customer_id"]:
            customer_ids = {checkout["customer_id"]}
        elif checkout["customer_email"]:
            email = checkout["customer_email"].lower()
            customer_ids = {
                c["id"]
                for c in self.st.customers.values()
                if c["deleted_at"] is None and (c["email"] or "").lower() == email
            }
        if any(
            s["customer_id"] in customer_ids and s["status"] in ("trialing", "active", "past_due")
            for s in self.st.subscriptions.values()
        ):
            raise forbidden(
                "AlreadyActiveSubscriptionError", "You already have an active subscription."
            )

    def expire_if_due(self, checkout: dict[str, Any]) -> bool:
        if (
            checkout["status"] == "open"
            and parse_iso(checkout["expires_at"]) <= self.emu.clock.now()
        ):
            checkout["status"] = "expired"
            checkout["modified_at"] = iso(self.emu.clock.now())
            self.emu.emit("checkout.expired", self.emu.ser.checkout(checkout["id"]))
            return True
        return False

    # paying -----------------------------------------------------------------------
    def confirm(self, checkout: dict[str, Any], data: Any) -> dict[str, Any]:
        """What Polar does when the buyer presses Pay (a successful test card).

        Returns the public view at the "confirmed" moment, like Polar's confirm endpoint
        (payment then completes the way Polar's background jobs would)."""
        self.update_client(checkout, data, announce=False, confirming=True)
        if not checkout["customer_email"] and not checkout["customer_id"]:
            raise invalid(["body", "customer_email"], "Field required", "missing")
        self._check_billing_details(checkout)
        discount = self.st.discounts.get(checkout["discount_id"] or "")
        # checkout/service.py ``confirm`` redeems under a lock: a discount that ran out
        # (or ended) since it was applied is refused.
        if discount is not None and not discounts.is_redeemable(discount, self.emu.clock.now()):
            raise invalid(
                ["body", "discount_id"], "Discount is no longer redeemable.", value=discount["id"]
            )
        checkout["status"] = "confirmed"
        checkout["modified_at"] = iso(self.emu.clock.now())
        self.emu.emit("checkout.updated", self.emu.ser.checkout(checkout["id"]))
        confirmed = self.emu.ser.checkout(checkout["id"], public_view=True)
        customer = self._customer_for(checkout)
        checkout["customer_id"] = customer["id"]
        product = self.st.products[checkout["product_id"]]
        _, price = self.emu.catalog.find_price(checkout["product_price_id"])
        metadata = dict(checkout["metadata"])
        subscription = None
        upgraded = self.st.subscriptions.get(checkout["subscription_id"] or "")
        if product["is_recurring"] and checkout.get("_upgrade") and upgraded is not None:
            subscription = self._upgrade(checkout, upgraded, product)
        elif product["is_recurring"]:
            trial = (
                (checkout["active_trial_interval"], checkout["active_trial_interval_count"])
                if checkout["active_trial_interval"]
                else None
            )
            subscription = self.emu.subscriptions.create(
                customer_id=customer["id"],
                product=product,
                currency=checkout["currency"],
                amount=checkout["amount"],
                seats=checkout["seats"],
                checkout_id=checkout["id"],
                discount_id=checkout["discount_id"],
                metadata=metadata,
                trial=trial,
            )
            subscription["custom_field_data"] = dict(checkout["custom_field_data"])
            checkout["subscription_id"] = subscription["id"]
            # subscription/service.py ``create_or_update_from_checkout``: created, active
            # (trialing counts: ``_after_subscription_created``) and the extra updated,
            # all before the order (checkout/service.py ``handle_success``).
            for kind in ("subscription.created", "subscription.active", "subscription.updated"):
                self.emu.emit(kind, self.emu.ser.subscription(subscription["id"]))
        if subscription is not None and subscription["status"] == "trialing":
            # order/service.py ``create_trial_order``: one item of 0.
            items = [
                self.emu.orders.item(
                    product["name"],
                    0,
                    price_id=price["id"],
                    start=subscription["current_period_start"],
                    end=subscription["current_period_end"],
                )
            ]
        elif subscription is not None:
            items = self.emu.subscriptions.static_items(subscription)
        else:
            # order/service.py ``_build_static_order_items``: one item per static price.
            items = [
                self.emu.orders.item(
                    item_label(product, p, checkout["seats"]),
                    pricing.price_amount(p, seats=checkout["seats"], amount=checkout["amount"]),
                    price_id=p["id"],
                )
                for p in pricing.static(self.emu.catalog.price_set(product, checkout["currency"]))
            ]
        order = self.emu.orders.create(
            customer_id=customer["id"],
            product_id=product["id"],
            items=items,
            billing_reason="subscription_create" if subscription else "purchase",
            currency=checkout["currency"],
            subscription_id=subscription["id"] if subscription else None,
            checkout_id=checkout["id"],
            discount_id=checkout["discount_id"],
            seats=checkout["seats"],
            metadata=metadata,
            custom_field_data=checkout["custom_field_data"],
            paid=True,
        )
        self.emu.discounts.redeem(checkout["discount_id"])
        # order/service.py ``_on_order_created``: a paid order also sends order.updated
        # (the pending -> paid transition) before order.paid.
        self.emu.orders.mark_paid(order, announce_update=True)
        checkout["status"] = "succeeded"
        checkout["modified_at"] = iso(self.emu.clock.now())
        self.emu.emit("checkout.updated", self.emu.ser.checkout(checkout["id"]))
        if checkout["seats"] is not None:
            # Seat-based products ("per seat", or "fixed + per seat") grant nothing to the
            # billing manager: benefits come with claimed seats (subscription/service.py
            # enqueue_benefits_grants ``has_seat_based_price``; order/service.py
            # create_from_checkout_one_time keys off ``order.seats``). The buyer's own
            # seat is claimed only when ``product_price`` is the seat price
            # (checkout/service.py _maybe_auto_claim_buyer_seat), so never for "fixed +
            # per seat", whose default price is the fixed one.
            self.emu.seats.after_purchase(
                checkout,
                subscription or order,
                customer,
                auto_claim=price["amount_type"] == "seat_based",
            )
        elif subscription is not None:
            self.emu.grants.sync_subscription(subscription)
        else:
            for benefit_id in product["_benefit_ids"]:
                self.emu.grants.grant(customer["id"], benefit_id, order_id=order["id"])
        self.emu.state_changed(customer["id"])
        confirmed["customer_id"] = customer["id"]
        return confirmed

    def _upgrade(
        self,
        checkout: dict[str, Any],
        sub: dict[str, Any],
        product: dict[str, Any],
    ) -> dict[str, Any]:
        """subscription/service.py ``create_or_update_from_checkout`` with
        ``checkout.subscription``: the same subscription takes the checkout's product,
        its price set in the checkout's currency, seats and discount, starts a new cycle today (or its trial), keeps the
        metadata keys the checkout does not set; subscription.updated (and .active when it
        was not active), then its benefits follow the new product."""
        previous_status = sub["status"]
        now = self.emu.clock.now()
        trial = (
            (checkout["active_trial_interval"], checkout["active_trial_interval_count"])
            if checkout["active_trial_interval"]
            else None
        )
        prices = priced(
            self.emu.catalog.price_set(product, checkout["currency"]),
            seats=checkout["seats"],
            amount=checkout["amount"],
        )
        trial_end = add_interval(now, *trial) if trial else None
        sub.update(
            product_id=product["id"],
            currency=checkout["currency"],
            _prices=prices,
            amount=total(prices),
            seats=checkout["seats"],
            recurring_interval=product["recurring_interval"],
            recurring_interval_count=product["recurring_interval_count"] or 1,
            _pending_update=None,
            status="trialing" if trial else "active",
            current_period_start=iso(now),
            current_period_end=iso(
                trial_end
                or add_interval(
                    now, product["recurring_interval"], product["recurring_interval_count"] or 1
                )
            ),
            trial_start=iso(now) if trial else None,
            trial_end=iso(trial_end),
            discount_id=checkout["discount_id"],
            checkout_id=checkout["id"],
            metadata={**sub["metadata"], **checkout["metadata"]},
            custom_field_data=dict(checkout["custom_field_data"]),
            _discount_applied_at=iso(now) if checkout["discount_id"] and not trial else None,
            modified_at=iso(now),
        )
        self.emu.subscriptions._meter_period(sub)
        for price in prices:
            if price["amount_type"] == "metered_unit":  # ``reset_meters``
                self.emu.usage.reset(sub["customer_id"], price["meter_id"])
        kinds = ["subscription.updated"]
        if previous_status not in ("active", "trialing"):
            kinds.insert(0, "subscription.active")
        for kind in kinds:
            self.emu.emit(kind, self.emu.ser.subscription(sub["id"]))
        return sub

    def _customer_for(self, checkout: dict[str, Any]) -> dict[str, Any]:
        """checkout/service.py ``_create_or_update_customer``: the checkout's customer, else
        the customer with the buyer's email (who keeps their own ``external_id`` and gets
        no customer session: the email alone proves nothing), else a new customer with
        the checkout's ``external_customer_id``. The billing details typed at checkout
        are stored on the customer."""
        customers = self.emu.customers
        customer = self.st.customers.get(checkout["customer_id"] or "")
        checkout["_customer_session"] = True
        if customer is None:
            customer = customers.by_email(checkout["customer_email"])
            if customer is not None:
                checkout["_customer_session"] = False
            elif checkout["external_customer_id"] and customers.by_external_id(
                checkout["external_customer_id"]
            ):
                raise APIError(
                    422,
                    {
                        "error": "CheckoutCustomerExternalIdMismatch",
                        "detail": "A customer with this external ID already exists "
                        "but with a different email address.",
                    },
                )
        if customer is None:
            customer = customers.insert(
                email=checkout["customer_email"],
                name=checkout["customer_billing_name"] or checkout["customer_name"],
                external_id=checkout["external_customer_id"],
                metadata=checkout["customer_metadata"],
                billing_address=checkout["customer_billing_address"],
                tax_id=checkout["customer_tax_id"],
                locale=checkout["locale"],
            )
            if checkout["customer_tax_id"] is not None:
                customer["tax_id"] = [
                    checkout["customer_tax_id"],
                    checkout["_customer_tax_id_format"],
                ]
            if checkout["customer_billing_name"]:
                customer["billing_name"] = checkout["customer_billing_name"]
            return customer
        before = dict(customer)
        name = checkout["customer_billing_name"] or checkout["customer_name"]
        if customer["name"] is None and name is not None:
            customer["name"] = name
        if checkout["customer_billing_name"] is not None:
            customer["billing_name"] = checkout["customer_billing_name"]
        if checkout["customer_billing_address"] is not None:
            customer["billing_address"] = checkout["customer_billing_address"]
        if checkout["customer_tax_id"] is not None:
            customer["tax_id"] = [checkout["customer_tax_id"], checkout["_customer_tax_id_format"]]
        if checkout["locale"] is not None:
            customer["locale"] = checkout["locale"]
        customer["metadata"] = {**customer["metadata"], **checkout["customer_metadata"]}
        if customer != before:
            customer["modified_at"] = iso(self.emu.clock.now())
            self.emu.emit("customer.updated", self.emu.ser.customer(customer["id"]))
        return customer

    # server-side update (PATCH /v1/checkouts/{id}) -----------------------------------
    def update(self, checkout: dict[str, Any], data: Any) -> dict[str, Any]:
        """``CheckoutUpdate``: what the buyer may change plus the merchant's own fields
        (checkout/service.py ``update``)."""
        self._check_open(checkout)
        body = Body(data)
        if body.has("discount_code"):
            raise invalid(
                ["body", "discount_code"], "Extra inputs are not permitted", "extra_forbidden"
            )
        if body.has("discount_id"):
            discount_id = body.uuid("discount_id")
            if discount_id is not None and discount_id not in self.st.discounts:
                raise invalid(["body", "discount_id"], "Discount does not exist.")
            checkout["discount_id"] = discount_id
        for field in ("metadata", "customer_metadata"):
            if body.has(field):
                checkout[field] = body.metadata(field, allow_float=field == "metadata") or {}
        for field in ("allow_discount_codes", "require_billing_address"):
            if body.get(field) is not None:
                checkout[field] = body.bool(field)
        for field in ("success_url", "return_url"):
            if body.has(field):
                checkout[field] = body.url(field)
        if body.has("customer_ip_address"):
            checkout["customer_ip_address"] = body.str("customer_ip_address")
        if body.has("embed_origin"):
            origin = body.str("embed_origin")
            if origin is not None and not ORIGIN_RE.match(origin):
                raise invalid(
                    ["body", "embed_origin"],
                    "Value error, embed_origin must be an origin like https://example.com.",
                )
            checkout["embed_origin"] = origin
        if body.has("trial_interval"):
            checkout["trial_interval"] = body.choice("trial_interval", INTERVALS)
        if body.has("trial_interval_count"):
            checkout["trial_interval_count"] = body.int("trial_interval_count", ge=1, le=1000)
        public = {k: v for k, v in body.data.items() if k in PUBLIC_UPDATE_FIELDS}
        return self.update_client(checkout, public)

    # checkout links ---------------------------------------------------------------
    def create_link(self, data: Any) -> dict[str, Any]:
        body = Body(data)
        payment_processor = body.choice("payment_processor", ("stripe",), required=True)
        if body.has("product_price_id"):
            _, price = self.emu.catalog.find_price(body.uuid("product_price_id", required=True))
            ids = [price["product_id"]]
        elif body.has("product_id"):
            ids = [body.uuid("product_id", required=True)]
        else:
            ids = body.uuids("products", required=True, min_items=1)
        self._products(ids)
        discount_id = body.uuid("discount_id")
        if discount_id is not None and discount_id not in self.st.discounts:
            raise invalid(["body", "discount_id"], "Discount does not exist.")
        secret = self.st.token("polar_cl_")
        link = {
            "id": self.st.new_id(),
            "created_at": iso(self.emu.clock.now()),
            "modified_at": None,
            "trial_interval": body.choice("trial_interval", INTERVALS),
            "trial_interval_count": body.int("trial_interval_count", ge=1, le=1000),
            "metadata": body.metadata() or {},
            "payment_processor": payment_processor,
            "client_secret": secret,
            "success_url": body.url("success_url"),
            "return_url": body.url("return_url"),
            "label": body.str("label"),
            "allow_discount_codes": body.bool("allow_discount_codes", True),
            "require_billing_address": body.bool("require_billing_address", False),
            "discount_id": discount_id,
            "seats": body.int("seats", ge=1, le=10000),
            "units": None,
            "organization_id": self.st.organization["id"],
            "url": f"{self.emu.base_url}/checkout-links/{secret}",
            "_product_ids": ids,
        }
        self.st.checkout_links[link["id"]] = link
        return link

    def get_link(self, link_id: str) -> dict[str, Any]:
        link = self.st.checkout_links.get(check_uuid(link_id, ["path", "id"]))
        if link is None or link.get("_deleted"):
            raise not_found("Checkout link not found")
        return link

    def update_link(self, link: dict[str, Any], data: Any) -> dict[str, Any]:
        """``CheckoutLinkUpdate`` (checkout_link/service.py ``update``): the products, if
        given, must exist and be live; other fields change when sent."""
        body = Body(data)
        if body.get("products") is not None:
            ids = body.uuids("products", min_items=1)
            self._products(ids)
            link["_product_ids"] = ids
        if body.has("discount_id"):
            discount_id = body.uuid("discount_id")
            if discount_id is not None and discount_id not in self.st.discounts:
                raise invalid(["body", "discount_id"], "Discount does not exist.")
            link["discount_id"] = discount_id
        if body.has("metadata"):
            link["metadata"] = body.metadata() or {}
        for field in ("success_url", "return_url"):
            if body.has(field):
                link[field] = body.url(field)
        if body.has("label"):
            link["label"] = body.str("label")
        for field in ("allow_discount_codes", "require_billing_address"):
            if body.get(field) is not None:
                link[field] = body.bool(field)
        if body.has("trial_interval"):
            link["trial_interval"] = body.choice("trial_interval", INTERVALS)
        if body.has("trial_interval_count"):
            link["trial_interval_count"] = body.int("trial_interval_count", ge=1, le=1000)
        if body.has("seats"):
            link["seats"] = body.int("seats", ge=1, le=10000)
        link["modified_at"] = iso(self.emu.clock.now())
        return link

    def delete_link(self, link: dict[str, Any]) -> None:
        """Soft delete: the link's URL stops opening checkouts."""
        link["_deleted"] = True
        link["modified_at"] = iso(self.emu.clock.now())

    def open_link(self, client_secret: str, *, embed_origin: str | None = None) -> dict[str, Any]:
        link = next(
            (
                k
                for k in self.st.checkout_links.values()
                if k["client_secret"] == client_secret and not k.get("_deleted")
            ),
            None,
        )
        if link is None:
            raise not_found("Checkout link not found")
        data: dict[str, Any] = {
            "products": link["_product_ids"],
            "metadata": link["metadata"],
            "allow_discount_codes": link["allow_discount_codes"],
        }
        for key in (
            "success_url",
            "return_url",
            "discount_id",
            "seats",
            "trial_interval",
            "trial_interval_count",
        ):
            if link[key] is not None:
                data[key] = link[key]
        if embed_origin is not None:
            data["embed_origin"] = embed_origin
        # checkout/service.py ``checkout_link_create``: a link's discount that is no
        # longer valid is ignored, the checkout opens without it.
        product = self.st.products[link["_product_ids"][0]]
        if link["discount_id"] is not None and not self.emu.discounts.usable(
            self.st.discounts.get(link["discount_id"]),
            product["id"],
            self.emu.catalog.default_price(product)["price_currency"],
        ):
            del data["discount_id"]
        return self.create(data, link=link)

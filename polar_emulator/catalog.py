"""Products, prices, benefits, meters and discounts: create, update, archive, seed."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from . import pricing
from .errors import Invalid, invalid, not_found
from .spec_tables import ZERO_DECIMAL, maximum_amount, minimum_amount, tables
from .store import iso
from .validation import Body, check_uuid

if TYPE_CHECKING:
    from .core import Emulator

INTERVALS = ("day", "week", "month", "year")
VISIBILITIES = ("draft", "private", "public")
BENEFIT_TYPES = (
    "custom",
    "discord",
    "github_repository",
    "downloadables",
    "license_keys",
    "meter_credit",
    "feature_flag",
)
UNIT_AMOUNT_RE = re.compile(r"^\d{0,12}(\.\d{0,12})?$")


# babel's en_US symbols for the currencies people use most; others print their code.
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$"}


def format_currency(amount: int, currency: str) -> str:
    """kit/currency.py ``format_currency`` (babel, en_US) for the error messages."""
    factor = 1 if currency in ZERO_DECIMAL else 100
    places = 0 if factor == 1 else 2
    number = f"{amount / factor:,.{places}f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{number}" if symbol else f"{currency.upper()}\xa0{number}"


def check_price_amount(currency: str, amount: int, loc: list[Any]) -> int:
    """product/schemas.py ``validate_price_amount(allow_zero=True)``: 0 (free) or at least
    the currency's minimum, and at most its maximum (the spec's per-currency tables)."""
    minimum = minimum_amount(currency)
    if amount < minimum and amount != 0:
        raise invalid(
            loc,
            f"Amount must be at least {format_currency(minimum, currency)} or 0 for free pricing",
            "minimum_price",
            amount,
        )
    maximum = maximum_amount(currency)
    if amount > maximum:
        raise invalid(
            loc,
            f"Amount must be at most {format_currency(maximum, currency)}",
            "maximum_price",
            amount,
        )
    return amount


def check_price_set(prices: list[dict[str, Any]], loc: list[Any]) -> None:
    """product/service.py price rules, per currency: at most one fixed, one seat-based and
    one custom price; a custom price stands alone; a meter once; one tax behavior."""
    errors = Invalid()
    by_currency: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for index, price in enumerate(prices):
        by_currency.setdefault(price["price_currency"], []).append((index, price))
    for group in by_currency.values():
        kinds = [p["amount_type"] for _, p in group]
        fixed, seats, custom = (
            kinds.count("fixed"),
            kinds.count("seat_based"),
            kinds.count("custom"),
        )
        if fixed > 1:
            errors.add(loc, "Only one fixed price is allowed.")
        if seats > 1:
            errors.add(loc, "Only one seat-based price is allowed.")
        if custom > 1:
            errors.add(loc, "Only one custom price is allowed.")
        if custom and (fixed or seats):
            errors.add(
                loc,
                "A custom price cannot be combined with a fixed, seat-based or unit-based price.",
            )
        meters: set[str] = set()
        for index, price in group:
            if price["amount_type"] == "metered_unit":
                if price["meter_id"] in meters:
                    errors.add(
                        [*loc, index, "meter_id"], "Meter is already used for another price."
                    )
                meters.add(price["meter_id"])
        if len({p["tax_behavior"] for _, p in group}) > 1:
            errors.add(loc, "All prices for the same currency must have the same tax behavior.")
    errors.raise_if_any()


class Catalog:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.st = emu.store

    # lookups ----------------------------------------------------------------------
    def get_product(self, product_id: str) -> dict[str, Any]:
        product = self.st.products.get(product_id)
        if product is None:
            raise not_found("Product not found")
        return product

    def find_price(self, price_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        for product in self.st.products.values():
            for price in product["prices"]:
                if price["id"] == price_id:
                    return product, price
        raise not_found("Price not found")

    def price_set(
        self, product: dict[str, Any], currency: str | None = None
    ) -> list[dict[str, Any]]:
        """price_set.py ``PriceSet.from_product``: the product's active prices (in Polar's
        order, ``pricing.ordered``) of one currency (default: the first price's)."""
        prices = pricing.ordered(product["prices"])
        if not prices:
            return []
        wanted = currency or prices[0]["price_currency"]
        return [p for p in prices if p["price_currency"] == wanted]

    def default_price(self, product: dict[str, Any]) -> dict[str, Any]:
        """price_set.py ``get_default_price``: the first static price of the set (for
        "fixed + per seat", the fixed one), else the first price."""
        prices = self.price_set(product)
        return (pricing.static(prices) or prices)[0]

    def get_benefit(self, benefit_id: str) -> dict[str, Any]:
        benefit = self.st.benefits.get(benefit_id)
        if benefit is None or benefit["is_deleted"]:
            raise not_found("Benefit not found")
        return benefit

    # prices -----------------------------------------------------------------------
    def parse_price(self, data: Any, loc: list[Any], product_id: str) -> dict[str, Any]:
        body = Body(data, tuple(loc))
        kind = body.choice(
            "amount_type", ("fixed", "custom", "seat_based", "metered_unit"), required=True
        )
        now = iso(self.emu.clock.now())
        price: dict[str, Any] = {
            "created_at": now,
            "modified_at": None,
            "id": self.st.new_id(),
            "source": "catalog",
            "amount_type": kind,
            "price_currency": body.choice("price_currency", tuple(tables()["currencies"]), "usd"),
            "tax_behavior": body.choice("tax_behavior", ("location", "inclusive", "exclusive")),
            "is_archived": False,
            "product_id": product_id,
        }
        currency = price["price_currency"]
        if kind == "fixed":
            price["price_amount"] = check_price_amount(
                currency, body.int("price_amount", required=True, ge=0), [*loc, "price_amount"]
            )
        elif kind == "custom":
            minimum = body.int("minimum_amount", 50, ge=0)
            maximum = body.int("maximum_amount", ge=1)
            preset = body.int("preset_amount", ge=0)
            for field, amount in (
                ("minimum_amount", minimum),
                ("maximum_amount", maximum),
                ("preset_amount", preset),
            ):
                # A field validator: it checks what was sent, not the default.
                if amount is not None and body.has(field):
                    check_price_amount(currency, amount, [*loc, field])
            if maximum is not None and maximum < minimum:
                raise invalid(
                    [*loc, "maximum_amount"],
                    "Value error, maximum_amount must be greater than or equal to minimum_amount",
                )
            if preset is not None and (
                preset < minimum or (maximum is not None and preset > maximum)
            ):
                raise invalid(
                    [*loc, "preset_amount"],
                    "Value error, preset_amount must be between minimum_amount and maximum_amount",
                )
            price.update(minimum_amount=minimum, maximum_amount=maximum, preset_amount=preset)
        elif kind == "seat_based":
            tiers_body = body.object("seat_tiers", required=True)
            raw = tiers_body.get("tiers", required=True)
            if not isinstance(raw, list) or not raw:
                raise invalid(
                    [*loc, "seat_tiers", "tiers"],
                    "List should have at least 1 item after validation, not 0",
                    "too_short",
                )
            tiers = []
            for i, tier in enumerate(raw):
                t = Body(tier, (*loc, "seat_tiers", "tiers", i))
                tiers.append(
                    {
                        "min_seats": t.int("min_seats", required=True, ge=1),
                        "max_seats": t.int("max_seats", ge=1),
                        "price_per_seat": t.int("price_per_seat", required=True, ge=0),
                    }
                )
            tiers.sort(key=lambda t: t["min_seats"])
            price["seat_tiers"] = {
                "seat_tier_type": tiers_body.choice(
                    "seat_tier_type", ("volume", "graduated"), "volume"
                ),
                "tiers": tiers,
                "minimum_seats": tiers[0]["min_seats"],
                "maximum_seats": tiers[-1]["max_seats"],
            }
        else:
            meter_id = body.uuid("meter_id", required=True)
            if meter_id not in self.st.meters:
                raise invalid([*loc, "meter_id"], "Meter does not exist.")
            unit_amount = body.get("unit_amount", required=True)
            try:
                amount = Decimal(str(unit_amount))
            except InvalidOperation:
                amount = Decimal(-1)
            if (
                isinstance(unit_amount, bool)
                or amount <= 0
                or not UNIT_AMOUNT_RE.match(format(amount, "f"))
            ):
                raise invalid(
                    [*loc, "unit_amount"], "Input should be greater than 0", "greater_than"
                )
            price.update(
                meter_id=meter_id,
                unit_amount=format(amount.normalize(), "f"),
                cap_amount=body.int("cap_amount", ge=0),
            )
        return price

    # products ---------------------------------------------------------------------
    def create_product(self, data: Any, *, benefit_ids: list[str] | None = None) -> dict[str, Any]:
        body = Body(data)
        name = body.str("name", required=True, nullable=False, min_length=3, max_length=64)
        interval = body.choice("recurring_interval", INTERVALS)
        product_id = self.st.new_id()
        raw_prices = body.get("prices", required=True)
        if not isinstance(raw_prices, list) or not raw_prices:
            raise invalid(
                ["body", "prices"],
                "List should have at least 1 item after validation, not 0",
                "too_short",
            )
        prices = [
            self.parse_price(p, ["body", "prices", i], product_id) for i, p in enumerate(raw_prices)
        ]
        check_price_set(prices, ["body", "prices"])
        if interval is None and any(p["amount_type"] == "metered_unit" for p in prices):
            raise invalid(
                ["body", "prices"], "Metered prices are only allowed on recurring products."
            )
        trial_interval = body.choice("trial_interval", INTERVALS)
        trial_count = body.int("trial_interval_count", ge=1, le=1000)
        if interval is None and trial_interval is not None:
            raise invalid(
                ["body", "trial_interval"], "Trials are only allowed on recurring products."
            )
        count = body.int("recurring_interval_count", 1 if interval else None, ge=1, le=999)
        metered = interval is not None and any(p["amount_type"] == "metered_unit" for p in prices)
        now = iso(self.emu.clock.now())
        product = {
            "id": product_id,
            "created_at": now,
            "modified_at": None,
            "trial_interval": trial_interval,
            "trial_interval_count": trial_count if trial_interval else None,
            "name": name,
            "description": body.str("description"),
            "visibility": body.choice("visibility", VISIBILITIES, "public"),
            "recurring_interval": interval,
            "recurring_interval_count": count if interval else None,
            "meter_interval": interval if metered else None,
            "meter_interval_count": count if metered else None,
            "is_recurring": interval is not None,
            "is_archived": False,
            "organization_id": self.st.organization["id"],
            "metadata": body.metadata() or {},
            "is_deletable": True,
            "prices": prices,
            "medias": [],
            "attached_custom_fields": self.emu.custom_fields.attach(body),
            "_benefit_ids": list(benefit_ids or []),
        }
        self.st.products[product_id] = product
        self.emu.emit("product.created", self.emu.ser.product(product_id))
        return product

    def update_product(self, product_id: str, data: Any) -> dict[str, Any]:
        product = self.get_product(product_id)
        body = Body(data)
        if body.has("name"):
            product["name"] = body.str("name", nullable=False, min_length=3, max_length=64)
        if body.has("description"):
            product["description"] = body.str("description")
        if body.get("attached_custom_fields") is not None:
            product["attached_custom_fields"] = self.emu.custom_fields.attach(body)
        if body.has("visibility"):
            product["visibility"] = body.choice("visibility", VISIBILITIES) or product["visibility"]
        if body.has("metadata"):
            product["metadata"] = body.metadata() or {}
        if body.has("is_archived") and body.bool("is_archived") is not None:
            product["is_archived"] = body.bool("is_archived")
        if body.has("trial_interval"):
            if not product["is_recurring"] and body.get("trial_interval") is not None:
                raise invalid(
                    ["body", "trial_interval"], "Trials are only allowed on recurring products."
                )
            product["trial_interval"] = body.choice("trial_interval", INTERVALS)
            product["trial_interval_count"] = (
                body.int("trial_interval_count", ge=1, le=1000)
                if product["trial_interval"]
                else None
            )
        if body.has("recurring_interval") and body.get("recurring_interval") is not None:
            if not product["is_recurring"]:
                raise invalid(
                    ["body", "recurring_interval"],
                    "Cannot change a one-time product into a recurring one.",
                )
            product["recurring_interval"] = body.choice("recurring_interval", INTERVALS)
        if body.get("prices") is not None:
            raw = body.get("prices")
            if not isinstance(raw, list) or not raw:
                raise invalid(
                    ["body", "prices"],
                    "List should have at least 1 item after validation, not 0",
                    "too_short",
                )
            keep: set[str] = set()
            new_prices = []
            for i, item in enumerate(raw):
                if isinstance(item, dict) and set(item) == {"id"}:
                    price_id = check_uuid(item["id"], ["body", "prices", i, "id"])
                    if not any(p["id"] == price_id for p in product["prices"]):
                        raise invalid(["body", "prices", i, "id"], "Price does not exist.")
                    keep.add(price_id)
                else:
                    new_prices.append(self.parse_price(item, ["body", "prices", i], product_id))
            kept = [p for p in product["prices"] if p["id"] in keep]
            check_price_set(kept + new_prices, ["body", "prices"])
            now = iso(self.emu.clock.now())
            for price in product["prices"]:
                if price["id"] not in keep and not price["is_archived"]:
                    price["is_archived"] = True
                    price["modified_at"] = now
            product["prices"].extend(new_prices)
        product["modified_at"] = iso(self.emu.clock.now())
        self.emu.emit("product.updated", self.emu.ser.product(product_id))
        return product

    def set_product_benefits(self, product_id: str, data: Any) -> dict[str, Any]:
        product = self.get_product(product_id)
        ids = Body(data).uuids("benefits", required=True) or []
        for i, benefit_id in enumerate(ids):
            if benefit_id not in self.st.benefits or self.st.benefits[benefit_id]["is_deleted"]:
                raise invalid(["body", "benefits", i], "Benefit does not exist.")
        before = list(product["_benefit_ids"])
        product["_benefit_ids"] = list(dict.fromkeys(ids))
        product["modified_at"] = iso(self.emu.clock.now())
        self.emu.emit("product.updated", self.emu.ser.product(product_id))
        self.emu.grants.product_benefits_changed(product, before)
        return product

    # benefits ---------------------------------------------------------------------
    def parse_benefit_properties(self, kind: str, data: Any, loc: list[Any]) -> dict[str, Any]:
        body = Body(data if data is not None else {}, tuple(loc))
        if kind == "custom":
            return {"note": body.str("note")}
        if kind == "feature_flag":
            return {}
        if kind == "license_keys":
            expires = body.object("expires")
            activations = body.object("activations")
            return {
                "prefix": body.str("prefix"),
                "expires": {
                    "ttl": expires.int("ttl", required=True, ge=1),
                    "timeframe": expires.choice(
                        "timeframe", ("year", "month", "day"), required=True
                    ),
                }
                if expires
                else None,
                "activations": {
                    "limit": activations.int("limit", required=True, ge=1, le=50),
                    "enable_customer_admin": activations.bool("enable_customer_admin", False),
                }
                if activations
                else None,
                "limit_usage": body.int("limit_usage", gt=0),
            }
        if kind == "downloadables":
            files = body.uuids("files") or []
            return {"archived": {}, "files": files}
        if kind == "meter_credit":
            meter_id = body.uuid("meter_id", required=True)
            if meter_id not in self.st.meters:
                raise invalid([*loc, "meter_id"], "Meter does not exist.")
            return {
                "units": body.int("units", required=True, ge=1),
                "rollover": body.bool("rollover", False),
                "meter_id": meter_id,
            }
        if kind == "discord":
            return {
                "guild_id": body.str("guild_id", required=True),
                "role_id": body.str("role_id", required=True),
                "kick_member": body.bool("kick_member", False),
            }
        return {  # github_repository
            "repository_owner": body.str("repository_owner", required=True),
            "repository_name": body.str("repository_name", required=True),
            "permission": body.choice(
                "permission", ("pull", "triage", "push", "maintain", "admin"), "pull"
            ),
        }

    def create_benefit(self, data: Any) -> dict[str, Any]:
        body = Body(data)
        kind = body.choice("type", BENEFIT_TYPES, required=True)
        description = body.str(
            "description", required=True, nullable=False, min_length=3, max_length=42
        )
        properties = self.parse_benefit_properties(
            kind, body.get("properties", required=True), ["body", "properties"]
        )
        now = iso(self.emu.clock.now())
        benefit = {
            "id": self.st.new_id(),
            "created_at": now,
            "modified_at": None,
            "type": kind,
            "description": description,
            "selectable": True,
            "deletable": True,
            "is_deleted": False,
            "organization_id": self.st.organization["id"],
            "metadata": body.metadata() or {},
            "visibility": body.choice("visibility", VISIBILITIES, "public") or "public",
            "properties": properties,
            "visibility_configurable": True,
        }
        self.st.benefits[benefit["id"]] = benefit
        self.emu.emit("benefit.created", self.emu.ser.benefit(benefit["id"]))
        return benefit

    def update_benefit(self, benefit_id: str, data: Any) -> dict[str, Any]:
        benefit = self.get_benefit(benefit_id)
        body = Body(data)
        if body.has("type") and body.get("type") != benefit["type"]:
            raise invalid(["body", "type"], f"Input should be '{benefit['type']}'", "literal_error")
        if body.has("description"):
            benefit["description"] = body.str(
                "description", nullable=False, min_length=3, max_length=42
            )
        if body.has("metadata"):
            benefit["metadata"] = body.metadata() or {}
        if body.get("properties") is not None:
            benefit["properties"] = self.parse_benefit_properties(
                benefit["type"], body.get("properties"), ["body", "properties"]
            )
        benefit["modified_at"] = iso(self.emu.clock.now())
        self.emu.emit("benefit.updated", self.emu.ser.benefit(benefit_id))
        self.emu.grants.benefit_updated(benefit)
        return benefit

    def delete_benefit(self, benefit_id: str) -> None:
        benefit = self.get_benefit(benefit_id)
        benefit["is_deleted"] = True
        benefit["modified_at"] = iso(self.emu.clock.now())
        for product in self.st.products.values():
            if benefit_id in product["_benefit_ids"]:
                product["_benefit_ids"].remove(benefit_id)
        self.emu.grants.revoke_benefit_everywhere(benefit_id)
        self.emu.emit("benefit.updated", self.emu.ser.benefit(benefit_id))

    # meters -----------------------------------------------------------------------
    def create_meter(self, data: Any) -> dict[str, Any]:
        body = Body(data)
        name = body.str("name", required=True, nullable=False, min_length=3)
        filt = self._filter(body.get("filter", required=True), ["body", "filter"])
        agg = Body(body.get("aggregation", required=True), ("body", "aggregation"))
        func = agg.choice("func", ("count", "sum", "max", "min", "avg", "unique"), required=True)
        aggregation: dict[str, Any] = {"func": func}
        if func != "count":
            aggregation["property"] = agg.str("property", required=True, nullable=False)
        now = iso(self.emu.clock.now())
        meter = {
            "metadata": body.metadata() or {},
            "created_at": now,
            "modified_at": None,
            "id": self.st.new_id(),
            "name": name,
            "unit": body.choice("unit", ("scalar", "token", "custom"), "scalar"),
            "custom_label": body.str("custom_label"),
            "custom_multiplier": body.int("custom_multiplier", gt=0),
            "filter": filt,
            "aggregation": aggregation,
            "organization_id": self.st.organization["id"],
            "archived_at": None,
        }
        self.st.meters[meter["id"]] = meter
        return meter

    def _filter(self, data: Any, loc: list[Any]) -> dict[str, Any]:
        body = Body(data, tuple(loc))
        conjunction = body.choice("conjunction", ("and", "or"), required=True)
        clauses = body.get("clauses", required=True)
        if not isinstance(clauses, list):
            raise invalid([*loc, "clauses"], "Input should be a valid list", "list_type")
        out = []
        for i, clause in enumerate(clauses):
            if isinstance(clause, dict) and "conjunction" in clause:
                out.append(self._filter(clause, [*loc, "clauses", i]))
                continue
            c = Body(clause, (*loc, "clauses", i))
            value = c.get("value", required=True)
            if not isinstance(value, str | int | bool):
                raise invalid(
                    [*loc, "clauses", i, "value"], "Input should be a valid string", "string_type"
                )
            out.append(
                {
                    "property": c.str("property", required=True, nullable=False),
                    "operator": c.choice(
                        "operator",
                        ("eq", "ne", "gt", "gte", "lt", "lte", "like", "not_like"),
                        required=True,
                    ),
                    "value": value,
                }
            )
        return {"conjunction": conjunction, "clauses": out}

    # discounts --------------------------------------------------------------------
    def create_discount(self, data: Any) -> dict[str, Any]:
        body = Body(data)
        kind = body.choice("type", ("fixed", "percentage"), required=True)
        name = body.str("name", required=True, nullable=False, min_length=1)
        duration = body.choice("duration", ("once", "forever", "repeating"), required=True)
        months = body.int("duration_in_months", ge=1, le=999)
        if duration == "repeating" and months is None:
            raise invalid(["body", "duration_in_months"], "Field required", "missing")
        code = body.str("code")
        if code is not None:
            if not re.match(r"^[a-zA-Z0-9]{3,256}$", code):
                raise invalid(["body", "code"], "Code must be 3 to 256 alphanumeric characters.")
            if any(
                (d.get("code") or "").lower() == code.lower() for d in self.st.discounts.values()
            ):
                raise invalid(["body", "code"], "Discount with this code already exists.")
        product_ids = body.uuids("products") or []
        for i, pid in enumerate(product_ids):
            if pid not in self.st.products:
                raise invalid(["body", "products", i], "Product does not exist.")
        now = iso(self.emu.clock.now())
        starts, ends = body.datetime("starts_at"), body.datetime("ends_at")
        discount: dict[str, Any] = {
            "duration": duration,
            "type": kind,
            "created_at": now,
            "modified_at": None,
            "id": self.st.new_id(),
            "metadata": body.metadata() or {},
            "name": name,
            "code": code,
            "starts_at": iso(starts),
            "ends_at": iso(ends),
            "max_redemptions": body.int("max_redemptions", ge=1),
            "max_redemptions_per_customer": body.int("max_redemptions_per_customer", ge=1),
            "redemptions_count": 0,
            "organization_id": self.st.organization["id"],
            "_product_ids": product_ids,
        }
        if duration == "repeating":
            discount["duration_in_months"] = months
        if kind == "fixed":
            amount = body.int("amount", ge=0, le=999999999999)
            currency = (body.str("currency", "usd") or "usd").lower()
            if amount is None:
                amounts = body.get("amounts")
                if not isinstance(amounts, dict) or not amounts:
                    raise invalid(["body", "amount"], "Field required", "missing")
                currency, amount = next(iter(amounts.items()))
            discount.update(amount=amount, currency=currency, amounts={currency: amount})
        else:
            discount["basis_points"] = body.int("basis_points", required=True, ge=1, le=10000)
        self.st.discounts[discount["id"]] = discount
        self.emu.emit("discount.created", self.emu.ser.discount(discount["id"]))
        return discount

    def get_discount(self, discount_id: str) -> dict[str, Any]:
        discount = self.st.discounts.get(discount_id)
        if discount is None:
            raise not_found("Discount not found")
        return discount

    def update_discount(self, discount_id: str, data: Any) -> dict[str, Any]:
        discount = self.get_discount(discount_id)
        body = Body(data)
        if body.has("name"):
            discount["name"] = body.str("name", nullable=False, min_length=1)
        if body.has("metadata"):
            discount["metadata"] = body.metadata() or {}
        if body.has("max_redemptions"):
            discount["max_redemptions"] = body.int("max_redemptions", ge=1)
        if body.has("ends_at"):
            discount["ends_at"] = iso(body.datetime("ends_at"))
        discount["modified_at"] = iso(self.emu.clock.now())
        self.emu.emit("discount.updated", self.emu.ser.discount(discount_id))
        return discount

    def delete_discount(self, discount_id: str) -> None:
        self.get_discount(discount_id)
        payload = self.emu.ser.discount(discount_id)
        del self.st.discounts[discount_id]
        self.emu.emit("discount.deleted", payload)

    def discount_amount(self, discount_id: str | None, amount: int) -> int:
        if not discount_id or discount_id not in self.st.discounts:
            return 0
        d = self.st.discounts[discount_id]
        if d["type"] == "fixed":
            return min(amount, d["amount"])
        return amount * d["basis_points"] // 10000

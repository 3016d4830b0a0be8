"""What a product's prices charge: the price set's order, its static prices, the upfront
amount, each price's amount and a discount split across prices.

A product may compose one fixed price with one seat-based price (billed ``fixed + seat
charge``), plus any number of metered prices (product/service.py). Polar prices every
static price of the set on its own and sums them (product/price_set.py
``calculate_upfront_amount``); a subscription keeps one amount per price
(models/subscription_product_price.py ``from_price``) and an order one item per price
(order/service.py ``_build_static_order_items``).
"""

from __future__ import annotations

from typing import Any

METERED = ("metered_unit", "metered_tiers")


def ordered(prices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """models/product.py ``Product.prices``: active prices ordered by ``case(fixed or
    custom -> 0, metered_unit -> 1)`` then ``created_at`` (PostgreSQL sorts the NULL of
    every other type, seat-based included, last)."""

    def rank(price: dict[str, Any]) -> int:
        kind = price["amount_type"]
        return 0 if kind in ("fixed", "custom") else 1 if kind == "metered_unit" else 2

    active = [p for p in prices if not p.get("is_archived")]
    return sorted(active, key=lambda p: (rank(p), p["created_at"]))


def static(prices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """price_set.py ``get_static_prices``: fixed, custom, free and seat-based prices."""
    return [p for p in prices if p["amount_type"] not in METERED]


def seat_price_of(prices: list[dict[str, Any]]) -> dict[str, Any] | None:
    """price_set.py ``get_seat_price``: the lone seat-based price of the set, if any."""
    return next((p for p in prices if p["amount_type"] == "seat_based"), None)


def fixed_price_of(prices: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((p for p in prices if p["amount_type"] == "fixed"), None)


def seat_amount(price: dict[str, Any], seats: int) -> int:
    """models/product_price.py ``ProductPriceSeatUnit.calculate_amount``: volume tiers
    charge every seat the rate of the tier the count falls in; graduated tiers charge
    each seat the rate of its own tier."""
    tiers = price["seat_tiers"]
    if tiers.get("seat_tier_type") == "graduated":
        total, counted = 0, 0
        for tier in tiers["tiers"]:
            upper = tier["max_seats"] or seats
            in_tier = max(0, min(seats, upper) - counted)
            total += in_tier * tier["price_per_seat"]
            counted += in_tier
        return total
    for tier in tiers["tiers"]:
        if tier["min_seats"] <= seats and (tier["max_seats"] is None or seats <= tier["max_seats"]):
            return seats * tier["price_per_seat"]
    return seats * tiers["tiers"][-1]["price_per_seat"]


def price_amount(price: dict[str, Any], *, seats: int | None, amount: int | None = None) -> int:
    """subscription_product_price.py / order_item.py ``from_price``: a fixed price its
    amount, a custom one the amount paid (else its preset, else its minimum), a seat-based
    one the charge for ``seats`` (else its minimum), anything else 0."""
    kind = price["amount_type"]
    if kind == "fixed":
        return int(price["price_amount"])
    if kind == "custom":
        if amount is not None:
            return amount
        preset = price.get("preset_amount")
        return int(preset if preset is not None else price["minimum_amount"])
    if kind == "seat_based":
        return seat_amount(price, seats or price["seat_tiers"]["minimum_seats"])
    return 0


def upfront_amount(
    prices: list[dict[str, Any]], *, seats: int | None, amount: int | None = None
) -> int:
    """price_set.py ``calculate_upfront_amount``: the sum over the static prices."""
    return sum(price_amount(p, seats=seats, amount=amount) for p in static(prices))


def allocate_discount(discount: dict[str, Any] | None, amounts: list[int]) -> list[int]:
    """models/discount.py ``allocate_discount_amounts``: a fixed discount is split across
    the amounts in proportion (the units lost when flooring go to the largest remainders,
    so the parts sum to the discount of the total); a percentage applies to each amount
    on its own (the emulator's rounding, as ``Catalog.discount_amount``)."""
    if discount is None:
        return [0] * len(amounts)
    if discount["type"] != "fixed":
        return [a * discount["basis_points"] // 10000 for a in amounts]
    total = sum(amounts)
    if total == 0:
        return [0] * len(amounts)
    off = min(discount["amount"], total)
    weighted = [off * a for a in amounts]
    shares = [w // total for w in weighted]
    for index in sorted(range(len(amounts)), key=lambda i: weighted[i] % total, reverse=True)[
        : off - sum(shares)
    ]:
        shares[index] += 1
    return shares
